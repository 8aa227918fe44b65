"""MLHAT's split scoring: one Gaussian per (feature, class), as the MLHAT reference implementation.

The reference MLHAT (Esteban et al.'s code, as released with iHOMER) scores splits with river's
``GaussianSplitter`` over *classes*: each label that is on, a pseudo-class ``empty`` for instances
with no label on, and a pseudo-class ``total`` that every instance updates. Per (feature, class) it
keeps a Gaussian of the values the instances carry (zeros included when the instance carries them:
every feature of a dense row, none of a sparse row's absent ones) and the smallest and largest
value. A candidate threshold sends a class's whole weight to one side when it lies outside that
class's own range, and splits it by the Gaussian's CDF otherwise. Each side's entropy is the sum
of the binary entropies of its labels (``empty`` included), each label's weight divided by the
side's largest class weight, and a side that holds one class besides ``total`` counts as pure.

These rules make the merit differ from MLHT's (:mod:`learners.split_criterion`, which models
zeros as a point mass and clips labels to one range per feature) in ways that decide when and
where the tree splits: on a feature with a few extreme values, a class whose range excludes them
leaves a side nearly empty of labels but not of ``total``, which reads as a very pure side. MLHAT
follows the reference so that its trees grow as the reference's do (see
``benchmarks/results/fidelity.md``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

from learners.multilabel_tree import Instance, grow

#: Candidate thresholds per feature (river's ``GaussianSplitter`` default).
N_SPLITS = 10
#: Class slots before the labels: every instance updates TOTAL, label-less instances EMPTY.
TOTAL, EMPTY, FIRST_LABEL = 0, 1, 2
#: Upper bound on the size of the temporary (features x thresholds x classes) arrays of one attempt.
_CHUNK_ELEMENTS = 400_000


def class_entropy(weights: np.ndarray) -> float:
    """Entropy of a node's class weights ``[total, empty, label...]`` as the reference computes it.

    The sum of the binary entropies of every class but ``total`` (``empty`` included), each weight
    divided by the largest weight; 0 when the node has one class besides ``total``.

    >>> round(class_entropy(np.array([10.0, 0.0, 5.0, 10.0])), 4)
    1.0
    >>> class_entropy(np.array([10.0, 0.0, 5.0]))
    0.0

    """
    present = weights > 0
    present[TOTAL] = True
    return float(_side_entropy(weights[None, :], present[None, :])[0])


def _side_entropy(weights: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Entropy of many sides at once: ``weights`` and ``present`` (..., classes), class 0 is total."""
    n_present = present.sum(axis=-1)
    top = np.where(present, weights, -np.inf).max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(present & (weights > 0.0), weights / top, 0.0)
    p[..., TOTAL] = 0.0
    p = np.where(p >= 1.0, 0.0, p)  # a class as heavy as the side adds nothing
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(p > 0, q * np.log2(q), 0.0))
    return np.where(n_present == 2, 0.0, h.sum(axis=-1))


@dataclasses.dataclass(frozen=True, slots=True)
class ClassSplit:
    """The best threshold of one feature: ``x[feature] <= threshold`` goes left."""

    column: int
    threshold: float
    merit: float
    left: np.ndarray  # estimated class weights [total, empty, labels...] on the left
    right: np.ndarray


class ClassGaussianObservers:
    """Per-leaf observers: weight, sum, sum of squares, smallest and largest value per (feature, class).

    Parameters
    ----------
    n_splits
        Candidate thresholds per feature, evenly spaced strictly inside its observed range.
    min_branch_fraction
        A split is valid when each side holds more than this fraction of the class weight.
    """

    def __init__(self, n_splits: int = N_SPLITS, min_branch_fraction: float = 0.01):
        self.n_splits = n_splits
        self.min_branch_fraction = min_branch_fraction
        self._moments = np.zeros((8, 4, 3))  # (feature, class): weight, sum, sum of squares
        self._low = np.full((8, 4), np.inf)
        self._high = np.full((8, 4), -np.inf)

    @property
    def nbytes(self) -> int:
        return self._moments.nbytes + self._low.nbytes + self._high.nbytes

    def _reserve(self, n_features: int, n_classes: int) -> None:
        old = self._low.shape
        shape = (max(n_features, old[0]), max(n_classes, old[1]))
        if shape == old:
            return
        self._moments = grow(self._moments, (*shape, 3))
        self._low = grow(self._low, shape)
        self._high = grow(self._high, shape)
        for array, fill in ((self._low, np.inf), (self._high, -np.inf)):
            array[old[0]:, :] = fill
            array[:, old[1]:] = fill

    def update(self, inst: Instance, weight: float) -> None:
        """Learn one instance: the features it carries, its zeros included (``inst.zeros``)."""
        cols, vals = inst.cols, inst.vals
        if inst.zeros is not None:
            cols = np.concatenate([cols, inst.zeros])
            vals = np.concatenate([vals, np.zeros(len(inst.zeros))])
        if not len(cols):
            return
        classes = np.concatenate([[TOTAL], inst.positive + FIRST_LABEL]) if len(inst.positive) else np.array([TOTAL, EMPTY])
        self._reserve(int(cols.max()) + 1, int(classes[-1]) + 1)
        update = np.empty((len(cols), 1, 3))
        update[:, 0, 0] = weight
        update[:, 0, 1] = weight * vals
        update[:, 0, 2] = update[:, 0, 1] * vals
        rows, where = cols[:, None], classes[None, :]
        self._moments[rows, where] += update
        self._low[rows, where] = np.minimum(self._low[rows, where], vals[:, None])
        self._high[rows, where] = np.maximum(self._high[rows, where], vals[:, None])

    def best_splits(self, prior: np.ndarray) -> list[ClassSplit]:
        """The best threshold of every feature that has one, by merit against ``prior`` (largest first).

        ``prior`` holds the leaf's class weights ``[total, empty, labels...]`` (with what it
        inherited at its creation): the entropy a split must lower.
        """
        n_features, n_classes = self._low.shape
        seen = self._moments[:, :, 0] > 0  # (F, C): classes with a Gaussian for the feature
        low = np.where(seen, self._low, np.inf).min(axis=1)
        high = np.where(seen, self._high, -np.inf).max(axis=1)
        usable = np.flatnonzero(high > low)
        if not len(usable):
            return []
        prior_entropy = class_entropy(prior)
        steps = np.arange(1, self.n_splits + 1) / (self.n_splits + 1.0)
        chunk = max(1, _CHUNK_ELEMENTS // (self.n_splits * n_classes))
        out = []
        for start in range(0, len(usable), chunk):
            feats = usable[start:start + chunk]
            thresholds = low[feats, None] + (high - low)[feats, None] * steps[None, :]
            valid = (thresholds > low[feats, None]) & (thresholds < high[feats, None])
            out.extend(self._score(feats, thresholds, valid, prior_entropy))
        out.sort(key=lambda split: (-split.merit, -split.column))  # ties: the later feature, as river's sort
        return out

    def _score(self, feats, thresholds, valid, prior_entropy) -> list[ClassSplit]:
        moments = self._moments[feats][:, None, :, :]  # (F, 1, C, 3)
        n, total, squares = moments[..., 0], moments[..., 1], moments[..., 2]
        seen = n > 0
        low, high = self._low[feats][:, None, :], self._high[feats][:, None, :]
        t = thresholds[:, :, None]  # (F, T, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(seen, total / n, 0.0)
            # river's Gaussian: variance with one degree of freedom removed; none below two instances.
            variance = np.where(n > 1, (squares - n * mean * mean) / (n - 1), 0.0)
            sigma = np.sqrt(np.maximum(variance, 0.0))
            cdf = np.where(sigma > 0, special.ndtr((t - mean) / np.where(sigma > 0, sigma, 1.0)), 0.0)
        below, above = t < low, t >= high
        inside = seen & ~below & ~above
        left = np.where(inside, cdf * n, np.where(seen & above, n, 0.0))
        right = np.where(inside, n - left, np.where(seen & below, n, 0.0))
        # A class is a key of a side when the threshold leaves some of its range there.
        left_present = seen & ~below
        right_present = seen & ~above
        left_entropy = _side_entropy(left, left_present)
        right_entropy = _side_entropy(right, right_present)
        left_total, right_total = left[..., TOTAL], right[..., TOTAL]
        with np.errstate(divide="ignore", invalid="ignore"):
            post = (left_total * left_entropy + right_total * right_entropy) / (left_total + right_total)
        # Each side must hold more than min_branch_fraction of the class weight (total aside).
        left_sum, right_sum = left[..., TOTAL + 1:].sum(axis=-1), right[..., TOTAL + 1:].sum(axis=-1)
        both = left_sum + right_sum
        with np.errstate(divide="ignore", invalid="ignore"):
            balanced = (both > 0) & (left_sum / both > self.min_branch_fraction) & (right_sum / both > self.min_branch_fraction)
        merit = np.where(valid & balanced & np.isfinite(post), prior_entropy - post, -np.inf)
        best = merit.argmax(axis=1)  # the first of equal merits, as river keeps the first
        out = []
        rows = np.arange(len(feats))
        for i in np.flatnonzero(np.isfinite(merit[rows, best])):
            b = best[i]
            out.append(ClassSplit(int(feats[i]), float(thresholds[i, b]), float(merit[i, b]), left[i, b], right[i, b]))
        return out
