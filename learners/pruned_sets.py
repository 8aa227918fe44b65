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

    ``max_classes`` bounds the classes further, and with them the base learner's memory and its
    cost per prediction (the default's is classes x features): only the most frequent label sets
    are classes. A label set that becomes frequent while the classes are full replaces the least
    counted class (the oldest among ties) once it has been seen more often than that class; until
    then its instances are re-introduced as their frequent subsets, like those of a rare set.

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
    max_classes
        Label sets kept as classes of the base learner, the most frequent ones; ``None``: every
        frequent tracked label set.
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

    STATE_LAYOUT = 2
    STATE_LAYOUT_CHANGE = (
        "pruned sets keeps its classes in admission order since 2026-12-03 (the max_classes bound)"
    )

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
        max_classes: int | None = None,
        seed: int | None = None,
    ):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_subsets < 1:
            raise ValueError(f"max_subsets must be >= 1, got {max_subsets}")
        if max_tracked < 1:
            raise ValueError(f"max_tracked must be >= 1, got {max_tracked}")
        if max_classes is not None and max_classes < 1:
            raise ValueError(f"max_classes must be >= 1 or None, got {max_classes}")
        self.classifier = classifier
        self.min_count = min_count
        self.max_subsets = max_subsets
        self.max_tracked = max_tracked
        self.max_classes = max_classes
        self.seed = seed
        self._reset()

    def _reset(self):
        base_learner = self.classifier if self.classifier is not None else SparseGaussianNB()
        self._classifier = base_learner.clone()
        self._labels: dict[typing.Hashable, None] = {}  # known labels, in order of appearance
        self._counts: dict[frozenset, int] = {}
        # The base learner's classes, in the order they were admitted (an insertion-ordered set).
        self._trained: dict[frozenset, None] = {}

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"min_count": 1, "max_subsets": 1, "max_tracked": 5}
        yield {"max_classes": 3}

    def _frequent_subsets(self, labelset: frozenset) -> list[frozenset]:
        # In count-table order, so that ties fall the same way whatever the classes' order.
        candidates = [s for s in self._counts if s in self._trained and s < labelset]
        candidates.sort(key=lambda s: (-len(s), -self._counts[s]))
        return candidates[: self.max_subsets]

    def _admit(self, labelset: frozenset, count: int) -> bool:
        """Make a newly frequent label set a class, evicting the least counted class (the oldest
        among ties) when the classes are full, if it has been seen more often than that one."""
        if self.max_classes is not None and len(self._trained) >= self.max_classes:
            weakest = min(self._trained, key=self._counts.__getitem__)
            if self._counts[weakest] >= count:
                return False
            self._drop_class(weakest)
        self._trained[labelset] = None
        return True

    def _count(self, labelset: frozenset) -> int:
        count = self._counts.get(labelset, 0) + 1
        if count == 1 and len(self._counts) >= self.max_tracked:
            self._forget(min(self._counts, key=self._counts.__getitem__))
        self._counts[labelset] = count
        return count

    def _forget(self, labelset: frozenset) -> None:
        del self._counts[labelset]
        if labelset in self._trained:
            self._drop_class(labelset)

    def _drop_class(self, labelset: frozenset) -> None:
        del self._trained[labelset]
        forget = getattr(self._classifier, "forget", None)
        if forget is not None:
            forget(labelset)

    def learn_one(self, x: Features, y: LabelDict) -> None:
        y = as_label_dict(y, self._labels)
        for label in y:
            self._labels.setdefault(label)
        labelset = frozenset(label for label, on in y.items() if on)
        count = self._count(labelset)
        if labelset in self._trained or (count >= self.min_count and self._admit(labelset, count)):
            targets = [labelset]
        else:
            targets = self._frequent_subsets(labelset)
        for target in targets:
            self._classifier.learn_one(x, target)

    def predict_proba_one(self, x: Features) -> dict:
        proba = dict.fromkeys(self._labels, 0.0)
        if not self._trained:
            return proba
        class_proba = self._classifier.predict_proba_one(x)
        total = 0
        trained = self._trained
        for labelset, p in class_proba.items():
            if labelset not in trained:
                continue
            total += p
            for label in labelset:
                proba[label] += p
        if total > 0:
            proba = {label: min(p / total, 1.0) for label, p in proba.items()}
        return proba

    @property
    def labelset_counts(self) -> collections.Counter:
        """Count of every tracked label set (as frozensets of labels)."""
        return collections.Counter(self._counts)
