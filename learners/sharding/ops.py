"""The operations a sharded model runs, in stream order.

One record scored prequentially is ``[Predict(x), Learn(x, y)]``; a label that arrives late is a
``Learn`` alone; a partial label (some labels judged) is a ``Learn`` with a
:class:`~learners.base.LabelMask`.
"""

from __future__ import annotations

import dataclasses
import typing

from learners.base import Features, Label, LabelDict, LabelMask


@dataclasses.dataclass(frozen=True, slots=True)
class Predict:
    """Predict the probability of each known label for ``x`` (the learner's ``predict_proba_one``).

    Examples
    --------
    >>> Predict({"u": 1.0})
    Predict(x={'u': 1.0})

    """

    x: Features


@dataclasses.dataclass(frozen=True, slots=True)
class Learn:
    """Learn ``y`` for ``x``: ``learn_one``, or ``learn_one_masked`` when ``mask`` is given.

    Parameters
    ----------
    x
        The record's features.
    y
        Its labels, a ``dict[label, bool]`` or the set of labels that are on.
    mask
        Which labels were judged (partial feedback); ``None`` when every label was.

    Examples
    --------
    >>> Learn({"u": 1.0}, {"a": True}).mask is None
    True

    """

    x: Features
    y: LabelDict | typing.AbstractSet[Label]
    mask: LabelMask | None = None

    def teach(self, learner) -> None:
        """Teach ``learner`` this op: ``learn_one``, or ``learn_one_masked`` with the mask."""
        if self.mask is None:
            learner.learn_one(self.x, self.y)
        else:
            learner.learn_one_masked(self.x, self.y, self.mask)


Op = typing.Union[Predict, Learn]


def check_ops(ops: typing.Sequence) -> None:
    """Refuse anything that is not a :class:`Predict` or a :class:`Learn`, naming its position."""
    for position, op in enumerate(ops):
        if not isinstance(op, (Predict, Learn)):
            raise TypeError(f"op {position} must be a Predict or a Learn, got {type(op).__name__}")
