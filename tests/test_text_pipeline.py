"""Text through the streaming job: default learner by input kind, the extractor's CPU allotment,
and GoEmotions end to end on the real broker and a local Ray."""

from __future__ import annotations

import time

import pytest
import torch

from jobs.config import TEXT_LEARNERS, ExtractorConfig, JobConfig
from jobs.features import extractor_cpus
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.extractor import FeatureStage
from jobs.stages.messages import Batch
from stream.datasets import DATASETS, data_dir
from stream.kafka import ensure_topics
from stream.records import Record, parse_prediction

from helpers import read_topic


def test_default_learner_follows_the_input_kind(tmp_path):
    assert JobConfig(dataset="goemotions").learners == list(TEXT_LEARNERS)
    assert JobConfig(dataset=str(tmp_path / "posts.jsonl.gz")).learners == list(TEXT_LEARNERS)
    assert JobConfig(dataset="yeast").learners == ["mlhat"]
    assert JobConfig().learners == ["mlhat"]
    assert JobConfig(dataset="goemotions", learners="mlhat,majority").learners == ["mlhat", "majority"]


def test_extractor_cpus_are_capped_by_the_cluster():
    assert ExtractorConfig().num_cpus == 2
    assert extractor_cpus(8, cluster_cpus=2) == 2
    assert extractor_cpus(1, cluster_cpus=16) == 1


def test_the_feature_stage_embeds_with_as_many_torch_threads_as_its_cpus():
    before = torch.get_num_threads()
    try:
        stage = FeatureStage(ExtractorConfig(device="cpu", num_cpus=1))
        batch = Batch([Record("t", text="the markets rallied", labels=("b",))], [time.time()], time.time())
        out = stage.transform(batch)
        assert len(out.records[0].features) == 384
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)



@pytest.mark.integration
@pytest.mark.slow
def test_goemotions_runs_through_the_pipeline_with_the_text_default(ray_local, kafka_config):
    if not (data_dir() / DATASETS["goemotions"].file).is_file():
        pytest.skip("the shared GoEmotions file is not here")
    ensure_topics(kafka_config, partitions=1)
    records = list(dataset_records("goemotions"))[:300]
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config, dataset="goemotions", window=200, idle_timeout_s=20.0,
        champion_min_window=50, champion_margin=0.0, extractor={"device": "cpu"},
    )  # fmt: skip
    config = config.model_copy(update={"learners": [*config.learners, "majority"], "dataset": None})
    summary = run_pipeline(config, expected=300)

    assert (summary.records_in, summary.predictions_out) == (300, 300)
    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 300)]
    assert sorted(p.id for p in predictions) == sorted(r.id for r in records)
    # The floor learner is scored but never serves, whatever its window says.
    assert {p.learner for p in predictions} == {"logistic"}
    assert summary.learners["logistic"]["learned"] == 300
    assert sum(bool(p.labels) for p in predictions) >= 290  # every GoEmotions text has a label


@pytest.mark.integration
def test_produce_maps_the_fields_of_a_text_file(kafka_config, tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from jobs import cli_stream

    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps({"body": f"post number {i}", "tags": ["t"]}) + "\n" for i in range(3)))
    app = typer.Typer()
    cli_stream.register(app)
    result = CliRunner().invoke(app, [
        "produce", "--dataset", str(path), "--text-field", "body", "--labels-field", "tags",
        "-b", kafka_config.bootstrap_servers, "--topic", kafka_config.topics.records,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    values = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.records, 3)]
    assert values == [{"id": f"posts-{i}", "text": f"post number {i}", "labels": ["t"]} for i in range(3)]
