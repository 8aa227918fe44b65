"""Concurrent polls: one poll in flight per consumer; the driver takes whichever answers first."""

from __future__ import annotations

import typing

import ray

from jobs.outage import CHECK_EVERY_S, BrokerWatch
from jobs.pipeline.waits import PipelineTimeout, get_within
from jobs.stages.messages import PollInfo


class ConsumerPolls:
    """Keeps one ``poll`` in flight on every consumer actor and hands out the polls as they answer.

    A consumer is polled again only once the driver has taken its last poll (and sent that batch
    on), so each consumer's batches enter the pipeline in the order it polled them: the records of
    an input partition, which one consumer of the group reads at a time, reach the learners in
    offset order. Polls of different consumers overlap (their fetches, parsing and dead-lettering
    run side by side); their batches enter the pipeline in the order they answer.

    Parameters
    ----------
    consumers
        The consumer actors.
    timeout_s
        Longest wait for any poll to answer, not counting time the broker does not answer.
    broker
        Watch of the broker (probed while no poll answers).

    """

    def __init__(self, consumers: list, timeout_s: float, broker: BrokerWatch):
        self.consumers = list(consumers)
        self.timeout_s = timeout_s
        self.broker = broker
        self._pending: dict[typing.Any, tuple[typing.Any, typing.Any]] = {}  # info ref -> (consumer, batch ref)
        self._idle = list(self.consumers)  # consumers without a poll in flight, in the order to poll them

    def next(self, isolate: dict | None = None) -> tuple[typing.Any, typing.Any, PollInfo]:
        """``(consumer, batch ref, poll info)`` of the first poll to answer; every idle consumer is polled first.

        Records in the ``isolate`` ranges come one per batch (see :meth:`ConsumerStage.poll`).
        """
        for consumer in self._idle:
            batch_ref, info_ref = consumer.poll.options(num_returns=2).remote(isolate or None)
            self._pending[info_ref] = (consumer, batch_ref)
        self._idle = []
        info_ref = self._first_answer()
        consumer, batch_ref = self._pending.pop(info_ref)
        self._idle.append(consumer)
        return consumer, batch_ref, get_within(info_ref, self.timeout_s, "polling the input topic")

    def _first_answer(self):
        """The first info ref to resolve; time the broker does not answer does not count (jobs.outage)."""
        what = "polling the input topic"
        budget = self.timeout_s
        while True:
            slice_s = min(CHECK_EVERY_S, budget)
            started = self.broker.clock()
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=slice_s)
            if ready:
                if self.broker.unavailable:
                    self.broker.check(what)  # the consumers got through to it: say so
                return ready[0]
            if self.broker.check(what):
                budget -= self.broker.clock() - started
                if budget <= 0:
                    raise PipelineTimeout(f"polling the input topic took longer than {self.timeout_s} s")

    def abandon(self) -> None:
        """Forget the polls in flight (a recovery rewinds the consumers; the end of a run commits none of them).

        Their messages were neither handed on nor committed: they are read again after a rewind,
        or by the next run.
        """
        self._pending.clear()
        self._idle = list(self.consumers)
