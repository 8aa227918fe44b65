"""Joins labels that arrive late (``tagstream.labels``) to the records they belong to, by record id.

Records that came without labels wait in a buffer bounded by count and by age; a label update for a
waiting record releases it (to be scored with the prediction made when it arrived, then learned).
Labels can also overtake their record (two topics are read side by side), so label updates wait
in a second buffer with the same bounds. Everything that leaves a buffer unjoined is counted.
Records already learned are remembered in a third buffer with the same bounds, so that a label
update for one of them is recognised as a correction.

Age is measured on the stream's own clock (the Kafka timestamps passed in), so a replay of the same
messages joins the same way.
"""

from __future__ import annotations

import collections
import typing


class LabelJoin:
    """Bounded join of records and their late labels.

    Parameters
    ----------
    max_records
        Most records (and, separately, most early label updates) kept waiting.
    max_age_s
        A record or label update older than this (stream time) stops waiting.

    Examples
    --------
    >>> join = LabelJoin(max_records=2, max_age_s=60.0)
    >>> join.add_record("r1", "features of r1", ts=0.0) is None
    True
    >>> join.add_label("r1", ("a",), ts=1.0)
    'features of r1'
    >>> join.add_label("nobody", ("a",), ts=2.0) is None  # waits for its record
    True
    >>> join.add_record("nobody", "late record", ts=3.0)
    ('a',)
    >>> join.counts()["joined"]
    2
    >>> join.remember("r1", "what r1 needs to be corrected", ts=4.0)
    >>> join.correction("r1")
    'what r1 needs to be corrected'
    >>> join.counts()["corrections"]
    1

    """

    def __init__(self, max_records: int, max_age_s: float):
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        self.max_records = max_records
        self.max_age_s = max_age_s
        self._reset()

    def _reset(self) -> None:
        self._records: collections.OrderedDict[str, tuple[float, typing.Any]] = collections.OrderedDict()
        self._labels: collections.OrderedDict[str, tuple[float, tuple[str, ...]]] = collections.OrderedDict()
        # Ids of records that left unlabelled, to tell a label that came too late from one that matches nothing.
        self._expired_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        # Records learned, newest last, for corrections: id -> (ts, payload).
        self._learned: collections.OrderedDict[str, tuple[float, typing.Any]] = collections.OrderedDict()
        self._counts = collections.Counter(
            joined=0, expired_records=0, expired_labels=0, unmatched_labels=0, corrections=0
        )

    def add_record(self, record_id: str, payload: typing.Any, ts: float) -> typing.Any | None:
        """A record without labels arrived: its labels if they are already here, else it waits (``None``)."""
        early = self._labels.pop(record_id, None)
        if early is not None:
            self._counts["joined"] += 1
            return early[1]
        self._records.pop(record_id, None)  # a redelivered id waits once, with its newest payload
        self._records[record_id] = (ts, payload)
        self._evict(ts)
        return None

    def add_label(self, record_id: str, labels: typing.Any, ts: float) -> typing.Any | None:
        """Labels of ``record_id`` arrived: the waiting record's payload, else ``None`` (late, or waits).

        ``labels`` is kept as given (the labels, or the whole label message) and handed back by
        :meth:`add_record` when the record comes after it.
        """
        waiting = self._records.pop(record_id, None)
        if waiting is not None:
            self._counts["joined"] += 1
            return waiting[1]
        if record_id in self._expired_ids:
            self._counts["expired_labels"] += 1
            return None
        self._labels.pop(record_id, None)
        self._labels[record_id] = (ts, labels)
        self._evict(ts)
        return None

    def remember(self, record_id: str, payload: typing.Any, ts: float) -> None:
        """Record ``record_id`` has been learned: keep ``payload`` for a correction of its labels."""
        self._learned.pop(record_id, None)
        self._learned[record_id] = (ts, payload)
        self._evict(ts)

    def correction(self, record_id: str) -> typing.Any | None:
        """The payload remembered for ``record_id`` if it was learned (a correction, counted), else ``None``."""
        learned = self._learned.get(record_id)
        if learned is None:
            return None
        self._counts["corrections"] += 1
        return learned[1]

    def _evict(self, now: float) -> None:
        oldest = now - self.max_age_s
        while self._records and (len(self._records) > self.max_records or next(iter(self._records.values()))[0] < oldest):
            record_id, _ = self._records.popitem(last=False)
            self._counts["expired_records"] += 1
            self._expired_ids[record_id] = None
            if len(self._expired_ids) > self.max_records:
                self._expired_ids.popitem(last=False)
        while self._labels and (len(self._labels) > self.max_records or next(iter(self._labels.values()))[0] < oldest):
            self._labels.popitem(last=False)
            self._counts["unmatched_labels"] += 1
        while self._learned and (len(self._learned) > self.max_records or next(iter(self._learned.values()))[0] < oldest):
            self._learned.popitem(last=False)

    def counts(self) -> dict[str, int]:
        """Joined pairs; records and labels that left unjoined; corrections; records and labels waiting now."""
        return dict(self._counts) | {"waiting_records": len(self._records), "waiting_labels": len(self._labels)}
