"""Extractors and sinks chosen by name: the registries, the start-up check, and a run through the
real broker and Ray with the ``hashing`` extractor and a sink that this file defines and registers
(as a third-party module would: one class, one ``register``)."""

from __future__ import annotations

import json
import sys
import time

import pytest
import ray.cloudpickle

from typer.testing import CliRunner

from jobs import cli_run, extractors, sinks
from jobs.cli import app
from jobs.config import ConfigError, ExtractorConfig, JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import jsonl_records, produce
from jobs.stages.extractor import FeatureStage
from jobs.stages.messages import Batch, Scored
from jobs.stages.publisher import PublisherStage
from jobs.startup import check_stages
from stream.kafka import ensure_topics
from stream.records import Record
from tests.helpers import read_topic


@sinks.register("test-collect", "Appends each batch's prediction ids and alert ids to CollectingSink.path")
class CollectingSink:
    """What a third-party sink is: a class taking the sink context, registered under a name."""

    path = None  # set by a test; the class travels to the publisher actor by value with it

    def __init__(self, context: sinks.SinkContext):
        self._file = open(self.path, "a", encoding="utf-8")
        self._pending: list[str] = []

    def write(self, batch: sinks.Published) -> None:
        self._pending.append(json.dumps({"ids": [p["id"] for p in batch.predictions], "events": len(batch.model_events)}))

    def flush(self) -> None:
        self._file.write("".join(line + "\n" for line in self._pending))
        self._file.flush()
        self._pending = []

    def close(self) -> None:
        self._file.close()


# The publisher actor unpickles the resolved sink entries; this module is not importable there.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


# -- registries ------------------------------------------------------------------------------------


def test_the_sink_registry_resolves_names_in_order_and_names_the_choices_of_an_unknown_one():
    assert [entry.name for entry in sinks.resolve(["test-collect", "topics"])] == ["test-collect", "topics"]
    assert sinks.SINKS["test-collect"].build is CollectingSink
    with pytest.raises(sinks.UnknownSinkError, match=r"unknown sink 'kafkaa'; choose from: .*topics.*predictions-file"):
        sinks.resolve(["topics", "kafkaa"])
    with pytest.raises(ValueError, match="registered already"):
        sinks.register("topics", "another")(type("OtherTopics", (), {}))


def test_a_job_writes_the_topics_first_then_the_configured_sinks_each_once(tmp_path):
    def names(**settings):
        return [entry.name for entry in sinks.job_sinks(JobConfig(**settings))]

    assert names() == ["topics"]
    assert names(predictions_file=tmp_path / "p.jsonl", sinks=["test-collect", "topics"]) == ["topics", "predictions-file", "test-collect"]
    assert names(drift={"alertmanager_url": "http://127.0.0.1:9"}, sinks="test-collect,test-collect") == ["topics", "alertmanager", "test-collect"]


def test_the_extractor_registry_builds_by_name_and_names_the_choices_of_an_unknown_one():
    assert {"minilm", "hashing"} <= set(extractors.EXTRACTORS)
    assert ExtractorConfig().text_extractor == "minilm"
    hashed = extractors.make("hashing", ExtractorConfig()).transform(["Tagged streams", "tagged STREAMS!"])
    assert hashed[0] == hashed[1] and len(hashed[0]) == 2
    with pytest.raises(extractors.UnknownExtractorError, match=r"unknown text extractor 'bert'; choose from: .*minilm.*hashing"):
        extractors.make("bert", ExtractorConfig())


def test_the_extractor_stage_uses_the_extractor_it_is_configured_with():
    records = [Record(id="t", text="a few words"), Record(id="n", features={"x": 1.0})]
    stage = FeatureStage(ExtractorConfig(text_extractor="hashing"))
    stage.restore(None)
    out = stage.transform(Batch(records, [time.time()] * 2, time.time()))
    assert out.records[0].text is None and out.records[0].features == extractors.make("hashing", None).transform(["a few words"])[0]
    assert out.records[1].features == {"x": 1.0}


def test_unknown_names_and_missing_sink_settings_are_refused_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="unknown text extractor 'nope'; choose from: "):
        check_stages(JobConfig(extractor={"text_extractor": "nope"}))
    with pytest.raises(ConfigError, match="unknown sink 'nope'; choose from: "):
        check_stages(JobConfig(sinks="nope"))
    with pytest.raises(ConfigError, match="predictions-file sink needs predictions_file"):
        check_stages(JobConfig(sinks="predictions-file"))
    check_stages(JobConfig(sinks="predictions-file", predictions_file=tmp_path / "p.jsonl"))


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["--sinks", "kafka2"], {}, "unknown sink 'kafka2'; choose from: topics, predictions-file, alertmanager"),
        ([], {"TAGSTREAM_SINKS": "kafka2"}, "unknown sink 'kafka2'; choose from: topics, predictions-file, alertmanager"),
        (["--text-extractor", "bert"], {}, "unknown text extractor 'bert'; choose from: minilm, hashing"),
    ],
)
def test_tagstream_run_refuses_an_unknown_name_before_the_broker_starts(monkeypatch, args, env, complaint):
    def no_broker(*args, **kwargs):
        raise AssertionError("the embedded broker was started before the start-up checks failed")

    monkeypatch.setattr(cli_run, "EmbeddedBroker", no_broker)
    result = CliRunner().invoke(app, ["run", "--learner", "majority", "--limit", "10", *args], env=env | {"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"error: {complaint}" in " ".join(result.output.split())


# -- through the publisher, the broker and Ray ------------------------------------------------------


def test_the_publisher_writes_and_flushes_a_registered_sink_beside_the_topics(kafka_config, tmp_path):
    ensure_topics(kafka_config)
    CollectingSink.path = tmp_path / "collected.jsonl"
    publisher = PublisherStage(kafka_config, "a", sinks=sinks.resolve(["topics", "test-collect"]))
    event = {"learner": "a", "level": "global", "kind": "drift", "instance": 3, "labels": [], "node": None, "detail": {}}
    publisher.publish(Scored(["r0", "r1"], [time.time()] * 2, time.time(), {"a": [(("x",), {"x": 0.9}, 1)] * 2}, [event]))
    publisher.close()
    assert [json.loads(line) for line in CollectingSink.path.read_text().splitlines()] == [{"ids": ["r0", "r1"], "events": 1}]
    assert len(read_topic(kafka_config, kafka_config.topics.predictions, 2)) == 2


@pytest.mark.integration
def test_a_run_embeds_text_with_the_named_extractor_and_writes_the_named_sink(ray_local, kafka_config, tmp_path):
    texts = ["red apples and green pears", "fast trains and slow boats", "green pears in the garden"]
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": texts[i % 3], "labels": [f"l{i % 3}"]}) + "\n" for i in range(60)))
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, jsonl_records(path))
    CollectingSink.path = tmp_path / "collected.jsonl"
    config = JobConfig(
        kafka=kafka_config, learners=["logistic"], extractor={"text_extractor": "hashing", "num_cpus": 1},
        sinks=["test-collect"], batch_size=20, window=20, idle_timeout_s=20.0,
    )
    summary = run_pipeline(config, expected=60)
    assert summary.records_in == 60
    collected = [record_id for line in CollectingSink.path.read_text().splitlines() for record_id in json.loads(line)["ids"]]
    assert sorted(collected) == sorted(f"t{i}" for i in range(60))
    predictions = read_topic(kafka_config, kafka_config.topics.predictions, 60)
    assert {json.loads(message.value)["id"] for message in predictions} == set(collected)
