"""Parallel ingestion: consumers polled concurrently, several partitions, exactly-once learning.

The driver keeps one poll in flight per consumer and takes whichever answers first
(:class:`jobs.pipeline.polls.ConsumerPolls`); a 3-partition topic read by two consumers, with the
learner actor killed mid-stream, still has every record learned exactly once and predicted.
"""

from __future__ import annotations

import itertools
import time

import pytest

from jobs.config import JobConfig
from jobs.outage import BrokerWatch
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.lifecycle import actor_name
from jobs.pipeline.polls import ConsumerPolls
from jobs.pipeline.waits import PipelineTimeout
from jobs.produce import dataset_records, produce
from jobs.stages.messages import PollInfo
from stream.kafka import KafkaConfig, ensure_topics
from stream.records import parse_prediction

from helpers import read_topic

RECORDS = 1500


class ScriptedConsumer:
    """A consumer actor stand-in: each poll takes ``delay_s`` and returns ``(name, poll number)`` as its batch."""

    def __init__(self, name: str, delay_s: float):
        self.name = name
        self.delay_s = delay_s
        self.polls = 0

    def poll(self, isolate=None):
        time.sleep(self.delay_s)
        self.polls += 1
        return (self.name, self.polls, isolate), PollInfo(1, 1, {}, {(self.name, 0): self.polls}, 1)


def _polls(consumers: list, timeout_s: float = 30.0) -> ConsumerPolls:
    return ConsumerPolls(consumers, timeout_s, BrokerWatch(KafkaConfig(), probe=lambda: True))  # the broker answers


@pytest.mark.integration
def test_the_first_consumer_to_answer_is_taken_and_each_has_one_poll_in_flight(ray_with_test_learners):
    ray_local = ray_with_test_learners  # its workers import this folder's modules (ScriptedConsumer)
    actor = ray_local.remote(ScriptedConsumer)
    slow, fast = actor.remote("slow", 1.5), actor.remote("fast", 0.0)
    ray_local.get([slow.__ray_ready__.remote(), fast.__ray_ready__.remote()])  # both started before the first poll
    polls = _polls([slow, fast])
    taken = []
    while not any(ray_local.get(batch)[0] == "slow" for _, batch, _ in taken[-1:]):
        taken.append(polls.next())
    names = [ray_local.get(batch)[0] for _, batch, _ in taken]
    # The fast consumer answered many times while the slow one's first poll was still running;
    # polled one after another, they would alternate.
    assert names.count("fast") >= 3 and names[-1] == "slow"
    # Each consumer's polls come in the order it answered them, none skipped, none twice.
    fast_polls = [ray_local.get(batch)[1] for _, batch, _ in taken if ray_local.get(batch)[0] == "fast"]
    assert fast_polls == list(range(1, len(fast_polls) + 1))
    assert ray_local.get(slow.__ray_call__.remote(lambda self: self.polls)) == 1  # one poll in flight, not a queue
    consumer, batch, info = taken[0]
    assert consumer is fast and info.offsets == {("fast", 0): 1}


@pytest.mark.integration
def test_polls_carry_the_isolated_ranges_and_are_abandoned_on_a_recovery(ray_with_test_learners):
    ray_local = ray_with_test_learners
    actor = ray_local.remote(ScriptedConsumer)
    consumer = actor.remote("only", 0.0)
    polls = _polls([consumer])
    _, batch, _ = polls.next()
    assert ray_local.get(batch)[2] is None
    polls.abandon()  # the poll sent right after the first answer is forgotten: its batch never comes
    isolate = {("records", 0): (5, 9)}
    _, batch, info = polls.next(isolate)
    assert ray_local.get(batch)[2] == isolate and info.offsets == {("only", 0): 2}


@pytest.mark.integration
def test_a_poll_that_never_answers_is_a_timeout(ray_with_test_learners):
    ray_local = ray_with_test_learners
    actor = ray_local.remote(ScriptedConsumer)
    stuck = actor.remote("stuck", 30.0)
    with pytest.raises(PipelineTimeout, match="polling the input topic"):
        _polls([stuck], timeout_s=0.5).next()
    ray_local.kill(stuck)


@pytest.mark.integration
@pytest.mark.slow
def test_three_partitions_two_consumers_and_a_killed_learner_learn_every_record_once(ray_with_test_learners, kafka_config, tmp_path):
    ray_local = ray_with_test_learners
    ensure_topics(kafka_config, partitions=3)
    records = list(itertools.islice(dataset_records("yeast"), RECORDS))
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config,
        learners=["majority"],
        consumers=2,
        batch_size=50,
        max_in_flight=3,
        idle_timeout_s=4.0,
        checkpoint_dir=str(tmp_path),
        checkpoint_every_s=0.3,
        labels_topic=False,
    )
    killed = []

    def kill_the_learner_once_checkpointed(summary, window):
        if not killed and summary.checkpoints >= 1 and summary.records_in >= RECORDS // 3:
            killed.append(summary.records_in)
            ray_local.kill(ray_local.get_actor(actor_name(config, "learner")), no_restart=False)

    summary = run_pipeline(config, on_progress=kill_the_learner_once_checkpointed)
    assert killed and killed[0] < RECORDS, "the learner was not killed mid-stream"
    assert summary.recoveries == 1
    # Exactly once: a record read again after the recovery (or a rebalance between the two
    # consumers) is skipped by position; one taken out of its partition's order would be skipped
    # too and missing here.
    assert summary.learners["majority"]["learned"] == RECORDS
    ids = {parse_prediction(m.value).id for m in read_topic(kafka_config, kafka_config.topics.predictions)}
    assert ids == {record.id for record in records}  # every record predicted (at least once)
