"""What a run did and how it is going: the summary, the clocks, the stop conditions, the reports."""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import typing

from jobs.config import JobConfig
from jobs.outage import BrokerWatch
from jobs.pipeline.waits import PipelineTimeout, get_within
from jobs.stages.messages import CHAMPION_SWITCH, JOIN_STATS, STAGE_TIMES, PollInfo
from jobs.telemetry import PipelineMetrics
from stream.errors import KafkaClientError

logger = logging.getLogger(__name__)

#: How often the driver reports progress while its input is idle.
IDLE_PROGRESS_EVERY_S = 1.0

#: How often the driver samples the consumers' lag.
LAG_EVERY_S = 5.0

#: Event ids of the drift monitor's latest alerts kept to recognise their copies: a recovery
#: replays the records after the last checkpoint, whose alerts come again with the same ids.
ALERT_IDS_KEPT = 10_000


class SeenAlerts:
    """The event ids of the latest drift alerts, to tell a new alert from a copy republished after a recovery.

    Parameters
    ----------
    keep
        Most ids remembered; the oldest are forgotten first.

    Examples
    --------
    >>> seen = SeenAlerts(keep=2)
    >>> [a["event_id"] for a in seen.fresh([{"event_id": "a"}, {"event_id": "b"}, {"event_id": "a"}])]
    ['a', 'b']
    >>> [a["event_id"] for a in seen.fresh([{"event_id": "b"}, {"event_id": "c"}, {"event_id": "a"}])]
    ['c', 'a']

    """

    def __init__(self, keep: int = ALERT_IDS_KEPT):
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.keep = keep

    def fresh(self, alerts: typing.Iterable[typing.Mapping]) -> list[typing.Mapping]:
        """The alerts whose event id was not seen before, in their order; remembers their ids."""
        out = []
        for alert in alerts:
            if alert["event_id"] in self._ids:
                continue
            self._ids[alert["event_id"]] = None
            if len(self._ids) > self.keep:
                self._ids.popitem(last=False)
            out.append(alert)
        return out


@dataclasses.dataclass
class Summary:
    """What a run did. ``learners`` maps each learner to its final scores (see ``LearnerStage.summary``)."""

    records_in: int = 0
    records_good: int = 0
    predictions_out: int = 0
    dead_letters: dict[str, int] = dataclasses.field(default_factory=dict)
    drift_events: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: The drift monitor's alerts by ``"level/kind"``, each event id once (copies republished after a recovery are not counted).
    drift_alerts: dict[str, int] = dataclasses.field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    active_seconds: float = 0.0
    learners: dict[str, dict] = dataclasses.field(default_factory=dict)
    label_join: dict[str, int] = dataclasses.field(default_factory=dict)
    serving: str | None = None
    champion_switches: list[dict] = dataclasses.field(default_factory=list)
    shadow: list[str] = dataclasses.field(default_factory=list)
    checkpoints: int = 0
    recoveries: int = 0
    dead_letters_lost: int = 0
    #: Input partitions whose records are read one per batch just now, after a failure (0 normally).
    isolating: int = 0
    broker_outages: int = 0  # times the broker stopped answering (broker_unavailable), and for how long
    broker_unavailable_s: float = 0.0
    offset_gaps: int = 0  # partitions read past their log's end and moved by kafka.offsets_out_of_range

    @property
    def records_per_s(self) -> float:
        """Throughput while there was work: from the first message consumed to the last batch committed."""
        return self.records_in / self.active_seconds if self.active_seconds > 0 else 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"records_per_s": self.records_per_s}


class Progress:
    """The run's :class:`Summary`, its clocks and stop conditions, its metrics and progress reports.

    Parameters
    ----------
    config
        The job config (timeouts, follow, idle timeout).
    expected
        Messages the run should consume before it ends (bounded run of a replay), if known.
    stop
        Set it to end the run gracefully: no more polls, in-flight batches finish and commit.
    metrics
        Prometheus metrics to update.
    broker
        Watch of the broker's availability (its outages go into the summary).
    on_progress
        Called with the running :class:`Summary` and the latest windowed scores after each batch,
        and every :data:`IDLE_PROGRESS_EVERY_S` while the input is idle (a follow run waiting for
        records still shows that it is alive).
    on_batch
        Called with the running :class:`Summary` and the batch's stats by learner after each batch
        (the live page of :mod:`jobs.dashboard`).
    on_alerts
        Called with the drift monitor's alerts of a batch, as published on the drift topic, once
        per event id (the live page's alert markers); not called for a batch without new ones.

    """

    def __init__(
        self,
        config: JobConfig,
        expected: int | None,
        stop: threading.Event | None,
        metrics: PipelineMetrics,
        broker: BrokerWatch,
        on_progress: typing.Callable[[Summary, dict], None] | None = None,
        on_batch: typing.Callable[[Summary, dict], None] | None = None,
        on_alerts: typing.Callable[[list[dict]], None] | None = None,
    ):
        self.config = config
        self.expected = expected
        self.stop = stop
        self.metrics = metrics
        self.broker = broker
        self.on_progress = on_progress
        self.on_batch = on_batch
        self.on_alerts = on_alerts
        self.alerts = SeenAlerts()
        self.summary = Summary(shadow=list(config.shadow))
        self.window: dict[str, dict] = {}
        self.start()

    def start(self) -> None:
        """Start the clocks (run time, idle time): call once the actors are up."""
        self._started = time.monotonic()
        self._joined = False
        self._join_started = self._started
        # Partitions each consumer last reported assigned, and the most the group ever covered:
        # fewer now means a rebalance is moving partitions (a consumer joining late or coming back).
        self._assigned: dict[int, int] = {}
        self._most_assigned = 0
        self._short_since: float | None = None
        # The next offset to read of each input partition, as far as any poll got; after a
        # recovery, the positions to read back to before a quiet stream may end a bounded run.
        self._reached: dict[tuple[str, int], int] = {}
        self._read_back_to: dict[tuple[str, int], int] = {}
        self._first_input: float | None = None
        self._last_input = self._started
        self._last_progress = self._started
        # Lag is sampled as soon as partitions are assigned, then every LAG_EVERY_S: a short run
        # still exports it.
        self._last_lag = float("-inf")

    def done(self) -> bool:
        """Whether a stop condition holds: ``stop`` set, or (bounded run) the expected messages or idle input."""
        if self.stop is not None and self.stop.is_set():
            return True
        if self.config.follow:
            return False
        if self.expected is not None and self.summary.records_in >= self.expected:
            return True
        idle_s = time.monotonic() - self._last_input
        if self._read_back_to and idle_s <= self.config.ray_timeout_s:
            # Records read before a recovery exist: read them again before calling the input idle.
            return False
        if idle_s > self.config.idle_timeout_s:
            if self.expected is not None:
                logger.warning(
                    "no input for %s s: stopping after %d of the %d expected messages",
                    self.config.idle_timeout_s,
                    self.summary.records_in,
                    self.expected,
                )
            return True
        return False

    def consumed(self, consumer, info: PollInfo) -> None:
        """Count a poll's messages; sample ``consumer``'s lag now and then."""
        now = time.monotonic()
        self._assigned[id(consumer)] = info.partitions
        assigned = sum(self._assigned.values())
        self._most_assigned = max(self._most_assigned, assigned)
        if info.partitions:
            self._joined = True
        elif not self._joined:
            # A group join takes seconds (more on a busy machine): that wait is not idle input.
            if now - self._join_started > self.config.ray_timeout_s:
                raise PipelineTimeout(
                    f"no consumer was assigned a partition of {self.config.kafka.topics.records} "
                    f"within {self.config.ray_timeout_s} s"
                )
            self._last_input = now
        if assigned < self._most_assigned:
            # A rebalance holds partitions back from every consumer for seconds: not idle input
            # either. A shortfall that outlasts the join deadline is the group's new shape (another
            # member took partitions), and idle time counts again.
            self._short_since = now if self._short_since is None else self._short_since
            if now - self._short_since > self.config.ray_timeout_s:
                self._most_assigned, self._short_since = assigned, None
            else:
                self._last_input = now
        else:
            self._short_since = None
        self.summary.dead_letters_lost += info.lost
        for partition, offset in info.offsets.items():
            self._reached[partition] = max(offset, self._reached.get(partition, offset))
            if self._read_back_to.get(partition, offset + 1) <= offset:
                del self._read_back_to[partition]
        if info.consumed:
            if self._first_input is None:
                self._first_input = now
            self._last_input = now
            self.summary.records_in += info.consumed
            self.summary.records_good += info.good
            for reason, count in info.dead_letters.items():
                self.summary.dead_letters[reason] = self.summary.dead_letters.get(reason, 0) + count
            self.metrics.observe_consumed(info.consumed, info.dead_letters)
            self.metrics.observe_stage("consume", info.seconds)
        if info.offset_gaps:
            self.summary.offset_gaps += info.offset_gaps
            self.broker.gap(info.offset_gaps)
        if self._joined and now - self._last_lag >= LAG_EVERY_S:
            self._last_lag = now
            try:
                lag = get_within(consumer.lag.remote(), self.config.ray_timeout_s, "reading consumer lag")
            except (KafkaClientError, PipelineTimeout):
                # A gauge is not worth ending the job for: the broker may be down (jobs.outage).
                self.broker.check("sampling the consumer lag")
            else:
                self.metrics.observe_lag(lag)

    def submitted(self, consumed: int, in_flight: int, waited: bool) -> None:
        """A batch of ``consumed`` messages went in, ``in_flight`` batches are in flight now.

        ``waited``: the driver waited for its own stages (backpressure), which is not idle input.
        """
        if waited:
            self._last_input = time.monotonic()
        self.metrics.observe_batch(consumed, in_flight)

    def idle(self) -> None:
        """A poll found no input: report progress now and then."""
        now = time.monotonic()
        if self.on_progress is not None and now - self._last_progress >= IDLE_PROGRESS_EVERY_S:
            self._report(now)

    def _report(self, now: float) -> None:
        self._last_progress = now
        self.summary.seconds = now - self._started
        if self._first_input is not None:
            self.summary.active_seconds = now - self._first_input
        if self.on_progress is not None:
            self.on_progress(self.summary, self.window)

    def published(self, ack: dict, learner_stats: list[dict]) -> None:
        """Account for a batch published (the publisher's ``ack``, each learner actor's stats), then report."""
        self.summary.predictions_out += ack["predictions"]
        if ack.get("dead_letters"):
            for reason, count in ack["dead_letters"].items():
                self.summary.dead_letters[reason] = self.summary.dead_letters.get(reason, 0) + count
            self.metrics.observe_consumed(0, ack["dead_letters"])
        if ack.get("switch") is not None:
            self.summary.champion_switches.append(ack["switch"])
            self.summary.serving = ack["switch"]["to"]
        self.summary.batches += 1
        self.metrics.observe_published(ack["predictions"], ack["latencies_s"])
        self.metrics.observe_stage("publish", ack["publish_s"])
        self.metrics.observe_serving(ack["serving"])
        alerts = self.alerts.fresh(ack.get("alerts", ()))
        alert_counts = collections.Counter(f"{alert['level']}/{alert['kind']}" for alert in alerts)
        self.metrics.observe_drift_alerts(alert_counts)
        for key, count in alert_counts.items():
            self.summary.drift_alerts[key] = self.summary.drift_alerts.get(key, 0) + count
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
        batch_stats: dict[str, dict] = {}
        for stats in learner_stats:
            join_counts = stats.pop(JOIN_STATS)
            for stage, seconds in stats.pop(STAGE_TIMES, {}).items():
                self.metrics.observe_stage(stage, seconds)
            self.metrics.observe_label_join(join_counts)
            self.summary.label_join = join_counts
            switch = ack.get("switch")
            if switch is not None and switch["to"] in stats:
                # The switch joins the new champion's events: counted, and shown on the live page.
                champion = stats[switch["to"]]
                champion["events"][("global", CHAMPION_SWITCH)] = champion["events"].get(("global", CHAMPION_SWITCH), 0) + 1
                champion["recent_events"].append(ack["switch_event"])
            batch_stats.update(stats)
            for learner, stats_of_learner in stats.items():
                self.metrics.observe_learner(learner, stats_of_learner)
                self.window[learner] = stats_of_learner["window"]
                counts = self.summary.drift_events.setdefault(learner, {})
                for (level, kind), count in stats_of_learner["events"].items():
                    counts[f"{level}/{kind}"] = counts.get(f"{level}/{kind}", 0) + count
        self._report(time.monotonic())
        if self.on_batch is not None:
            self.on_batch(self.summary, batch_stats)

    def committed(self, commits: int, dead_letters_lost: int) -> None:
        """``commits`` offset commits finished; their consumers lost ``dead_letters_lost`` dead letters."""
        self.summary.dead_letters_lost += dead_letters_lost
        if commits:
            self.metrics.observe_commit()

    def recovered(self) -> None:
        """Count a recovery. Messages are read again, so the run now ends on idle input, timed from
        now; neither the restart nor the group join of a restarted consumer is idle input."""
        self.summary.recoveries += 1
        self.expected = None
        self._last_input = self._join_started = time.monotonic()
        self._joined = False
        self._read_back_to = dict(self._reached)

    def finish(self) -> None:
        """The run's final times and broker outages, and no batch in flight any more (for the metrics)."""
        now = time.monotonic()
        self.summary.seconds = now - self._started
        if self._first_input is not None:
            self.summary.active_seconds = now - self._first_input
        self.summary.broker_outages, self.summary.broker_unavailable_s = self.broker.outages, self.broker.unavailable_s
        self.metrics.observe_batch(0, 0)
