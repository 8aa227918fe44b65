"""Prometheus metrics of the pipeline, served on ``/metrics``.

Where the values come from: every value lives in some actor (records and dead letters in the
consumers, scores and model sizes in the learner actor, latencies in the publisher). Each actor
returns a small stats dict next to the payload of every batch, and the driver, which already
waits on those batches, feeds them to :class:`PipelineMetrics`. So the metrics are updated once
per micro-batch, from one process, with no extra remote calls; the HTTP endpoint runs in the
driver. Model sizes are measured only every few thousand records (it walks the whole model).

Conventions (checked with ``promtool check metrics`` in the tests): what only grows is a counter
named ``..._total`` (records, predictions, dead letters, drift events, label-join outcomes); levels
are gauges (lag, in flight, windowed scores, model sizes, waiting labels, and
``tagstream_serving_learner``, 1 for the learner serving); durations are histograms in seconds
(end-to-end latency, each stage's time per micro-batch, checkpoints). The driver's own process
metrics (``process_*``, ``python_*``) are on the same registry.

Label values are bounded: reasons come from a fixed list, learners from the configuration,
partitions from the topic, and drift kinds from the learners' code (capped anyway, see
:data:`MAX_LABEL_VALUES`). Nothing is labelled by record or by label name.
"""

from __future__ import annotations

import logging
import threading
import typing

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream.records import DRIFT_ALERT_KINDS, DRIFT_ALERT_LEVELS

logger = logging.getLogger(__name__)

#: Most distinct values a free-form label (drift kind) may take; later ones become "other".
MAX_LABEL_VALUES = 32

#: End-to-end latency buckets, in seconds (the target is a p99 under 0.25 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The pipeline's stages, as the ``stage`` label of ``tagstream_stage_duration_seconds``.
STAGES = ("consume", "extract", "learn", "publish")

#: Stage-duration buckets, in seconds (a micro-batch of a few hundred records).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Checkpoint-duration buckets, in seconds.
CHECKPOINT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

#: Prefix of the label-join counts that are levels (buffers), not totals.
WAITING = "waiting_"

#: Windowed scores exported per learner: score name in :class:`learners.metrics.MetricSuite` -> metric.
WINDOWED_SCORES = ("subset_accuracy", "example_f1", "hamming_loss")


class PipelineMetrics:
    """The pipeline's metrics, on a registry of their own.

    Parameters
    ----------
    window
        Size of the learners' sliding window, shown in the help text of the windowed scores.

    Examples
    --------
    >>> metrics = PipelineMetrics(window=500)
    >>> metrics.observe_consumed(records=3, dead_letters={"json": 1})
    >>> metrics.observe_published(predictions=3, latencies_s=[0.01, 0.02, 0.2])
    >>> metrics.value("tagstream_records_in_total")
    3.0
    >>> metrics.value("tagstream_dead_letters_total", reason="json")
    1.0
    >>> metrics.observe_label_join({"joined": 2, "waiting_records": 5})
    >>> metrics.observe_label_join({"joined": 3, "waiting_records": 4})
    >>> metrics.value("tagstream_label_join_total", outcome="joined"), metrics.value("tagstream_label_join_waiting", side="records")
    (3.0, 4.0)
    >>> metrics.observe_stage("learn", 0.02)
    >>> metrics.value("tagstream_stage_duration_seconds_count", stage="learn")
    1.0

    """

    def __init__(self, window: int = 1000):
        self.window = window
        self.registry = CollectorRegistry(auto_describe=True)
        self._kinds: set[str] = set()
        self._server = None
        self._thread: threading.Thread | None = None
        r = self.registry
        self.records_in = Counter("tagstream_records_in", "Messages consumed from the input topic (good and bad).", registry=r)
        self.predictions_out = Counter("tagstream_predictions_out", "Predictions published.", registry=r)
        self.dead_letters = Counter(
            "tagstream_dead_letters", "Messages routed to the dead-letter topic, by reason.", ["reason"], registry=r
        )
        self.consumer_lag = Gauge(
            "tagstream_consumer_lag_records",
            "Records between the consumer position and the end of each input partition (sampled).",
            ["partition"],
            registry=r,
        )
        self.latency = Histogram(
            "tagstream_end_to_end_latency_seconds",
            "From the record's Kafka timestamp to its prediction being acknowledged by the broker.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("tagstream_in_flight_batches", "Micro-batches submitted and not yet committed.", registry=r)
        self.batch_records = Histogram(
            "tagstream_batch_records",
            "Records per micro-batch.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=r,
        )
        self.scores = {
            name: Gauge(
                f"tagstream_learner_{name}",
                f"{name.replace('_', ' ').capitalize()} over the learner's last {window} labelled records.",
                ["learner"],
                registry=r,
            )
            for name in WINDOWED_SCORES
        }
        self.drift_events = Counter(
            "tagstream_drift_events", "Drift events emitted by the learners, by level and kind.", ["learner", "level", "kind"], registry=r
        )
        self.drift_alerts = Counter(
            "tagstream_drift_alerts",
            "Alerts of the drift monitor beside the learners (tagstream.drift), by level and kind; "
            "the learners' own structural events are tagstream_drift_events.",
            ["level", "kind"],
            registry=r,
        )
        # Every series exists at 0 from the start: increase() then sees a job's first alert, and
        # the dashboard and the alert rules find the series before anything drifted.
        for level in DRIFT_ALERT_LEVELS:
            for kind in DRIFT_ALERT_KINDS:
                self.drift_alerts.labels(level=level, kind=kind)
        self.label_clusters = Gauge(
            "tagstream_label_clusters", "Label clusters of learners that partition the label space.", ["learner"], registry=r
        )
        self.model_bytes = Gauge("tagstream_model_bytes", "Approximate model size in memory (sampled).", ["learner"], registry=r)
        self.last_commit = Gauge(
            "tagstream_last_commit_timestamp_seconds",
            "Unix time of the last input offset commit (the job's start before the first): what a restart resumes from.",
            registry=r,
        )
        # A job resumes from the committed offsets it started from: at 0 until its first commit
        # (30 s with checkpoints), the checkpoint age would read decades and alert on every start.
        self.last_commit.set_to_current_time()
        self.label_join = Counter(
            "tagstream_label_join",
            "Late-label join outcomes: joined, expired_records, expired_labels, unmatched_labels, corrections.",
            ["outcome"],
            registry=r,
        )
        self.label_join_waiting = Gauge(
            "tagstream_label_join_waiting", "Records waiting for their labels, and labels for their record.", ["side"], registry=r
        )
        self.serving = Gauge(
            "tagstream_serving_learner", "1 for the learner whose predictions are published, 0 for the others.", ["learner"], registry=r
        )
        self.stage_seconds = Histogram(
            "tagstream_stage_duration_seconds",
            "Time one micro-batch spent in a stage: consume (poll and parse), extract, learn (one learner actor), publish.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "tagstream_checkpoint_duration_seconds",
            "Time a checkpoint took: batches in flight finished, every stage written, offsets committed.",
            buckets=CHECKPOINT_BUCKETS,
            registry=r,
        )
        # The driver's own process: CPU, memory, file descriptors, Python's garbage collector.
        prometheus_client.ProcessCollector(registry=r)
        prometheus_client.PlatformCollector(registry=r)
        prometheus_client.GCCollector(registry=r)
        self._join_totals: dict[str, int] = {}
        self._learners: set[str] = set()

    def observe_consumed(self, records: int, dead_letters: typing.Mapping[str, int]) -> None:
        self.records_in.inc(records)
        for reason, count in dead_letters.items():
            self.dead_letters.labels(reason=reason).inc(count)

    def observe_lag(self, lag: typing.Mapping[int, int]) -> None:
        for partition, records in lag.items():
            self.consumer_lag.labels(partition=str(partition)).set(records)

    def observe_batch(self, records: int, in_flight: int) -> None:
        self.batch_records.observe(records)
        self.in_flight.set(in_flight)

    def observe_published(self, predictions: int, latencies_s: typing.Iterable[float]) -> None:
        self.predictions_out.inc(predictions)
        for latency in latencies_s:
            self.latency.observe(latency)

    def observe_drift_alerts(self, counts: typing.Mapping[str, int]) -> None:
        """Count the drift monitor's alerts one acknowledgement published (``"level/kind" -> n``)."""
        for key, count in counts.items():
            level, kind = key.split("/", 1)
            self.drift_alerts.labels(level=level, kind=kind).inc(count)

    def observe_commit(self) -> None:
        self.last_commit.set_to_current_time()

    def observe_learner(self, learner: str, stats: typing.Mapping) -> None:
        """Take one learner's stats as reported by the learner actor (see ``LearnerStage.stats``)."""
        self._learners.add(learner)
        for name in WINDOWED_SCORES:
            if name in stats["window"]:
                self.scores[name].labels(learner=learner).set(stats["window"][name])
        for (level, kind), count in stats["events"].items():
            self.drift_events.labels(learner=learner, level=level, kind=self._bounded_kind(kind)).inc(count)
        if stats.get("label_clusters") is not None:
            self.label_clusters.labels(learner=learner).set(stats["label_clusters"])
        if stats.get("model_bytes") is not None:
            self.model_bytes.labels(learner=learner).set(stats["model_bytes"])

    def observe_label_join(self, counts: typing.Mapping[str, int]) -> None:
        """Take the label-join counts of a learner actor (see :meth:`jobs.label_join.LabelJoin.counts`).

        The counts are totals kept by the actor; the counters grow by what is new since the last
        call. Every learner actor reports the same totals, so a second report adds nothing; totals
        that went down (an actor restored from a checkpoint) are the new base.
        """
        for outcome, count in counts.items():
            if outcome.startswith(WAITING):
                self.label_join_waiting.labels(side=outcome[len(WAITING) :]).set(count)
                continue
            new = count - self._join_totals.get(outcome, 0)
            self.label_join.labels(outcome=outcome).inc(max(0, new))  # at 0 from the first report on
            self._join_totals[outcome] = count

    def observe_serving(self, serving: str) -> None:
        """Mark ``serving`` as the learner whose predictions are published (the others, seen so far, 0)."""
        self._learners.add(serving)
        for learner in self._learners:
            self.serving.labels(learner=learner).set(1 if learner == serving else 0)

    def observe_stage(self, stage: str, seconds: float | None) -> None:
        """Time one micro-batch spent in ``stage`` (one of :data:`STAGES`); ``None`` (the stage was skipped) is ignored."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; the stages are {STAGES}")
        if seconds is not None:
            self.stage_seconds.labels(stage=stage).observe(seconds)

    def observe_checkpoint(self, seconds: float) -> None:
        self.checkpoint_seconds.observe(seconds)

    def _bounded_kind(self, kind: str) -> str:
        if kind in self._kinds:
            return kind
        if len(self._kinds) >= MAX_LABEL_VALUES:
            return "other"
        self._kinds.add(kind)
        return kind

    def value(self, name: str, **labels) -> float | None:
        """Current value of one sample, for tests and the progress display."""
        return self.registry.get_sample_value(name, labels or None)

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the bound port (``port=0`` picks one)."""
        if self._server is not None:
            raise RuntimeError("the metrics endpoint is already being served")
        self._server, self._thread = prometheus_client.start_http_server(port, addr=host, registry=self.registry)
        bound = self._server.server_port
        logger.info("metrics served on http://%s:%d/metrics", host, bound)
        return bound

    def close(self, timeout: float = 5.0) -> None:
        """Stop the endpoint, if serving."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None
