"""The drift monitor inside a learner stage: Kafka positions in, JSON-able drift alerts out.

:class:`StageMonitor` wraps a :class:`learners.drift.DriftMonitor` for the pipeline's learner
stage: it numbers the records the stage takes in, turns their ``(topic, partition, offset)``,
record id and event time into :class:`~learners.drift.StreamPosition` objects, looks at the
label clusters of a learner that has them (iHOMER) from time to time, and hands back alerts as
plain dicts (the value of a ``tagstream.drift`` message, less the publication time). It is
checkpointed with the stage (it pickles), so a stage restored from its checkpoint re-raises the
alerts of the records it replays with the same event ids.

:class:`DriftConfig` is the ``drift`` section of :class:`jobs.config.JobConfig`.
"""

from __future__ import annotations

import typing

import pydantic

from jobs.drift_events import label_clusters
from learners.drift import DriftMonitor, Observation, StreamPosition

#: Version of the drift alert record (``stream/schemas/tagstream.drift.json``).
ALERT_SCHEMA_VERSION = 2

#: Records between two looks at the learners' label clusters.
CLUSTERS_EVERY = 500


class DriftConfig(pydantic.BaseModel):
    """Settings of the drift monitor that runs beside the learners (see :class:`learners.drift.DriftMonitor`).

    Examples
    --------
    >>> DriftConfig(dormant_after=2000).monitor_settings()["dormant_after"]
    2000

    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    window: int = pydantic.Field(200, ge=10, description="Recent window of every detector, in records.")
    reference: int = pydantic.Field(1000, ge=10, description="Reference window of every detector, in records.")
    threshold_scale: float = pydantic.Field(1.0, gt=0, description="Scales every detector's threshold (higher: fewer, later alerts).")
    cooldown: int = pydantic.Field(1000, ge=0, description="Records a reported detector keeps quiet.")
    gather: int = pydantic.Field(50, ge=0, description="Records during which later signals join the same alert.")
    warning_expiry: int = pydantic.Field(500, ge=1, description="Records after which a warning that did not escalate expires.")
    warmup: int = pydantic.Field(200, ge=0, description="Labelled records that make up the initial label space.")
    dormant_after: int | None = pydantic.Field(1000, ge=1, description="Records without a label before it is dormant.")
    dormant_after_s: float | None = pydantic.Field(None, gt=0, description="Seconds of event time without a label before it is dormant.")
    born_factor: float = pydantic.Field(
        10.0, ge=0, description="A label first on after the warm-up is born once its occurrences have probability exp(-born_factor) or less for a label always there (0: when first on)."
    )
    seed: int = 0
    alertmanager_url: str | None = pydantic.Field(
        None, description="POST drift-level alerts to this Alertmanager (http(s)://host:9093) too."
    )

    def monitor_settings(self) -> dict:
        """The keyword arguments of :class:`~learners.drift.DriftMonitor` this config stands for."""
        defaults = DriftMonitor()
        scaled = {
            name: getattr(defaults, name) * self.threshold_scale
            for name in ("concept_threshold", "labelset_threshold", "prior_threshold", "pair_threshold", "feature_threshold")
        }
        return {
            "window": self.window,
            "reference": self.reference,
            "cooldown": self.cooldown,
            "gather": self.gather,
            "warning_expiry": self.warning_expiry,
            "warmup": self.warmup,
            "dormant_after": self.dormant_after,
            "dormant_after_s": self.dormant_after_s,
            "born_factor": self.born_factor,
            "seed": self.seed,
            **scaled,
        }


class StageMonitor:
    """A learner stage's drift monitor.

    Parameters
    ----------
    job
        Name of the job (the consumer group): part of every event id.
    config
        The monitor's settings.

    Examples
    --------
    >>> monitor = StageMonitor("job", DriftConfig(warmup=1, born_factor=0.0))
    >>> monitor.record({"x": 1.0}, ("tagstream.records", 0, 41), "r1", ts=1.0)
    []
    >>> monitor.labelled(("a",), {"mlhat": {"a": True}}, ("tagstream.records", 0, 41), "r1", ts=1.0, versions={"mlhat": 0})
    []
    >>> monitor.labelled(("a", "b"), {"mlhat": {"a": True}}, ("tagstream.records", 0, 42), "r2", ts=2.0, versions={"mlhat": 1})[0]["kind"]
    'label_born'

    """

    def __init__(self, job: str, config: DriftConfig):
        self.job = job
        self.config = config
        self.monitor = DriftMonitor(job=job, **config.monitor_settings())
        self.seen = 0  # records taken in: the index of their positions
        self._since_clusters = CLUSTERS_EVERY

    def _position(self, index: int, where: tuple[str, int, int] | None, record_id: str | None, ts: float | None) -> StreamPosition:
        if where is None:
            return StreamPosition(index, record_id=record_id, ts=ts)
        topic, partition, offset = where
        return StreamPosition(index, partition=partition, offset=offset, record_id=record_id, ts=ts, topic=topic)

    def record(self, x: typing.Mapping, where, record_id: str | None, ts: float | None) -> list[dict]:
        """A record taken in (labelled or not): its inputs; returns the ``feature`` alerts raised."""
        position = self._position(self.seen, where, record_id, ts)
        self.seen += 1
        return [alert.to_dict() for alert in self.monitor.observe_inputs(x, position)]

    def labelled(self, labels, predictions: typing.Mapping[str, typing.Mapping], where, record_id, ts, versions) -> list[dict]:
        """A record's labels (those on) with each learner's earlier prediction; returns the alerts raised."""
        predicted = {name: {str(l): bool(on) for l, on in p.items()} for name, p in predictions.items()}
        # Its index is that of the newest record taken in (a late label joins an older record).
        position = self._position(max(self.seen - 1, 0), where, record_id, ts)
        return [alert.to_dict() for alert in self.monitor.observe_labels(set(map(str, labels)), predicted, position, versions)]

    def clusters_from(self, models: typing.Mapping[str, object], learned: int) -> None:
        """Every :data:`CLUSTERS_EVERY` learned records, take the label clusters of the first learner that has them."""
        clusters = self._clusters_due(models, learned)
        if clusters is not None:
            self.monitor.set_clusters(clusters)

    def _clusters_due(self, models: typing.Mapping[str, object], learned: int) -> dict | None:
        self._since_clusters += learned
        if self._since_clusters < CLUSTERS_EVERY:
            return None
        self._since_clusters = 0
        for model in models.values():
            clusters = label_clusters(model)
            if clusters:
                return clusters
        return None

    # -- a batch at once: the same alerts as record / clusters_from + labelled, record by record ------

    def inputs_observation(self, x: typing.Mapping, where, record_id: str | None, ts: float | None) -> Observation:
        """A record taken in, as :meth:`record` takes it, for :meth:`observe`."""
        position = self._position(self.seen, where, record_id, ts)
        self.seen += 1
        return Observation(position, x=x)

    def labels_observation(self, labels, predictions: typing.Mapping[str, typing.Mapping], where, record_id, ts, versions,
                           models: typing.Mapping[str, object]) -> Observation:
        """A record's labels, as :meth:`clusters_from` (one learned record) then :meth:`labelled` take them, for :meth:`observe`."""
        clusters = self._clusters_due(models, 1)
        predicted = {name: {str(l): True for l, on in p.items() if on} for name, p in predictions.items()}
        position = self._position(max(self.seen - 1, 0), where, record_id, ts)
        return Observation(position, labels=set(map(str, labels)), predictions=predicted, model_versions=versions, clusters=clusters)

    def observe(self, observations: typing.Sequence[Observation]) -> list[dict]:
        """The alerts of a batch's observations, in order (:meth:`learners.drift.DriftMonitor.observe_many`)."""
        return [alert.to_dict() for alert in self.monitor.observe_many(observations)]
