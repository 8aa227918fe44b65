"""The multi-label split criterion: attribute observers, split scoring and the Hoeffding test.

The trees see labels as a multivariate Bernoulli vector: the impurity of a node is the sum over
labels of the binary entropy of ``p_l = P(label l on | node)``, and a split's merit is the drop of
that sum (iHOMER spec, section 3.1).

Attribute observers keep, per feature, the weight, sum and sum of squares of the *non-zero* values,
overall and per positive label. Zeros are implicit: the weight of zeros is the node's weight (or
the label's positive weight) minus the non-zero weight. A numeric split is scored by modelling a
feature as a point mass at 0 plus a Gaussian over its non-zero values, which is exact for the zeros
of sparse data and reduces to river's Gaussian splitter on dense data.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import special

from learners.multilabel_tree import Instance, grow

#: Number of candidate thresholds tried per feature (as river's Gaussian splitter).
N_THRESHOLDS = 10
#: Upper bound on the size of the temporary (features x thresholds x labels) arrays of a split attempt.
_CHUNK_ELEMENTS = 400_000


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits; 0 at p in {0, 1}.

    >>> [round(float(v), 4) for v in binary_entropy(np.array([0.0, 0.5, 0.25, 1.0]))]
    [0.0, 1.0, 0.8113, 0.0]

    """
    p = np.clip(p, 0.0, 1.0)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0)
    return 0.0 - h


def label_entropy(label_weights: np.ndarray, weight: float) -> float:
    """Sum over labels of the binary entropy of ``label_weight / weight`` (0 for an empty node).

    >>> label_entropy(np.array([5.0, 10.0, 0.0]), 10.0)
    1.0

    """
    if weight <= 0:
        return 0.0
    p = label_weights / weight
    p = p[(p > 0) & (p < 1)]
    q = 1.0 - p
    return 0.0 - float(p @ np.log2(p) + q @ np.log2(q))


def hoeffding_bound(value_range: float, delta: float, n: float) -> float:
    """Hoeffding bound: with probability 1 - delta the mean of n draws is within this of the truth.

    >>> round(hoeffding_bound(1.0, 1e-7, 200), 4)
    0.2007

    """
    return math.sqrt(value_range * value_range * math.log(1.0 / delta) / (2.0 * n))


def merit_range(n_outcomes: int) -> float:
    """Range of the multi-label information gain: log2 of the outcomes counted, 1 when <= 2.

    MLHT counts the labels a leaf has seen, MLHAT its distinct label sets (as the reference).
    """
    return math.log2(n_outcomes) if n_outcomes > 2 else 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class SplitSuggestion:
    """The best binary split of one feature: ``x[feature] <= threshold`` goes left."""

    column: int
    threshold: float
    merit: float
    left_weight: float
    right_weight: float
    label_columns: np.ndarray  # labels neither always on nor always off in the node
    left_label_weights: np.ndarray  # their estimated positive weight in the left branch

    def children_label_weights(self, label_weights: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
        """Estimated positive weight of every label in the left and the right branch."""
        left = np.where(label_weights >= weight, self.left_weight, 0.0)
        left[self.label_columns] = self.left_label_weights
        return left, np.clip(label_weights - left, 0.0, None)


class GaussianObservers:
    """Per-leaf attribute observers: moments of the non-zero values of each feature, per label.

    Parameters
    ----------
    n_thresholds
        Candidate thresholds per feature, evenly spaced between its smallest and largest value.
    min_branch_fraction
        A split is only valid when both branches get more than this fraction of the weight.
    """

    def __init__(self, n_thresholds: int = N_THRESHOLDS, min_branch_fraction: float = 0.01):
        self.n_thresholds = n_thresholds
        self.min_branch_fraction = min_branch_fraction
        # Per feature: weight, sum and sum of squares of its non-zero values, then min and max.
        self._moments = np.zeros((8, 3))
        self._range = np.array([[np.inf, -np.inf]] * 8)
        # Per (feature, label): the same moments over the instances where the label is on.
        self._label_moments = np.zeros((8, 4, 3))

    @property
    def nbytes(self) -> int:
        return self._moments.nbytes + self._range.nbytes + self._label_moments.nbytes

    def update(self, inst: Instance, weight: float) -> None:
        cols, vals = inst.cols, inst.vals
        if not len(cols):
            return
        n_features = int(cols.max()) + 1
        if n_features > self._moments.shape[0]:
            old = self._range.shape[0]
            self._moments = grow(self._moments, (n_features, 3))
            self._range = grow(self._range, (n_features, 2))
            self._range[old:] = (np.inf, -np.inf)
        pos = inst.positive
        if len(pos):
            shape = (max(n_features, self._label_moments.shape[0]), int(pos[-1]) + 1, 3)
            self._label_moments = grow(self._label_moments, shape)
        if 2 * len(cols) >= n_features:
            # Mostly dense instance: slices over the first n_features columns beat fancy indexing.
            dense = np.zeros(n_features)
            dense[cols] = vals
            update = np.empty((n_features, 3))
            update[:, 0] = 0.0
            update[cols, 0] = weight
            update[:, 1] = weight * dense
            update[:, 2] = update[:, 1] * dense
            self._moments[:n_features] += update
            present = update[:, 0] > 0
            seen = self._range[:n_features]
            seen[:, 0] = np.minimum(seen[:, 0], np.where(present, dense, np.inf))
            seen[:, 1] = np.maximum(seen[:, 1], np.where(present, dense, -np.inf))
            if len(pos):
                self._label_moments[:n_features, pos] += update[:, None, :]
            return
        update = np.empty((len(cols), 3))
        update[:, 0] = weight
        update[:, 1] = weight * vals
        update[:, 2] = update[:, 1] * vals
        self._moments[cols] += update
        seen = self._range[cols]
        seen[:, 0] = np.minimum(seen[:, 0], vals)
        seen[:, 1] = np.maximum(seen[:, 1], vals)
        self._range[cols] = seen
        if len(pos):
            self._label_moments[cols[:, None], pos] += update[:, None, :]

    def best_splits(self, weight: float, label_weights: np.ndarray) -> list[SplitSuggestion]:
        """Best split per feature, sorted by merit (largest first); features that cannot split are left out."""
        # Labels that are always off or always on cannot gain anything: leave them out of the arrays.
        labels = np.flatnonzero((label_weights > 0) & (label_weights < weight))
        if not len(labels) or weight <= 0:
            return []
        moments = self._moments
        fmin, fmax = self._range[:, 0], self._range[:, 1]
        nonzero = moments[:, 0]
        zeros = weight - nonzero
        min_weight = self.min_branch_fraction * weight
        # Any split sends at most the non-zero weight to one side, so features whose non-zero
        # weight is within the minimum branch weight cannot split (most words of a sparse text set).
        usable = (nonzero > min_weight) & ((zeros > 1e-9) | (fmax > fmin))
        # A feature with one non-zero value (binary, one-hot) has a single distinct split: 0 vs the value.
        single = usable & (fmin == fmax)
        general = usable & ~single
        steps = np.arange(1, self.n_thresholds + 1) / (self.n_thresholds + 1)
        context = (labels, label_weights[labels], weight, label_entropy(label_weights, weight))
        suggestions = []
        for group, n_thresholds in ((np.flatnonzero(single), 1), (np.flatnonzero(general), self.n_thresholds)):
            chunk = max(1, _CHUNK_ELEMENTS // (n_thresholds * len(labels)))
            for start in range(0, len(group), chunk):
                feats = group[start:start + chunk]
                if n_thresholds == 1:
                    thresholds = fmin[feats, None] / 2.0
                else:
                    has_zeros = zeros[feats] > 1e-9
                    lo = np.where(has_zeros, np.minimum(fmin[feats], 0.0), fmin[feats])
                    hi = np.where(has_zeros, np.maximum(fmax[feats], 0.0), fmax[feats])
                    thresholds = lo[:, None] + (hi - lo)[:, None] * steps[None, :]
                suggestions.extend(self._score(feats, thresholds, *context))
        suggestions.sort(key=lambda s: -s.merit)
        return suggestions

    def _score(self, feats, thresholds, labels, n_lab, weight, prior_entropy):
        """Merit of every (feature, threshold) in ``thresholds`` (shape (F, T)); best per feature."""
        moments = self._moments[feats]
        nz = moments[:, 0]
        zeros = weight - nz
        fmin, fmax = self._range[feats, 0][:, None], self._range[feats, 1][:, None]
        zero_left = (thresholds >= 0).astype(float)  # (F, T)
        left_total = zeros[:, None] * zero_left + nz[:, None] * _nonzero_cdf(
            nz[:, None], moments[:, 1:2], moments[:, 2:3], thresholds, fmin, fmax
        )
        left_total = np.clip(left_total, 0.0, weight)
        right_total = weight - left_total

        lab = np.zeros((len(feats), len(labels), 3))
        in_cap = labels < self._label_moments.shape[1]
        f_in = feats < self._label_moments.shape[0]
        if in_cap.any() and f_in.any():
            lab[np.ix_(np.flatnonzero(f_in), np.flatnonzero(in_cap))] = self._label_moments[
                np.ix_(feats[f_in], labels[in_cap])
            ]
        lab_nz = lab[:, None, :, 0]
        lab_zero = n_lab - lab_nz  # (F, 1, L)
        left_lab = lab_zero * zero_left[:, :, None]
        has_nonzero = lab_nz > 0
        if has_nonzero.any():
            left_lab = left_lab + lab_nz * _nonzero_cdf(
                lab_nz, lab[:, None, :, 1], lab[:, None, :, 2],
                thresholds[:, :, None], fmin[:, :, None], fmax[:, :, None],
            )
        # Label and branch estimates come from different Gaussians: keep them consistent.
        left_lab = np.minimum(np.clip(left_lab, 0.0, n_lab), left_total[:, :, None])
        right_lab = np.minimum(n_lab - left_lab, right_total[:, :, None])
        # Weighted entropy of a branch with weight T and label weights a_l, without divisions:
        # T * sum_l h(a_l / T) = sum_l [xlogx(T) - xlogx(a_l) - xlogx(T - a_l)].
        n_labels = len(labels)
        weighted = (
            n_labels * (_xlogx(left_total) + _xlogx(right_total))
            - _xlogx(left_lab).sum(axis=2) - _xlogx(left_total[:, :, None] - left_lab).sum(axis=2)
            - _xlogx(right_lab).sum(axis=2) - _xlogx(right_total[:, :, None] - right_lab).sum(axis=2)
        )
        # Labels left out of the arrays have zero entropy on both sides, so the sums are complete.
        merit = prior_entropy - weighted / (weight * math.log(2.0))
        min_w = self.min_branch_fraction * weight
        merit = np.where((left_total > min_w) & (right_total > min_w), merit, -np.inf)
        best_t = merit.argmax(axis=1)
        out = []
        for i in np.flatnonzero(np.isfinite(merit[np.arange(len(feats)), best_t])):
            t = best_t[i]
            out.append(SplitSuggestion(
                column=int(feats[i]),
                threshold=float(thresholds[i, t]),
                merit=float(merit[i, t]),
                left_weight=float(left_total[i, t]),
                right_weight=float(right_total[i, t]),
                label_columns=labels,
                left_label_weights=left_lab[i, t],
            ))
        return out


def _xlogx(a: np.ndarray) -> np.ndarray:
    """a * ln(a), 0 at a <= 0."""
    safe = np.maximum(a, 1e-300)
    return np.where(a > 0, a * np.log(safe), 0.0)


def _nonzero_cdf(count, total, squares, t, low, high):
    """P(value <= t) under the Gaussian of the non-zero values, clipped to their observed range."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
        std = np.sqrt(np.maximum(np.where(count > 0, squares / count, 0.0) - mean * mean, 0.0))
        z = (t - mean) / np.where(std > 0, std, 1.0)
    cdf = np.where(std > 0, special.ndtr(z), (t >= mean).astype(float))
    return np.where(t < low, 0.0, np.where(t >= high, 1.0, cdf))


def decide_split(
    suggestions: list[SplitSuggestion], n_tracked_labels: int, weight: float, delta: float, tau: float
) -> SplitSuggestion | None:
    """Hoeffding test over the per-feature best splits (the null split, merit 0, always competes).

    Returns the winning suggestion, or None when no split is justified yet.
    """
    if not suggestions or suggestions[0].merit <= 0:
        return None
    best = suggestions[0]
    second = max(suggestions[1].merit, 0.0) if len(suggestions) > 1 else 0.0
    bound = hoeffding_bound(merit_range(n_tracked_labels), delta, weight)
    if best.merit - second > bound or bound < tau:
        return best
    return None
