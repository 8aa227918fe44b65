"""Riding out a broker outage: the job waits, says so, and goes on where it was when the broker is back.

A Kafka cluster that is stopped, restarting or stalled is not a reason to end a job that runs for
weeks. While the broker does not answer:

* the actors retry what must reach it (:func:`flush_until_delivered` for produced messages,
  :func:`commit_until_done` for offsets) with a growing pause, instead of failing after one
  timeout; the producer keeps undelivered messages queued meanwhile (``delivery_timeout_ms``);
* the driver, whose waits on those actors would otherwise time out, asks :class:`BrokerWatch`
  whether the broker answers; while it does not, the wait goes on (:meth:`BrokerWatch.wait`), and
  the outage is reported as ``broker_unavailable``: a warning in the log (repeated while it lasts),
  the gauge ``tagstream_broker_up`` at 0 and the counters of the run's summary.

Nothing is skipped or learned twice: offsets are committed only once the predictions they account
for are on the broker, and a learner skips any message at a position it has already taken in
(the consumer may read again what it read before the outage, after rejoining its group).
"""

from __future__ import annotations

import logging
import time
import typing

import kafka.errors
from prometheus_client import Counter, Gauge

from stream.errors import BrokerUnavailable, CommitError, KafkaClientError, KafkaTimeout
from stream.kafka import KafkaConfig, topic_partitions

logger = logging.getLogger(__name__)

#: The word an outage is reported with: log lines, the summary, the status line.
BROKER_UNAVAILABLE = "broker_unavailable"

#: Pauses between retries grow from FIRST_RETRY_S, doubling, up to MAX_RETRY_S.
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0

#: Commit failures that mean the group rebalanced since the offsets were read.
REBALANCED = (
    kafka.errors.CommitFailedError,
    kafka.errors.IllegalGenerationError,
    kafka.errors.RebalanceInProgressError,
    kafka.errors.UnknownMemberIdError,
)

#: How long the driver waits on an actor before it asks whether the broker answers.
CHECK_EVERY_S = 10.0

#: How long a probe of the broker may take (a stalled broker accepts connections and answers nothing).
PROBE_TIMEOUT_S = 5.0


def backoff(attempt: int, first_s: float = FIRST_RETRY_S, most_s: float = MAX_RETRY_S) -> float:
    """Pause before retry number ``attempt`` (0-based): doubling from ``first_s``, at most ``most_s``.

    >>> [backoff(n) for n in range(7)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]

    """
    return min(most_s, first_s * 2**attempt)


def _retry(action: typing.Callable[[], None], what: str, retriable: tuple, sleep=time.sleep) -> None:
    attempt = 0
    while True:
        try:
            action()
        except retriable as error:
            pause = backoff(attempt)
            logger.warning(
                "%s: %s failed (%s); retrying in %.0f s", BROKER_UNAVAILABLE, what, error, pause, extra={"event": BROKER_UNAVAILABLE}
            )
            sleep(pause)
            attempt += 1
            continue
        if attempt:
            logger.warning("broker back: %s succeeded after %d retries", what, attempt)
        return


def flush_until_delivered(sink, what: str, sleep=time.sleep) -> None:
    """Flush ``sink`` (a :class:`~stream.kafka.RecordSink`), retrying while the broker does not acknowledge.

    A flush that times out leaves the messages queued in the producer, which goes on sending them;
    flushing again waits for them. Any other failure (a message the broker refused) propagates.
    """
    _retry(sink.flush, what, (KafkaTimeout,), sleep)


def commit_until_done(commit: typing.Callable[[], None], what: str, sleep=time.sleep) -> None:
    """Run ``commit`` (an offset commit), retrying while the broker does not answer.

    Committing the same offsets again is harmless. A commit refused because the group rebalanced
    meanwhile (an outage longer than the session timeout makes the consumer rejoin) is given up
    with a warning: the consumer commits again after its next batch, and what it reads twice in
    between its learners skip (they know the offsets they took in). Other errors propagate.
    """

    def attempt() -> None:
        try:
            commit()
        except CommitError as error:
            if isinstance(error.error, REBALANCED):
                logger.warning("%s: offsets left to the next commit (%s)", what, error)
                return
            if isinstance(error.error, kafka.errors.RetriableError):
                raise KafkaTimeout(f"{what} found no coordinator", error.error) from error
            raise

    _retry(attempt, what, (KafkaTimeout, BrokerUnavailable), sleep)


def _registered(registry, kind, name: str, documentation: str):
    """The metric ``name`` of ``registry``, created unless an earlier run on the same metrics did."""
    try:
        return kind(name, documentation, registry=registry)
    except ValueError:  # already registered
        return registry._names_to_collectors[name]


class BrokerWatch:
    """The driver's view of the broker during waits: probes it when an actor takes long, reports outages.

    Parameters
    ----------
    kafka
        The job's Kafka settings (the probe describes the input topic).
    registry
        Prometheus registry of the run: ``tagstream_broker_up`` (1 or 0) and
        ``tagstream_broker_unavailable_seconds_total`` are added to it.
    probe
        Returns whether the broker answers; default :meth:`answers`.
    clock
        Monotonic clock, in seconds.

    """

    def __init__(self, kafka: KafkaConfig, registry=None, probe=None, clock: typing.Callable[[], float] = time.monotonic):
        self.kafka = kafka
        self.probe = probe or self.answers
        self.clock = clock
        self.outages = 0
        self.unavailable_s = 0.0
        self._down_since: float | None = None
        self._up = self._down_seconds = self._gaps = None
        if registry is not None:
            self._up = _registered(registry, Gauge, "tagstream_broker_up", "1 while the Kafka cluster answers the job, 0 during an outage.")
            self._up.set(1)
            self._down_seconds = _registered(
                registry, Counter, "tagstream_broker_unavailable_seconds", "Time the job waited for an unavailable Kafka cluster."
            )
            self._gaps = _registered(
                registry, Counter, "tagstream_offset_gaps", "Partitions read past their log's end (truncated, recreated topic)."
            )

    def gap(self, partitions: int) -> None:
        """Count partitions a consumer found read past their log's end (see :func:`offsets_past_end`)."""
        if self._gaps is not None:
            self._gaps.inc(partitions)

    @property
    def unavailable(self) -> bool:
        return self._down_since is not None

    def answers(self) -> bool:
        """Whether the broker answers a metadata request within :data:`PROBE_TIMEOUT_S`."""
        quick = self.kafka.model_copy(update={"connect_timeout_s": PROBE_TIMEOUT_S, "request_timeout_ms": int(PROBE_TIMEOUT_S * 1000)})
        try:
            topic_partitions(quick, self.kafka.topics.records, timeout_s=PROBE_TIMEOUT_S)
        except KafkaClientError:
            return False
        return True

    def check(self, what: str) -> bool:
        """Probe the broker; report the start or the end of an outage. Returns whether it answers."""
        now = self.clock()
        if self.probe():
            if self._down_since is not None:
                lasted = now - self._down_since
                self.unavailable_s += lasted
                if self._down_seconds is not None:
                    self._down_seconds.inc(lasted)
                    self._up.set(1)
                logger.warning("broker back after %.0f s: %s goes on", lasted, what, extra={"event": "broker_available"})
                self._down_since = None
            return True
        if self._down_since is None:
            self._down_since = now
            self.outages += 1
            if self._up is not None:
                self._up.set(0)
        logger.warning(
            "%s: %s waits for %s (down for %.0f s)",
            BROKER_UNAVAILABLE,
            what,
            self.kafka.bootstrap_servers,
            now - self._down_since,
            extra={"event": BROKER_UNAVAILABLE},
        )
        return False

    def wait(self, refs: list, timeout_s: float, what: str) -> list:
        """``ray.wait`` for every ref in ``refs``; returns those still pending after ``timeout_s`` of the
        broker answering (an empty list when all are done).

        Every :data:`CHECK_EVERY_S` without completion the broker is probed; time while it does not
        answer does not count towards ``timeout_s``: an actor waiting for the broker is not stuck.
        """
        import ray  # only the driver waits on actors; the actors import this module for the retries

        pending = list(refs)
        budget = timeout_s
        while pending:
            slice_s = min(CHECK_EVERY_S, budget)
            started = self.clock()
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=slice_s)
            if not pending:
                break
            if self.check(what):
                budget -= self.clock() - started
                if budget <= 0:
                    break
        if not pending and self.unavailable:
            self.check(what)  # done: the broker answered the actors, say so
        return pending


class OffsetsOutOfRange(KafkaClientError):
    """A partition is read at an offset past the end of its log, and the policy says to stop."""


#: Kind of the event published on the model-events topic when a partition is read past its log's end.
OFFSETS_OUT_OF_RANGE = "offsets_out_of_range"


def offsets_past_end(source, sink, config: KafkaConfig) -> dict[tuple[str, int], int]:
    """Deal with the partitions ``source`` reads at positions their log no longer has; returns where
    each now reads from.

    A position past the log's end, or a topic whose id changed, means the log was truncated, the
    topic recreated (a broker that keeps topics in memory restarted), or the offsets came from
    another cluster: reading on from the old position would skip the new log's records silently
    (see :meth:`stream.kafka.RecordSource.out_of_range`). Each such partition is logged and
    published as an ``offsets_out_of_range`` event on the model-events topic (``detail``: topic,
    partition, position, log end, why, policy); then, by ``config.offsets_out_of_range``:

    * ``fail`` (default) raises :class:`OffsetsOutOfRange`: the job stops, nothing is skipped;
    * ``earliest`` reads the partition from its start, ``latest`` from its current end (what lies
      between is skipped, and said so).

    The caller hands the returned positions to the learners, which otherwise would take the new
    log's records for ones they already learned (their offsets are those of the old log).
    """
    gaps = source.out_of_range()
    if not gaps:
        return {}
    policy = config.offsets_out_of_range
    now = time.time()
    for (topic, partition), (position, end, why) in sorted(gaps.items()):
        logger.error(
            "%s[%d] read at offset %s is out of range (%s, log end %s): truncated, recreated, or offsets of another "
            "cluster; policy %s",
            topic,
            partition,
            position,
            why,
            end,
            policy,
            extra={"event": OFFSETS_OUT_OF_RANGE},
        )
        detail = {"topic": topic, "partition": partition, "position": position, "log_end": end, "why": why, "policy": policy}
        alert = {"learner": "tagstream", "level": "global", "kind": OFFSETS_OUT_OF_RANGE, "labels": [], "node": None,
                 "instance": 0, "ts": now, "detail": detail}  # fmt: skip
        sink.send(config.topics.model_events, alert, key="tagstream")  # the job's own event, not a drift alert
    flush_until_delivered(sink, "publishing the offsets_out_of_range alert")
    if policy == "fail":
        where = ", ".join(
            f"{topic}[{partition}] at {position} ({why}, log end {end})"
            for (topic, partition), (position, end, why) in sorted(gaps.items())
        )
        raise OffsetsOutOfRange(
            f"offsets out of range: {where}. The log was truncated, the topic recreated, or the offsets come from "
            "another cluster; nothing was skipped. To go on, set kafka.offsets_out_of_range to 'earliest' (read the "
            "partition from its start) or 'latest' (from its end), or move the group's offsets."
        )
    moved = {}
    for (topic, partition), (_, end, _) in gaps.items():
        if policy == "latest" and end is None:
            end = source.end_offset(topic, partition)
        moved[topic, partition] = 0 if policy == "earliest" else end
        source.seek(topic, partition, moved[topic, partition])
    return moved
