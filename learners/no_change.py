"""The stickiness floor: predict the label set of the instance learned last."""

from __future__ import annotations

import typing

from learners.base import Features, Label, LabelDict, LabelMask, MultiLabelClassifier, as_label_dict

__all__ = ["NoChange"]


class NoChange(MultiLabelClassifier):
    """Predicts the label set of the previous instance learned from, whatever the features.

    On a stream stored in runs of equal label sets (a file sorted by class) this scores high
    without learning anything from the features; a learner that does not beat it there is only
    tracking recent label sets. ``predict_proba_one`` gives 1.0 for each known label that was on
    last time and 0.0 for the others.

    With partial feedback (:meth:`learn_one_masked`) only the judged labels are replaced; a label
    not judged keeps the value it had.

    Parameters
    ----------
    seed
        Unused: the baseline is deterministic. Accepted so that every catalogue entry is built
        the same way.

    Examples
    --------
    >>> model = NoChange()
    >>> model.predict_one({})
    {}
    >>> for y in [{"rock"}, {"rock", "pop"}, {"jazz"}]:
    ...     model.learn_one({"tempo": 120.0}, y)
    >>> model.predict_one({"tempo": 90.0})
    {'rock': False, 'pop': False, 'jazz': True}

    """

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._reset()

    def _reset(self):
        self._last: dict[Label, bool] = {}  # every known label, in order of appearance

    @classmethod
    def _unit_test_params(cls):
        yield {}

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        y = as_label_dict(y)
        for label in self._last:
            self._last[label] = False
        self._last.update(y)

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        y = as_label_dict(y)
        for label in self._last:
            if mask.judged(label):
                self._last[label] = False
        for label, on in y.items():
            if mask.judged(label):
                self._last[label] = on
            else:
                self._last.setdefault(label, False)

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        return {label: 1.0 if on else 0.0 for label, on in self._last.items()}
