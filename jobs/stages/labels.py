"""A learner stage's label space: full targets from the labels that are on, and partial-feedback masks."""

from __future__ import annotations

import typing

from learners.base import LabelMask


class LabelUniverse:
    """Turns a record's list of labels that are on into a full ``dict[label, bool]``.

    A record names only the labels that are on; the target a learner gets holds every label
    seen so far on the stream, this record's included, with the absent ones off.

    Examples
    --------
    >>> universe = LabelUniverse()
    >>> universe.target(("b",))
    {'b': True}
    >>> universe.target(("a",))
    {'b': False, 'a': True}

    """

    def __init__(self, labels: typing.Iterable[str] = ()):
        self._labels: dict[str, None] = dict.fromkeys(labels)  # insertion-ordered set

    @property
    def labels(self) -> list[str]:
        """The labels seen so far, in the order they were first seen."""
        return list(self._labels)

    @property
    def size(self) -> int:
        """Labels seen so far."""
        return len(self._labels)

    def unseen(self, labels: typing.Iterable[str]) -> set[str]:
        """Those of ``labels`` not seen so far."""
        return {label for label in labels if label not in self._labels}

    def target(self, on: typing.Iterable[str], judged_off: typing.Iterable[str] = ()) -> dict[str, bool]:
        """The full target of a record whose labels ``on`` are on; ``judged_off`` names labels
        judged off (partial feedback), which join the universe like the labels that are on."""
        on = set(on)
        for label in sorted(on | set(judged_off)):
            self._labels.setdefault(label, None)
        return dict(zip(self._labels, map(on.__contains__, self._labels)))


def label_mask(message) -> LabelMask | None:
    """The :class:`~learners.base.LabelMask` of a record or label update that says which labels
    were judged (``known`` / ``unknown``), ``None`` when every label was."""
    if message.known is not None:
        return LabelMask(known=frozenset(message.known))
    if message.unknown is not None:
        return LabelMask(unknown=frozenset(message.unknown))
    return None
