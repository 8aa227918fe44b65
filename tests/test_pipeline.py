"""The Ray pipeline: its stages as plain objects, then end to end on the real broker and a real local Ray."""

from __future__ import annotations

import gzip
import itertools
import json
import pathlib
import threading
import time
import urllib.request

import pytest

from jobs.champion import ChampionSelector
from jobs.checkpoint import CheckpointError
from jobs.config import ExtractorConfig, JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.progress import IDLE_PROGRESS_EVERY_S
from jobs.pipeline.steps import extract_features
from jobs.produce import dataset_records, produce
from jobs.stages.consumer import ConsumerStage
from jobs.stages.extractor import FeatureStage, extractor_gpus
from jobs.stages.labels import LabelUniverse
from jobs.stages.learner import LearnerStage, label_cluster_count
from jobs.stages.messages import Batch, Scored
from jobs.stages.publisher import PublisherStage
from jobs.telemetry import PipelineMetrics
from learners import registry
from learners.evaluate import Prequential
from learners.metrics import MetricSuite
from stream.kafka import KafkaConfig, RecordSink, RecordSource, ensure_topics
from stream.records import Record, parse_prediction

from helpers import read_topic

TEXT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets" / "text" / "goemotions.jsonl.gz"


# -- helpers ---------------------------------------------------------------------------------------


def committed(config: KafkaConfig, topic: str, partition: int = 0) -> int | None:
    source = RecordSource(config, partitions=[(topic, partition)])
    try:
        return source.committed(topic, partition)
    finally:
        source.close()


def labelled_stream(records):
    """The (x, y) stream the learners see: the record's features and its labels over the labels seen so far."""
    universe = LabelUniverse()
    return [(record.features, universe.target(record.labels)) for record in records]


def job_config(kafka_config: KafkaConfig, **overrides) -> JobConfig:
    return JobConfig(**({"kafka": kafka_config, "window": 500, "idle_timeout_s": 20.0} | overrides))


# -- stages without Ray ----------------------------------------------------------------------------


def _batch(*records: Record) -> Batch:
    return Batch(list(records), [time.time()] * len(records), time.time())


def test_learner_stage_predicts_before_it_learns_and_scores_only_labelled_records():
    stage = LearnerStage(["majority"], seed=1, window=10, model_size_every=1)
    scored, stats = stage.process(
        _batch(
            Record("r0", features={"x": 1.0}, labels=("a",)),
            Record("r1", features={"x": 1.0}, labels=("a", "b")),
            Record("r2", features={"x": 1.0}),  # predict only
            Record("r3", features={"x": 1.0}, labels=("a", "b")),
        )
    )
    outputs = scored.outputs["majority"]
    assert scored.ids == ["r0", "r1", "r2", "r3"]
    assert outputs[0] == ((), {}, 0)  # nothing learned yet when r0 is predicted
    assert outputs[1] == (("a",), {"a": 1.0}, 1)
    assert outputs[2][0] == ("a",) and outputs[2][2] == 2
    assert outputs[3][2] == 2  # r2 was not learned
    assert stats["majority"]["learned"] == 3
    assert stats["majority"]["model_bytes"] > 0
    summary = stage.summary()["majority"]
    assert summary["scored"] == 3
    assert summary["cumulative"]["subset_accuracy"] == pytest.approx(0.0)


def test_learner_stage_equals_the_in_process_evaluator():
    records = list(itertools.islice(dataset_records("yeast"), 300))
    stage = LearnerStage(["mlhat", "majority"], seed=3, window=100, model_size_every=10_000)
    for start in range(0, len(records), 37):  # odd batch sizes: batching must not matter
        stage.process(_batch(*records[start : start + 37]))
    expected = Prequential(
        {"mlhat": registry.make("mlhat", 3), "majority": registry.make("majority", 3)}, report_every=None, window=100
    ).run(labelled_stream(records))
    summary = stage.summary()
    for name in ("mlhat", "majority"):
        assert summary[name]["cumulative"] == expected[name].cumulative
        assert summary[name]["window"] == expected[name].window


def test_learner_stage_collects_drift_events():
    stage = LearnerStage(["br-ht"], seed=1, window=50, model_size_every=1000)
    ((model_name, model),) = stage._models.items()
    from learners.base import DriftEvent

    model._emit(DriftEvent(model_name, "local", "drift", 5, labels=("a",)))
    scored, stats = stage.process(_batch(Record("r0", features={"x": 1.0}, labels=("a",))))
    assert scored.events == [DriftEvent(model_name, "local", "drift", 5, labels=("a",)).to_dict()]
    assert stats["br-ht"]["events"] == {("local", "drift"): 1}
    assert stage.stats()["br-ht"]["events"] == {}  # reported once


def test_label_universe_grows_and_keeps_labels_off():
    universe = LabelUniverse()
    assert universe.target(["b", "a"]) == {"a": True, "b": True}
    assert universe.target([]) == {"a": False, "b": False}
    assert universe.target(["c"]) == {"a": False, "b": False, "c": True}


def test_label_cluster_count_reads_the_partition():
    ihomer = registry.make("ihomer", seed=1)
    for x, y in labelled_stream(itertools.islice(dataset_records("yeast"), 50)):
        ihomer.learn_one(x, y)
    assert label_cluster_count(ihomer) == len(ihomer.describe()["partition"]) >= 1
    assert label_cluster_count(registry.make("majority", seed=1)) is None


@pytest.mark.slow
def test_feature_stage_embeds_text_and_passes_numbers_through():
    stage = FeatureStage(ExtractorConfig(device="cpu"))
    numeric = Record("n", features={"x": 5.0}, labels=("a",))
    text = Record("t", text="the markets rallied today", labels=("b",))
    out = stage.transform(_batch(numeric, text))
    assert out.records[0] is numeric
    assert out.records[1].text is None and out.records[1].labels == ("b",)
    assert len(out.records[1].features) == 384
    assert sum(v * v for v in out.records[1].features.values()) == pytest.approx(1.0, abs=1e-5)


def test_feature_stage_standardizes_when_asked():
    stage = FeatureStage(ExtractorConfig(standardize=True))
    out = stage.transform(_batch(*(Record(f"r{i}", features={"x": float(v)}) for i, v in enumerate([1, 3, 5]))))
    assert [r.features["x"] for r in out.records] == [0.0, 2.0, 3.0]


@pytest.mark.parametrize(("device", "gpus", "expected"), [("auto", 1, 1), ("auto", 0, 0), ("cpu", 4, 0), ("cuda", 1, 1)])
def test_extractor_asks_for_a_gpu_only_when_it_can_use_one(device, gpus, expected):
    assert extractor_gpus(device, gpus) == expected


def test_forcing_cuda_on_a_cluster_without_gpu_is_an_error():
    with pytest.raises(ValueError, match="no GPU"):
        extractor_gpus("cuda", 0)


def test_publisher_sends_the_serving_learner_and_learner_events_to_model_events(kafka_config):
    ensure_topics(kafka_config)
    publisher = PublisherStage(kafka_config, serving="b")
    origin = time.time() - 0.5
    event = {"learner": "a", "level": "global", "kind": "drift", "instance": 3, "labels": [], "node": None, "detail": {}}
    ack = publisher.publish(
        Scored(["r0"], [origin], time.time(), {"a": [(("x",), {"x": 0.9}, 4)]}, [event]),
        Scored(["r0"], [origin], time.time(), {"b": [(("y",), {"y": 0.7, "x": 0.1}, 4)]}, []),
    )
    publisher.close()
    assert ack["predictions"] == 1 and ack["model_events"] == 1 and ack["drift"] == 0
    assert ack["latencies_s"][0] >= 0.5
    (message,) = read_topic(kafka_config, kafka_config.topics.predictions, 1)
    prediction = parse_prediction(message.value)
    assert (prediction.id, prediction.learner, prediction.labels, prediction.model_version) == ("r0", "b", ("y",), 4)
    (model_event,) = read_topic(kafka_config, kafka_config.topics.model_events, 1)
    assert json.loads(model_event.value)["kind"] == "drift"
    assert not read_topic(kafka_config, kafka_config.topics.drift, timeout_s=1)  # the drift topic: the monitor's alerts only


def test_a_restarted_publisher_serves_the_champion_it_had_chosen(kafka_config, tmp_path):
    ensure_topics(kafka_config)
    uri = str(tmp_path / "publisher")

    def publisher():
        return PublisherStage(kafka_config, "a", ChampionSelector(["a", "b"], margin=0.05, min_window=10), uri)

    def batch(learner, better, scored):
        window = {"micro_f1": 0.9 if better else 0.2}
        return Scored(["r"], [time.time()], time.time(), {learner: [((), {}, 0)]}, [], scored, {learner: window})

    first = publisher()
    first.restore(None)
    assert first.publish(batch("a", False, 10), batch("b", True, 10))["switch"]["to"] == "b"
    first.publish(batch("a", True, 4), batch("b", False, 4))  # 4 scored since the switch: no switch back yet
    first.checkpoint(epoch=1)
    first.close()
    restarted = publisher()
    restarted.restore(1)
    assert restarted.serving_learner() == "b"
    switch = restarted.publish(batch("a", True, 6), batch("b", False, 6))["switch"]  # 10 since the switch
    restarted.close()
    assert switch["to"] == "a" and switch["scored"] == 10
    # the switch event counts instances on from the checkpoint
    (_, back) = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.model_events, 2)]
    assert back["instance"] == 20
    with pytest.raises(CheckpointError, match="belongs to"):
        PublisherStage(kafka_config, "a", ChampionSelector(["a", "c"]), uri).restore(1)


def test_consumer_stage_dead_letters_and_commits_only_when_told(kafka_config):
    ensure_topics(kafka_config)
    with RecordSink(kafka_config) as sink:
        sink.send(kafka_config.topics.records, {"id": "a", "features": [1.0]}, key="a")
        sink.send(kafka_config.topics.records, b"not json", key="b")
        sink.send(kafka_config.topics.records, {"id": "c", "features": [2.0]}, key="c")
        sink.flush()
    stage = ConsumerStage(kafka_config, batch_size=10, poll_timeout_s=1.0)
    polled = []
    deadline = time.monotonic() + 30
    while sum(info.consumed for _, info in polled) < 3 and time.monotonic() < deadline:
        polled.append(stage.poll())
    batches = [batch for batch, info in polled if info.consumed]
    assert [r.id for batch in batches for r in batch.records] == ["a", "c"]
    assert sum((info.dead_letters.get("json", 0) for _, info in polled)) == 1
    assert committed(kafka_config, kafka_config.topics.records) is None  # nothing committed by polling
    stage.commit({(kafka_config.topics.records, 0): 3})
    stage.close()
    assert committed(kafka_config, kafka_config.topics.records) == 3
    (dead,) = read_topic(kafka_config, kafka_config.topics.deadletter, 1)
    assert dead.value == b"not json" and dict(dead.headers)["reason"] == b"json"


def test_metrics_endpoint_serves_the_dedicated_registry():
    import prometheus_client

    elsewhere = prometheus_client.Counter(f"global_only_{time.monotonic_ns()}", "On the global registry only.")
    metrics = PipelineMetrics(window=100)
    port = metrics.serve("127.0.0.1", 0)
    try:
        metrics.observe_consumed(5, {"json": 2})
        metrics.observe_published(3, [0.01, 0.02, 0.3])
        metrics.observe_lag({0: 12})
        metrics.observe_learner(
            "mlhat",
            {"window": {"subset_accuracy": 0.25, "example_f1": 0.5, "hamming_loss": 0.2}, "events": {("local", "drift"): 2},
             "model_bytes": 1234, "label_clusters": None},
        )
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        metrics.close()
    assert "tagstream_records_in_total 5.0" in text
    assert 'tagstream_dead_letters_total{reason="json"} 2.0' in text
    assert "tagstream_end_to_end_latency_seconds_count 3.0" in text
    assert 'tagstream_consumer_lag_records{partition="0"} 12.0' in text
    assert 'tagstream_learner_subset_accuracy{learner="mlhat"} 0.25' in text
    assert 'tagstream_drift_events_total{kind="drift",learner="mlhat",level="local"} 2.0' in text
    assert 'tagstream_model_bytes{learner="mlhat"} 1234.0' in text
    assert "tagstream_label_clusters{" not in text.replace("# HELP tagstream_label_clusters", "")
    assert elsewhere._name not in text  # not the global registry
    assert "process_resident_memory_bytes" in text  # the driver's process metrics are on ours


def test_drift_kinds_are_capped():
    metrics = PipelineMetrics()
    for i in range(50):
        metrics.observe_learner("a", {"window": {}, "events": {("local", f"kind{i}"): 1}})
    assert metrics.value("tagstream_drift_events_total", learner="a", level="local", kind="other") == 50 - 32


# -- end to end: real broker, real Ray ---------------------------------------------------------------



@pytest.mark.integration
@pytest.mark.slow
def test_yeast_end_to_end_matches_the_in_process_evaluator(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(dataset_records("yeast"))
    produced = produce(kafka_config, records)
    assert produced.records == 2417
    config = job_config(kafka_config, learners=["mlhat"], seed=7, batch_size=200)
    metrics = PipelineMetrics(config.window)
    port = metrics.serve("127.0.0.1", 0)
    try:
        summary = run_pipeline(config, expected=produced.records, metrics=metrics)
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        metrics.close()

    assert (summary.records_in, summary.records_good, summary.predictions_out) == (2417, 2417, 2417)
    assert summary.dead_letters == {}
    assert committed(kafka_config, kafka_config.topics.records) == 2417

    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 2417)]
    by_id = {p.id: p for p in predictions}
    assert len(predictions) == len(by_id) == 2417
    assert set(by_id) == {r.id for r in records}
    assert {p.learner for p in predictions} == {"mlhat"}

    # Prequential scores from the topic, in stream order, against the same learner run in process.
    from_topic = MetricSuite(window=config.window)
    for record, (_, y) in zip(records, labelled_stream(records)):
        p = by_id[record.id]
        from_topic.update(y, {label: label in p.labels for label in p.scores})
    expected = Prequential({"mlhat": registry.make("mlhat", 7)}, report_every=None, window=config.window).run(
        labelled_stream(records)
    )["mlhat"]
    assert from_topic.get() == expected.cumulative
    assert summary.learners["mlhat"]["cumulative"] == expected.cumulative
    assert summary.learners["mlhat"]["window"] == expected.window
    assert [p.model_version for p in (by_id[r.id] for r in records)] == list(range(2417))

    drift_alerts = sum(summary.drift_events["mlhat"].values())
    assert drift_alerts == len(expected.events)
    # The learners' own events go to the model-events topic; the drift topic has the monitor's alerts
    # (they have an event_id; see tests/test_drift_pipeline.py).
    learner_events = read_topic(kafka_config, kafka_config.topics.model_events, timeout_s=10)
    assert len(learner_events) == drift_alerts
    assert all(b'"event_id"' in m.value for m in read_topic(kafka_config, kafka_config.topics.drift, timeout_s=2))
    assert "tagstream_records_in_total 2417.0" in scraped
    assert "tagstream_predictions_out_total 2417.0" in scraped
    assert "tagstream_end_to_end_latency_seconds_count 2417.0" in scraped
    assert 'tagstream_learner_subset_accuracy{learner="mlhat"}' in scraped
    assert 'tagstream_model_bytes{learner="mlhat"}' in scraped


@pytest.mark.integration
@pytest.mark.slow
def test_raw_text_flows_through_the_torch_extractor(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    with gzip.open(TEXT_DATA, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in itertools.islice(lines, 200)]
    records = [Record(id=row["id"], text=row["text"], labels=tuple(row["labels"])) for row in rows]
    produce(kafka_config, records)
    config = job_config(kafka_config, learners=["br-nb", "majority"], batch_size=64, extractor={"device": "cpu"})
    summary = run_pipeline(config, expected=200)

    assert (summary.records_in, summary.predictions_out) == (200, 200)
    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 200)]
    assert sorted(p.id for p in predictions) == sorted(row["id"] for row in rows)
    assert {p.learner for p in predictions} == {"br-nb"}  # the first learner serves
    assert summary.learners["br-nb"]["learned"] == summary.learners["majority"]["learned"] == 200
    # Naive Bayes on the embeddings beats the majority label set on exact matches.
    assert summary.learners["br-nb"]["cumulative"]["example_f1"] > 0.0
    assert any(p.labels for p in predictions)


BAD_MESSAGES = [
    ("tombstone", b"t1", None),
    ("encoding", b"e1", b'{"id": "e1", "text": "caf\xe9"}'),
    ("json", b"j1", b'{"id": "j1", "features": [1,'),
    ("non_finite", b"n1", b'{"id": "n1", "features": {"a": NaN}}'),
    ("not_object", b"o1", b'[1, 2, 3]'),
    ("unknown_field", b"u1", b'{"id": "u1", "features": [1], "colour": "red"}'),
    ("id", None, b'{"features": [1, 2]}'),
    ("key_mismatch", b"other", b'{"id": "k1", "features": [1]}'),
    ("payload", b"p1", b'{"id": "p1", "features": [1], "text": "both"}'),
    ("features", b"f1", b'{"id": "f1", "features": {"a": "high"}}'),
    ("text", b"x1", b'{"id": "x1", "text": "   "}'),
    ("labels", b"l1", b'{"id": "l1", "features": [1], "labels": ["a", "a"]}'),
    ("ts", b"s1", b'{"id": "s1", "features": [1], "ts": "yesterday"}'),
]


@pytest.mark.integration
@pytest.mark.slow
def test_malformed_records_go_to_dead_letters_and_good_ones_are_predicted(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    good = list(itertools.islice(dataset_records("emotions"), 3 * len(BAD_MESSAGES)))
    with RecordSink(kafka_config) as sink:
        for i, (_, key, value) in enumerate(BAD_MESSAGES):
            for record in good[3 * i : 3 * i + 3]:
                sink.send(kafka_config.topics.records, record.to_json(), key=record.key)
            sink.send(kafka_config.topics.records, value, key=key)
        sink.flush()
    total = len(good) + len(BAD_MESSAGES)
    config = job_config(kafka_config, learners=["majority"], batch_size=10)
    summary = run_pipeline(config, expected=total)

    assert summary.records_in == total
    assert summary.dead_letters == {reason: 1 for reason, _, _ in BAD_MESSAGES}
    predictions = read_topic(kafka_config, kafka_config.topics.predictions, len(good))
    assert sorted(parse_prediction(m.value).id for m in predictions) == sorted(r.id for r in good)
    dead = read_topic(kafka_config, kafka_config.topics.deadletter, len(BAD_MESSAGES))
    assert len(dead) == len(BAD_MESSAGES)
    for message, (reason, key, value) in zip(dead, BAD_MESSAGES):
        headers = dict(message.headers)
        assert headers["reason"] == reason.encode()
        assert (message.key, message.value) == (key, value)
        assert headers["source.topic"] == kafka_config.topics.records.encode()
    assert committed(kafka_config, kafka_config.topics.records) == total


@pytest.mark.integration
def test_follow_run_stops_gracefully_when_asked(ray_local, kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("flags"), 100))
    produce(kafka_config, records)
    config = job_config(kafka_config, learners=["majority"], follow=True, batch_size=20, state_dir=str(tmp_path))
    stop = threading.Event()
    seen = []

    def on_progress(summary, window):
        seen.append(summary.predictions_out)
        if summary.predictions_out >= 100:
            stop.set()

    summary = run_pipeline(config, stop=stop, on_progress=on_progress)
    assert summary.predictions_out == 100
    assert seen == sorted(seen)
    assert committed(kafka_config, kafka_config.topics.records) == 100
    # A follow run checkpoints by default, under the state folder.
    assert summary.checkpoints >= 1
    assert list((tmp_path / kafka_config.group_id / "learner-0").glob("ckpt-*.bin"))


@pytest.mark.integration
def test_an_idle_follow_run_still_reports_progress(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    config = job_config(kafka_config, learners=["majority"], follow=True, state_dir="")
    stop = threading.Event()
    reports = []

    def on_progress(summary, window):
        reports.append(summary.seconds)
        if len(reports) == 3:
            stop.set()

    summary = run_pipeline(config, stop=stop, on_progress=on_progress)
    assert summary.records_in == 0 and len(reports) == 3
    assert reports == sorted(reports) and reports[1] - reports[0] >= IDLE_PROGRESS_EVERY_S


@pytest.mark.integration
@pytest.mark.slow
def test_run_command_on_the_embedded_default(ray_local, tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(
        app, ["run", "--learner", "majority", "--limit", "300", "--metrics-port", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "embedded broker on" in result.output
    assert "replayed 300 records of yeast" in result.output
    assert "/metrics" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["records_in"], summary["predictions_out"]) == (300, 300)
    assert summary["learners"]["majority"]["learned"] == 300


def test_run_command_rejects_an_unknown_learner():
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(app, ["run", "--learner", "nope"])
    assert result.exit_code == 2
    assert "unknown learner 'nope'" in result.output


def test_numeric_batches_skip_the_extractor_unless_standardizing():
    from jobs.stages.messages import PollInfo

    numeric = PollInfo(3, 3, {}, {("t", 0): 3}, 1, texts=0)
    assert extract_features(None, "batch-ref", numeric, JobConfig()) == "batch-ref"
    with pytest.raises(AttributeError):  # it does call the extractor (None here) when there is work
        extract_features(None, "batch-ref", numeric, JobConfig(extractor={"standardize": True}))


@pytest.mark.integration
@pytest.mark.slow
def test_two_consumers_share_the_partitions_and_predict_each_record_once(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=2)
    records = list(itertools.islice(dataset_records("emotions"), 300))
    produce(kafka_config, records)  # keyed by id: the records spread over both partitions
    config = job_config(kafka_config, learners=["majority"], consumers=2, batch_size=50)
    summary = run_pipeline(config, expected=300)
    assert summary.predictions_out == 300
    predictions = [parse_prediction(m.value).id for m in read_topic(kafka_config, kafka_config.topics.predictions, 300)]
    assert sorted(predictions) == sorted(r.id for r in records)
    ends = [committed(kafka_config, kafka_config.topics.records, partition) for partition in (0, 1)]
    assert sum(ends) == 300 and min(ends) > 0


@pytest.mark.integration
def test_unreachable_broker_fails_the_run_with_the_cause(ray_local):
    import ray

    config = JobConfig(kafka={"bootstrap_servers": "127.0.0.1:1", "connect_timeout_s": 1.0}, learners=["majority"])
    with pytest.raises(ray.exceptions.RayError, match="no broker reachable at 127.0.0.1:1"):
        run_pipeline(config)
