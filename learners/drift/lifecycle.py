"""When labels are first seen, go quiet and come back."""

from __future__ import annotations

import collections.abc
import dataclasses
import heapq
import math
import typing

__all__ = ["LabelLife", "LabelLifecycle", "labels_on"]


def labels_on(y: typing.Mapping[str, bool] | typing.Iterable[str]) -> set[str]:
    """The labels that are on, as strings, of a ``dict[label, bool]`` or of the labels that are on.

    >>> sorted(labels_on({"a": True, 2: True, "c": False})), sorted(labels_on(["b"]))
    (['2', 'a'], ['b'])
    """
    if isinstance(y, collections.abc.Mapping):
        return {str(label) for label, value in y.items() if value}
    return {str(label) for label in y}


@dataclasses.dataclass(slots=True)
class LabelLife:
    """What is known about one label: when it was first and last on, how often, whether it is dormant."""

    since: int  # index from which the label counts as present (0 for the initial label space)
    first_on: int
    last_on: int
    last_on_ts: float | None
    count: int = 1
    dormant: bool = False


class LabelLifecycle:
    """Tracks every label that has been on, and says which are born, dormant or revived.

    A label on for the first time after ``warmup`` labelled records is *born* (before that it is
    part of the initial label space). A label is *dormant* once it has not been on for
    ``max(dormant_after, dormant_factor * its mean gap)`` labelled records, where its mean gap is
    the records per occurrence since it appeared; or, with ``dormant_after_s``, for that many
    seconds of event time. A dormant label that is on again is *revived*.

    Parameters
    ----------
    warmup
        Labelled records that make up the initial label space.
    dormant_after
        Fewest labelled records without the label before it is dormant; ``None``: never by count.
    dormant_factor
        A label is dormant only after this many of its own mean gaps without it, so rare labels are
        not called dormant between two normal occurrences.
    dormant_after_s
        Seconds of event time without the label after which it is dormant; ``None``: never by time.

    Examples
    --------
    >>> life = LabelLifecycle(warmup=2, dormant_after=3, dormant_factor=1.0)
    >>> [life.update(i, labels) for i, labels in enumerate([{"a"}, {"a"}, {"a", "b"}, {"a"}, {"a"}, {"a"}, {"a"}, {"b"}])]
    [[], [], [('label_born', 'b')], [], [], [('label_dormant', 'b')], [], [('label_revived', 'b')]]

    """

    def __init__(
        self,
        warmup: int = 200,
        dormant_after: int | None = 1000,
        dormant_factor: float = 10.0,
        dormant_after_s: float | None = None,
    ):
        if warmup < 0 or (dormant_after is not None and dormant_after < 1) or dormant_factor < 0:
            raise ValueError("warmup and dormant_factor must be >= 0 and dormant_after >= 1")
        if dormant_after_s is not None and dormant_after_s <= 0:
            raise ValueError(f"dormant_after_s must be > 0, got {dormant_after_s}")
        self.warmup = warmup
        self.dormant_after = dormant_after
        self.dormant_factor = dormant_factor
        self.dormant_after_s = dormant_after_s
        self.labels: dict[str, LabelLife] = {}
        self.seen = 0
        # When each label that is not dormant falls quiet, by count and by event time: a record
        # looks only at the labels due, not at every label (stale entries are skipped).
        self._due: list[tuple[int, str]] = []
        self._due_s: list[tuple[float, str]] = []
        self._queued: dict[str, int] = {}  # label -> its live entry in _due (and in _due_s)
        self._queued_s: dict[str, float] = {}
        self._order: dict[str, int] = {}  # first-seen order: changes are listed in it

    def update(self, index: int, on: set[str], ts: float | None = None) -> list[tuple[str, str]]:
        """Count one labelled record (``on``: its labels that are on); return ``(kind, label)`` changes."""
        changes = []
        initial = self.seen < self.warmup
        self.seen += 1
        for label in sorted(on):
            life = self.labels.get(label)
            if life is None:
                life = self.labels[label] = LabelLife(0 if initial else index, index, index, ts)
                self._order[label] = len(self._order)
                if not initial:
                    changes.append(("label_born", label))
                self._schedule(label, life)
                continue
            if life.dormant:
                life.dormant = False
                life.since, life.count = index, 0
                changes.append(("label_revived", label))
            life.last_on, life.last_on_ts = index, ts
            life.count += 1
            self._schedule(label, life)
        quiet = self._pop_due(self._due, self._queued, index, self._due_index)
        if ts is not None:
            quiet |= self._pop_due(self._due_s, self._queued_s, ts, self._due_time)
        for label in sorted(quiet, key=self._order.__getitem__):
            self.labels[label].dormant = True
            changes.append(("label_dormant", label))
        return changes

    def _due_index(self, life: LabelLife) -> int | None:
        """First record index at which the label counts as quiet by count (``None``: never)."""
        if self.dormant_after is None:
            return None
        mean_gap = (life.last_on - life.since + 1) / max(life.count, 1)
        # Records are counted in whole numbers: quiet once index - last_on >= the (real) span.
        return life.last_on + math.ceil(max(self.dormant_after, self.dormant_factor * mean_gap))

    def _due_time(self, life: LabelLife) -> float | None:
        """Event time at which the label counts as quiet (``None``: never by time)."""
        if self.dormant_after_s is None or life.last_on_ts is None:
            return None
        return life.last_on_ts + self.dormant_after_s

    def _schedule(self, label: str, life: LabelLife) -> None:
        """Queue the label's due points unless an entry at or before them is queued already."""
        # Written out for each queue: it runs for every label on in every record.
        if self.dormant_after is not None:
            due = self._due_index(life)
            if due < self._queued.get(label, math.inf):
                self._queued[label] = due  # an older, later entry is now superseded
                heapq.heappush(self._due, (due, label))
        if self.dormant_after_s is not None and life.last_on_ts is not None:
            due = life.last_on_ts + self.dormant_after_s
            if due < self._queued_s.get(label, math.inf):
                self._queued_s[label] = due
                heapq.heappush(self._due_s, (due, label))

    def _pop_due(self, heap: list, queued: dict, now, due_of) -> set[str]:
        """Labels whose due point has come. An entry that later times on moved back is queued again
        at the new point (so each label has about one entry, not one per time it was on)."""
        quiet = set()
        while heap and heap[0][0] <= now:
            entry, label = heapq.heappop(heap)
            if queued.get(label) != entry:
                continue  # superseded by an earlier entry
            del queued[label]
            life = self.labels[label]
            due = None if life.dormant else due_of(life)
            if due is not None and due <= now:
                quiet.add(label)
            elif due is not None:
                queued[label] = due
                heapq.heappush(heap, (due, label))
        return quiet

    def __setstate__(self, state: dict) -> None:
        # Pickled before the due queues existed: queue every label that is not dormant.
        self.__dict__.update(state)
        if "_due" not in state:
            self._due, self._due_s, self._queued, self._queued_s = [], [], {}, {}
            self._order = {label: n for n, label in enumerate(self.labels)}
            for label, life in self.labels.items():
                if not life.dormant:
                    self._schedule(label, life)

    def present(self) -> list[str]:
        """Labels seen so far and not dormant."""
        return [label for label, life in self.labels.items() if not life.dormant]
