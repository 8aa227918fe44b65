"""What a run leaves and takes, through the real pipeline (embedded broker, local Ray): shadow
learners, the predictions file, a model exported from its checkpoints and a run started from it."""

from __future__ import annotations

import itertools
import json

import pytest

import learners
from jobs.champion import ChampionSelector
from jobs.config import JobConfig
from jobs.model_export import export_model
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.run_views import summary_view
from jobs.telemetry import PipelineMetrics
from learners.model_file import save
from stream.kafka import ensure_topics
from stream.records import parse_prediction
from tests.helpers import read_topic

YEAST = list(itertools.islice(dataset_records("yeast"), 600))



def job_config(kafka_config, **overrides) -> JobConfig:
    return JobConfig(**({"kafka": kafka_config, "window": 100, "idle_timeout_s": 20.0, "batch_size": 100} | overrides))


# -- shadow learners ------------------------------------------------------------------------------------


def test_shadow_learners_are_validated():
    config = JobConfig(learners="br-nb", shadow="mlht, majority")
    assert config.shadow == ["mlht", "majority"]
    assert JobConfig.load(None, environ={"TAGSTREAM_SHADOW": "mlht"}).shadow == ["mlht"]
    with pytest.raises(ValueError, match="cannot be both a learner and a shadow"):
        JobConfig(learners="br-nb,mlht", shadow="mlht")
    with pytest.raises(ValueError, match="listed twice"):
        JobConfig(shadow="mlht,mlht")
    with pytest.raises(ValueError, match="unknown learner"):
        JobConfig(shadow="nope")


def test_the_selector_never_looks_at_a_learner_it_does_not_choose_among():
    selector = ChampionSelector(["a", "b"], metric="micro_f1", margin=0.0, min_window=1)
    windows = {"a": {"micro_f1": 0.5}, "b": {"micro_f1": 0.4}, "shadow": {"micro_f1": 0.99}}
    assert selector.observe(windows, scored=10) is None and selector.serving == "a"


@pytest.mark.integration
@pytest.mark.slow
def test_shadow_learners_are_scored_and_reported_but_never_served(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, YEAST)
    config = job_config(kafka_config, learners=["majority", "br-nb"], shadow=["mlht"], champion_min_window=50, champion_margin=0.0)
    metrics = PipelineMetrics(config.window)
    summary = run_pipeline(config, expected=len(YEAST), metrics=metrics)

    assert summary.shadow == ["mlht"]
    assert metrics.value("tagstream_serving_learner", learner="mlht") == 0
    assert metrics.value("tagstream_serving_learner", learner=summary.serving) == 1
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="publish") == summary.batches
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="consume") >= summary.batches
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="learn") == 3 * summary.batches  # one per learner actor
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="extract") is None  # numeric, not standardised
    assert set(summary.learners) == {"majority", "br-nb", "mlht"}
    assert summary.learners["mlht"]["learned"] == len(YEAST)
    # The shadow is the best of the three here, and still never serves.
    assert summary.learners["mlht"]["cumulative"]["micro_f1"] > summary.learners["br-nb"]["cumulative"]["micro_f1"]
    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, len(YEAST))]
    assert len(predictions) == len(YEAST) and {p.learner for p in predictions} <= {"majority", "br-nb"}
    assert all(switch["to"] != "mlht" for switch in summary.champion_switches)
    model_events = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.model_events)]
    assert all(event["learner"] != "mlht" for event in model_events if event["kind"] == "champion_switch")

    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_view(summary, console))
    assert "mlht (shadow)" in console.export_text()


# -- predictions file, export, init-model ---------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_keeps_its_predictions_and_a_model_the_next_run_starts_from(ray_local, kafka_config, unique_name, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, YEAST[:400])
    predictions_file = tmp_path / "out" / "predictions.jsonl"
    config = job_config(
        kafka_config, learners=["mlht"], checkpoint_dir=str(tmp_path / "ckpt"), predictions_file=predictions_file, dataset="yeast"
    )
    metrics = PipelineMetrics(config.window)
    summary = run_pipeline(config, expected=400, metrics=metrics)
    assert summary.predictions_out == 400
    assert metrics.value("tagstream_checkpoint_duration_seconds_count") == summary.checkpoints >= 1

    kept = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    on_topic = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 400)]
    assert kept == on_topic and [line["id"] for line in kept] == [record.id for record in YEAST[:400]]

    exported = export_model(str(tmp_path / "ckpt"))
    assert (exported.learner, exported.learned) == ("mlht", 400)
    save(exported, tmp_path / "model.pkl")
    model = learners.load(tmp_path / "model.pkl")
    first_new = YEAST[400]
    expected = {label for label, p in model.predict_proba_one(first_new.features).items() if p >= 0.5}

    # A second job, on topics and a group of its own, starts from the model.
    second = kafka_config.model_copy(
        update={"group_id": unique_name("group"), "topics": kafka_config.topics.model_copy(update={
            "records": unique_name("records"), "predictions": unique_name("predictions")})}
    )
    ensure_topics(second, partitions=1)
    produce(second, YEAST[400:500])
    started = run_pipeline(job_config(second, learners=["mlht"], init_model=tmp_path / "model.pkl", dataset="yeast"), expected=100)
    assert started.learners["mlht"]["learned"] == 500
    (first, *_) = [parse_prediction(m.value) for m in read_topic(second, second.topics.predictions, 100)]
    assert first.id == first_new.id and first.model_version == 400 and set(first.labels) == expected
