"""When labels are first seen, go quiet and come back."""

from __future__ import annotations

import dataclasses

__all__ = ["LabelLife", "LabelLifecycle"]


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

    def update(self, index: int, on: set[str], ts: float | None = None) -> list[tuple[str, str]]:
        """Count one labelled record (``on``: its labels that are on); return ``(kind, label)`` changes."""
        changes = []
        initial = self.seen < self.warmup
        self.seen += 1
        for label in sorted(on):
            life = self.labels.get(label)
            if life is None:
                self.labels[label] = LabelLife(0 if initial else index, index, index, ts)
                if not initial:
                    changes.append(("label_born", label))
                continue
            if life.dormant:
                life.dormant = False
                life.since, life.count = index, 0
                changes.append(("label_revived", label))
            life.last_on, life.last_on_ts = index, ts
            life.count += 1
        for label, life in self.labels.items():
            if not life.dormant and label not in on and self._quiet(life, index, ts):
                life.dormant = True
                changes.append(("label_dormant", label))
        return changes

    def _quiet(self, life: LabelLife, index: int, ts: float | None) -> bool:
        if self.dormant_after is not None:
            mean_gap = (life.last_on - life.since + 1) / max(life.count, 1)
            if index - life.last_on >= max(self.dormant_after, self.dormant_factor * mean_gap):
                return True
        if self.dormant_after_s is not None and ts is not None and life.last_on_ts is not None:
            return ts - life.last_on_ts >= self.dormant_after_s
        return False

    def present(self) -> list[str]:
        """Labels seen so far and not dormant."""
        return [label for label, life in self.labels.items() if not life.dormant]
