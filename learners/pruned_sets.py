"""Pruned sets: label powerset over the frequent label sets, online."""

from __future__ import annotations

import collections
import typing

from river import base as river_base
from learners.base import Features, LabelDict, MultiLabelClassifier, as_label_dict
from learners.sparse_gaussian_nb import SparseGaussianNB


class PrunedSets(MultiLabelClassifier):
    """Pruned sets (Read et al.): a multiclass learner over the label sets that are frequent.

    Every label set is counted as it arrives. An instance whose label set has been seen at least
    ``min_count`` times trains the multiclass learner with that label set as its class. An
    instance with a rarer label set is instead presented with (at most) ``max_subsets`` of the
    frequent label sets it contains, the largest first (ties: the more frequent first), which is
    the standard PS strategy of re-introducing pruned instances as frequent subsets. An instance
    with no frequent subset is counted but not trained on. The probability of a label is the
    summed probability of the classes (label sets) that contain it.

    The count table keeps at most ``max_tracked`` label sets: when a new one arrives in a full
    table, the least counted (the oldest among ties) is forgotten, and if it was a class of the
    base learner the class is dropped from it too (when the base learner has a ``forget`` method,
    as the default has). Memory is thus bounded by ``max_tracked`` label sets and as many classes.

    The default base learner is :class:`~learners.sparse_gaussian_nb.SparseGaussianNB`, a
    Gaussian naive Bayes vectorised over the classes that reads absent features as 0. Measured
    against river's ``GaussianNB`` as the base (1,500 instances, prequential): about 30x faster
    (river's cost grows with classes x features in Python), equal on dense yeast and scene, and far
    better on sparse enron (micro-F1 0.45 vs 0.22), because river's version ignores absent
    features. A Hoeffding tree over label-set classes was slower than both and no better.

    Parameters
    ----------
    classifier
        Multiclass river classifier over label sets (as frozensets); ``None`` means
        ``SparseGaussianNB()``. It is cloned, never trained in place.
    min_count
        A label set is frequent once seen this many times (``p`` in the paper).
    max_subsets
        Frequent subsets an instance with an infrequent label set is re-introduced as (``b``).
    max_tracked
        Label sets kept in the count table.
    seed
        Accepted for a uniform catalogue; pruned sets itself draws no random numbers.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> model, correct = PrunedSets(), 0
    >>> for i in range(400):
    ...     u = rng.random()
    ...     x = {"u": u}
    ...     y = {"a": u < 0.5, "b": u < 0.5, "c": u >= 0.5}
    ...     correct += model.predict_one(x) == y
    ...     model.learn_one(x, y)
    >>> correct > 350
    True

    References
    ----------
    J. Read, B. Pfahringer, G. Holmes, "Multi-label classification using ensembles of pruned sets",
    ICDM 2008.

    """

    _partial_labels_reason = "it learns whole label sets"

    @property
    def _predicts_label_sets(self) -> bool:
        """It predicts label sets it has seen, as a whole (iHOMER lets it serve whole groups)."""
        return True

    def __init__(
        self,
        classifier: river_base.Classifier | None = None,
        min_count: int = 2,
        max_subsets: int = 2,
        max_tracked: int = 1000,
        seed: int | None = None,
    ):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_subsets < 1:
            raise ValueError(f"max_subsets must be >= 1, got {max_subsets}")
        if max_tracked < 1:
            raise ValueError(f"max_tracked must be >= 1, got {max_tracked}")
        self.classifier = classifier
        self.min_count = min_count
        self.max_subsets = max_subsets
        self.max_tracked = max_tracked
        self.seed = seed
        self._reset()

    def _reset(self):
        base_learner = self.classifier if self.classifier is not None else SparseGaussianNB()
        self._classifier = base_learner.clone()
        self._labels: dict[typing.Hashable, None] = {}  # known labels, in order of appearance
        self._counts: dict[frozenset, int] = {}
        self._trained: set[frozenset] = set()

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"min_count": 1, "max_subsets": 1, "max_tracked": 5}

    def _frequent_subsets(self, labelset: frozenset) -> list[frozenset]:
        candidates = [
            s for s, count in self._counts.items()
            if count >= self.min_count and s < labelset
        ]
        candidates.sort(key=lambda s: (-len(s), -self._counts[s]))
        return candidates[: self.max_subsets]

    def _count(self, labelset: frozenset) -> int:
        count = self._counts.get(labelset, 0) + 1
        if count == 1 and len(self._counts) >= self.max_tracked:
            self._forget(min(self._counts, key=self._counts.__getitem__))
        self._counts[labelset] = count
        return count

    def _forget(self, labelset: frozenset) -> None:
        del self._counts[labelset]
        if labelset in self._trained:
            self._trained.discard(labelset)
            forget = getattr(self._classifier, "forget", None)
            if forget is not None:
                forget(labelset)

    def learn_one(self, x: Features, y: LabelDict) -> None:
        y = as_label_dict(y, self._labels)
        for label in y:
            self._labels.setdefault(label)
        labelset = frozenset(label for label, on in y.items() if on)
        if self._count(labelset) >= self.min_count:
            targets = [labelset]
        else:
            targets = self._frequent_subsets(labelset)
        for target in targets:
            self._classifier.learn_one(x, target)
            self._trained.add(target)

    def predict_proba_one(self, x: Features) -> dict:
        proba = dict.fromkeys(self._labels, 0.0)
        if not self._trained:
            return proba
        class_proba = self._classifier.predict_proba_one(x)
        for labelset, p in class_proba.items():
            if labelset not in self._trained:
                continue
            for label in labelset:
                proba[label] += p
        total = sum(p for labelset, p in class_proba.items() if labelset in self._trained)
        if total > 0:
            proba = {label: min(p / total, 1.0) for label, p in proba.items()}
        return proba

    @property
    def labelset_counts(self) -> collections.Counter:
        """Count of every tracked label set (as frozensets of labels)."""
        return collections.Counter(self._counts)
