"""What the drift monitor reports: alert records that name where, what and how sure.

An :class:`Alert` is plain data: it knows nothing of Kafka. The position of a record in the stream
is a :class:`StreamPosition`: always the index of the record among those the monitor has seen, and
when the caller knows them (the pipeline does) the source partition and offset, the record id and
its event time. Offline the index alone is the position.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing

__all__ = ["ALERT_KINDS", "ALERT_LEVELS", "SEVERITIES", "Alert", "StreamPosition", "event_id"]

#: ``warning``: a detector is near its threshold; ``drift``: a change is confirmed.
ALERT_LEVELS = ("warning", "drift")

#: What changed: a learner's error (``concept``), label frequencies or label cardinality
#: (``prior``), the inputs (``feature``), or the label space (a label first seen, gone quiet, back).
ALERT_KINDS = ("concept", "prior", "feature", "label_born", "label_dormant", "label_revived")

#: How much attention an alert asks for, lowest first.
SEVERITIES = ("low", "medium", "high")


@dataclasses.dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a record is in the stream.

    Parameters
    ----------
    index
        0-based index of the record among those the monitor has seen.
    partition, offset
        Source partition and offset of the record, when it came from a partitioned log.
    topic
        The log (topic) that partition belongs to, when there is more than one.
    record_id
        The record's id, when it has one.
    ts
        The record's event time in epoch seconds, when known.

    Examples
    --------
    >>> StreamPosition(41).key(), StreamPosition(41, partition=0, offset=1041, record_id="r7").key()
    ('i41', 'p0:o1041')
    >>> StreamPosition(41, partition=0, offset=7, topic="tagstream.labels").key()
    'tagstream.labels:p0:o7'

    """

    index: int
    partition: int | None = None
    offset: int | None = None
    record_id: str | None = None
    ts: float | None = None
    topic: str | None = None

    def key(self) -> str:
        """What identifies this position across restarts: (topic,) partition and offset if known, else the index."""
        if self.offset is not None:
            where = f"p{self.partition}:o{self.offset}"
            return where if self.topic is None else f"{self.topic}:{where}"
        return f"i{self.index}"

    def to_dict(self) -> dict:
        return {
            "topic": self.topic,
            "index": self.index,
            "partition": self.partition,
            "offset": self.offset,
            "record_id": self.record_id,
            "ts": self.ts,
        }


def event_id(job: str, detector: str, labels: typing.Iterable[str], position: StreamPosition) -> str:
    """A stable id for the alert a detector raises at ``position``: the same input gives the same id.

    A job restored from a checkpoint replays the records after it and raises the same alerts at
    the same positions, so their ids repeat and a consumer can drop the copies.

    >>> event_id("job", "concept/mlhat/y0", ["y0"], StreamPosition(120))
    '5190918030305be945b37416'
    >>> event_id("job", "concept/mlhat/y0", ["y0"], StreamPosition(121)) != event_id("job", "concept/mlhat/y0", ["y0"], StreamPosition(120))
    True

    """
    text = "\x1f".join([job, detector, ",".join(sorted(labels)), position.key()])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """One drift alert.

    Parameters
    ----------
    event_id
        Stable id (see :func:`event_id`).
    level
        ``"warning"`` or ``"drift"``.
    kind
        One of :data:`ALERT_KINDS`.
    severity
        One of :data:`SEVERITIES`.
    labels
        The labels involved (sorted); empty for a change in the inputs alone.
    learner
        The learner whose error changed (``concept``); ``None`` for changes in the data.
    clusters
        The label clusters (iHOMER's) the labels belong to, when the monitor was told them.
    first, last
        First and last record of the window the detector saw change (``last`` raised the alert).
    model_version
        Records the learner had learned from at ``last`` (``concept``), else ``None``.
    detector
        Which detector raised it, e.g. ``"concept/mlhat/labelset"`` or ``"prior/label/y3"``.
    statistic
        The test behind it: ``name``, ``value``, ``threshold`` and the two windows' means.
    job
        The job (or evaluation) the monitor belongs to.
    detail
        Anything else, JSON-able: features that moved, a warning this drift escalates, ...

    """

    event_id: str
    level: str
    kind: str
    severity: str
    labels: tuple[str, ...]
    learner: str | None
    clusters: tuple[str, ...]
    first: StreamPosition
    last: StreamPosition
    model_version: int | None
    detector: str
    statistic: dict
    job: str
    detail: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.level not in ALERT_LEVELS:
            raise ValueError(f"level must be one of {ALERT_LEVELS}, got {self.level!r}")
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"kind must be one of {ALERT_KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict:
        """The alert as JSON-able data (the value of a ``tagstream.drift`` message, less its ``ts``)."""
        return {
            "event_id": self.event_id,
            "level": self.level,
            "kind": self.kind,
            "severity": self.severity,
            "labels": list(self.labels),
            "learner": self.learner,
            "clusters": list(self.clusters),
            "window": {"first": self.first.to_dict(), "last": self.last.to_dict()},
            "model_version": self.model_version,
            "detector": self.detector,
            "statistic": dict(self.statistic),
            "job": self.job,
            "detail": dict(self.detail),
        }
