"""When labels are first seen, go quiet and come back."""

from __future__ import annotations

import collections.abc
import dataclasses
import heapq
import math
import typing

__all__ = ["LabelLife", "LabelLifecycle", "labels_on"]

#: Largest exponent of the dormancy rule (see :meth:`LabelLifecycle._due_index`): exp(60) records
#: is beyond any stream, and keeps the due point a finite number.
UNLIKELY_CAP = 60.0


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
    """What is known about one label: when it was first and last on, how often, whether it is dormant
    (or, first seen after the warm-up, not yet known to be born)."""

    since: int  # index from which the label counts as present (0 for the initial label space)
    first_on: int
    last_on: int
    last_on_ts: float | None
    count: int = 1
    dormant: bool = False
    unborn: bool = False  # first seen after the warm-up, as a label that had always been there might be
    before: int = 0  # labelled records before its first time on
    first_on_ts: float | None = None


class LabelLifecycle:
    """Tracks every label that has been on, and says which are born, dormant or revived.

    A label on for the first time after ``warmup`` labelled records (before that it is part of the
    initial label space) is *born* once its occurrences are unlikely for a label that had always
    been there at one rate: ``k`` occurrences since its first, in the last ``m`` of ``n`` labelled
    records, all fall there with probability ``(m / n) ** k``, and it is born once that is
    ``exp(-born_factor)`` divided by the number of labels first seen after the warm-up so far, or
    less: each of them was put to the same test, and in a long-tailed label space hundreds are (on
    delicious, with 983 labels, a rare label seen late by chance was born every few hundred records
    under ``exp(-born_factor)`` alone). A new label on often is born at its second to fourth time
    on; a rare label of a long-tailed label space, first seen late by chance, is not. A label not yet
    born is never dormant. A label is *dormant* once it has not been on for
    ``dormant_after`` labelled records and its silence is unlikely at its own rate: had it kept
    the rate at which it was on since it appeared (``k`` times in ``span`` records, up to its last
    time), all ``k`` would have fallen before a silence of ``gap`` records with probability
    ``(span / (span + gap)) ** k``, and it is dormant once that is ``exp(-dormant_factor)`` or
    less. For a frequent label that is about ``dormant_factor`` of its mean gaps (``span / k``);
    a label seen a few times only needs a far longer silence, since a few occurrences say little
    about its rate (a label seen once, in effect never). Or, with ``dormant_after_s``, a
    label is dormant after that many seconds of event time without it. A dormant label that is on
    again is *revived*; its occurrences and silence before count on toward its rate.

    Parameters
    ----------
    warmup
        Labelled records that make up the initial label space.
    dormant_after
        Fewest labelled records without the label before it is dormant; ``None``: never by count.
    dormant_factor
        How unlikely the silence must be at the label's own rate (``exp(-dormant_factor)``): for a
        frequent label, about this many of its mean gaps; rare labels are not called dormant
        between two normal occurrences.
    dormant_after_s
        Seconds of event time without the label after which it is dormant; ``None``: never by time.
    born_factor
        How unlikely a late label's occurrences must be for a label that had always been there
        (``exp(-born_factor)``, over the number of late labels); ``0``: born when first on.

    Examples
    --------
    >>> life = LabelLifecycle(warmup=2, dormant_after=3, dormant_factor=1.0, born_factor=1.0)
    >>> [life.update(i, labels) for i, labels in enumerate([{"a"}, {"a"}, {"a", "b"}, {"a"}, {"a"}, {"a"}, {"a"}, {"b"}])]
    [[], [], [('label_born', 'b')], [], [], [('label_dormant', 'b')], [], [('label_revived', 'b')]]

    """

    def __init__(
        self,
        warmup: int = 200,
        dormant_after: int | None = 1000,
        dormant_factor: float = 10.0,
        dormant_after_s: float | None = None,
        born_factor: float = 10.0,
    ):
        if warmup < 0 or (dormant_after is not None and dormant_after < 1) or min(dormant_factor, born_factor) < 0:
            raise ValueError("warmup, dormant_factor and born_factor must be >= 0 and dormant_after >= 1")
        if dormant_after_s is not None and dormant_after_s <= 0:
            raise ValueError(f"dormant_after_s must be > 0, got {dormant_after_s}")
        self.warmup = warmup
        self.dormant_after = dormant_after
        self.dormant_factor = dormant_factor
        self.dormant_after_s = dormant_after_s
        self.born_factor = born_factor
        self.labels: dict[str, LabelLife] = {}
        self.seen = 0
        self.late = 0  # labels first seen after the warm-up: each was tested for birth
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
                life = self.labels[label] = LabelLife(0 if initial else index, index, index, ts, unborn=not initial,
                                                      before=self.seen - 1, first_on_ts=ts)
                self._order[label] = len(self._order)
                self.late += not initial
            else:
                life.last_on, life.last_on_ts = index, ts
                life.count += 1
            if life.unborn:
                evidence = life.count * math.log(self.seen / (self.seen - life.before))
                if self.born_factor and evidence < self.born_factor + math.log(self.late):
                    continue  # as likely a rare label seen late: not born yet, not watched for silence
                life.unborn = False
                changes.append(("label_born", label))
            if life.dormant:
                # Its rate is still counted from its first appearance: one occurrence after a long
                # silence does not make it a label seen once (which would never fall quiet again).
                life.dormant = False
                changes.append(("label_revived", label))
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
        span = life.last_on - life.since + 1
        # (span / (index - since + 1)) ** count <= exp(-dormant_factor), in whole records. The
        # exponent's cap is far beyond any stream's length (a label seen once: never, in effect).
        unlikely = life.since - 1 + math.ceil(span * math.exp(min(self.dormant_factor / max(life.count, 1), UNLIKELY_CAP)))
        return max(life.last_on + self.dormant_after, unlikely)

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
        self.__dict__.update(state)
        # Pickled when labels were born when first on: every label seen is born.
        self.__dict__.setdefault("born_factor", 0.0)
        self.__dict__.setdefault("late", sum(life.since > 0 for life in state["labels"].values()))
        for life in self.labels.values():
            if not hasattr(life, "unborn"):
                life.unborn, life.before, life.first_on_ts = False, 0, None
        # Pickled before the due queues existed: queue every label that is not dormant.
        if "_due" not in state:
            self._due, self._due_s, self._queued, self._queued_s = [], [], {}, {}
            self._order = {label: n for n, label in enumerate(self.labels)}
            for label, life in self.labels.items():
                if not life.dormant:
                    self._schedule(label, life)

    def present(self) -> list[str]:
        """Labels seen so far, born and not dormant."""
        return [label for label, life in self.labels.items() if not (life.dormant or life.unborn)]
