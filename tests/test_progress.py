"""The driver's progress clock: what counts as idle input for a bounded run."""

from __future__ import annotations

import types

import pytest

from jobs.config import JobConfig
from jobs.outage import BrokerWatch
from jobs.pipeline import progress
from jobs.stages.messages import PollInfo
from jobs.telemetry import PipelineMetrics


class Consumer:
    lag = types.SimpleNamespace(remote=lambda: None)


def poll(partitions: int, consumed: int = 0, offsets: dict | None = None) -> PollInfo:
    return PollInfo(consumed=consumed, good=consumed, dead_letters={}, offsets=offsets or {}, partitions=partitions)


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(progress, "get_within", lambda *args, **kwargs: {})
    return now


def bounded_run(idle_timeout_s: float = 4.0, ray_timeout_s: float = 60.0) -> progress.Progress:
    config = JobConfig(idle_timeout_s=idle_timeout_s, ray_timeout_s=ray_timeout_s)
    return progress.Progress(config, None, None, PipelineMetrics(config.window), BrokerWatch(config.kafka, probe=lambda: True))


def test_a_rebalance_that_holds_partitions_back_is_not_idle_input(clock):
    run, first, second = bounded_run(), Consumer(), Consumer()
    run.consumed(first, poll(3, consumed=50))
    run.consumed(second, poll(0))  # joining: the group rebalances
    for _ in range(10):  # partitions revoked from the first while the group settles
        clock[0] += 1.0
        run.consumed(first, poll(0))
        run.consumed(second, poll(0))
        assert not run.done()
    run.consumed(first, poll(2))
    run.consumed(second, poll(1))  # settled: three partitions covered again, none with input
    clock[0] += 4.5
    run.consumed(first, poll(2))
    assert run.done()


def test_a_shortfall_that_outlasts_the_join_deadline_is_the_groups_new_shape(clock):
    run, consumer = bounded_run(ray_timeout_s=20.0), Consumer()
    run.consumed(consumer, poll(3, consumed=50))
    for _ in range(21):  # another member of the group took two partitions for good
        clock[0] += 1.0
        run.consumed(consumer, poll(1))
    assert not run.done()
    for _ in range(5):
        clock[0] += 1.0
        run.consumed(consumer, poll(1))
    assert run.done()


def test_after_a_recovery_a_quiet_stream_ends_the_run_only_once_read_back_to_where_it_was(clock):
    run, consumer = bounded_run(ray_timeout_s=30.0), Consumer()
    run.consumed(consumer, poll(2, consumed=100, offsets={("in", 0): 60, ("in", 1): 40}))
    run.recovered()  # rewound to the checkpoints: offsets 30 and 20, say
    run.consumed(consumer, poll(2, consumed=30, offsets={("in", 0): 60}))
    for _ in range(10):  # a slow restart: the consumer answers empty for a while
        clock[0] += 1.0
        run.consumed(consumer, poll(2))
        assert not run.done()
    run.consumed(consumer, poll(2, consumed=20, offsets={("in", 1): 40}))
    clock[0] += 4.5
    assert run.done()


def test_read_back_waits_no_longer_than_the_join_deadline(clock):
    run, consumer = bounded_run(ray_timeout_s=20.0), Consumer()
    run.consumed(consumer, poll(1, consumed=100, offsets={("in", 0): 100}))
    run.recovered()  # and the log was truncated: offset 100 never comes back
    clock[0] += 15.0
    assert not run.done()
    clock[0] += 6.0
    assert run.done()
