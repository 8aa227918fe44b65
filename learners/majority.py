"""The floor every multi-label learner must beat: predict the most frequent label set."""

from __future__ import annotations

import collections
import typing

from learners.base import Features, Label, LabelDict, MultiLabelClassifier, as_label_dict

__all__ = ["MajorityLabelset"]


class MajorityLabelset(MultiLabelClassifier):
    """Predicts the label set seen most often so far, whatever the features.

    A label set is the set of labels that are on; the empty set counts like any other. When two
    label sets are seen equally often, the one that reached that count first is kept, so the
    prediction depends only on the order of the stream. ``predict_proba_one`` gives, for each
    known label, 1.0 if it is in the majority label set and 0.0 otherwise (not the label's own
    frequency), so that thresholding it reproduces the majority label set exactly.

    Parameters
    ----------
    seed
        Unused: the baseline is deterministic. Accepted so that every catalogue entry is built
        the same way.

    Examples
    --------
    >>> model = MajorityLabelset()
    >>> model.predict_one({})
    {}
    >>> for y in [{"rock"}, {"rock", "pop"}, {"rock", "pop"}, {"jazz"}]:
    ...     model.learn_one({"tempo": 120.0}, y)
    >>> model.predict_one({"tempo": 90.0})
    {'rock': True, 'pop': True, 'jazz': False}

    """

    _partial_labels_reason = "it counts whole label sets"

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._reset()

    def _reset(self):
        self._known: dict[Label, None] = {}  # insertion-ordered set
        self._counts: collections.Counter[frozenset] = collections.Counter()
        self._majority: frozenset = frozenset()
        self._majority_count = 0

    @classmethod
    def _unit_test_params(cls):
        yield {}

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        y = as_label_dict(y)
        for label in y:
            self._known.setdefault(label, None)
        labelset = frozenset(label for label, on in y.items() if on)
        self._counts[labelset] += 1
        # Strictly greater: on a tie the label set that got there first stays.
        if self._counts[labelset] > self._majority_count:
            self._majority = labelset
            self._majority_count = self._counts[labelset]

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        return {label: 1.0 if label in self._majority else 0.0 for label in self._known}
