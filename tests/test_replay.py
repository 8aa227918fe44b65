"""Replay: reprocess a range of the input topic with fresh learners into a separate output topic."""

from __future__ import annotations

import datetime
import itertools
import time

import pytest

from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from stream.kafka import KafkaConfig, ensure_topics
from stream.records import parse_prediction

from helpers import read_topic

LEARNER = "mlhat"



def replay(kafka_config: KafkaConfig, tag: str, **start) -> list:
    config = JobConfig(
        kafka=kafka_config,
        learners=[LEARNER],
        seed=4,
        batch_size=64,
        idle_timeout_s=4.0,
        replay_topic=f"{kafka_config.topics.predictions}.{tag}",
        **start,
    )
    config = config.for_replay(tag)
    ensure_topics(config.kafka, [config.kafka.topics.predictions, config.kafka.topics.drift, config.kafka.topics.model_events])
    run_pipeline(config)
    return [parse_prediction(message.value) for message in read_topic(config.kafka, config.kafka.topics.predictions)]


@pytest.mark.integration
@pytest.mark.slow
def test_replays_from_an_offset_and_from_a_time_are_deterministic(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("yeast"), 300))
    produce(kafka_config, records[:200])
    time.sleep(1.5)  # Kafka timestamps have millisecond resolution: a clear gap before the second part
    middle = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.5)
    produce(kafka_config, records[200:])

    first = replay(kafka_config, "a", from_offset=100)
    again = replay(kafka_config, "b", from_offset=100)
    assert [p.id for p in first] == [r.id for r in records[100:]]
    assert [(p.id, p.labels, p.scores, p.model_version) for p in first] == [
        (p.id, p.labels, p.scores, p.model_version) for p in again
    ]
    # Fresh learners from offset 100 on: exactly what the same learner predicts in process on that range.
    expected, _ = LearnerStage([LEARNER], seed=4, window=1000, model_size_every=10**6).process(
        Batch(records[100:], [0.0] * 200, 0.0)
    )
    assert [(p.labels, p.scores) for p in first] == [(labels, scores) for labels, scores, _ in expected.outputs[LEARNER]]

    from_time = replay(kafka_config, "c", from_time=middle)
    assert [p.id for p in from_time] == [r.id for r in records[200:]]


def test_a_replay_takes_one_start_and_its_topic_needs_one():
    with pytest.raises(ValueError, match="not both"):
        JobConfig(from_offset=1, from_time=datetime.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="replay_topic needs"):
        JobConfig(replay_topic="x")
    config = JobConfig(from_offset=0, replay_topic="what-if").for_replay("t1")
    assert config.kafka.topics.predictions == "what-if" and config.kafka.topics.drift == "what-if.drift"
    assert config.kafka.topics.model_events == "what-if.model-events"
    assert config.kafka.group_id.endswith(".replay-t1") and config.checkpoint_dir is None


def test_run_refuses_two_replay_starts():
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(app, ["run", "--from-offset", "5", "--from-time", "2026-11-26T10:00:00"])
    assert result.exit_code == 2
    assert "not both" in result.output
