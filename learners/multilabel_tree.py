"""Shared machinery of the multi-label Hoeffding trees (MLHT, MLHAT): encoding and nodes.

Everything on the hot path works on integer columns instead of feature / label names: the tree
owns one :class:`ColumnIndex` that maps names to columns the first time they are learned, and turns
an instance into the arrays of its non-zero feature columns and values and of its positive label
columns once per ``learn_one`` (with the columns of the features it carries as 0, which MLHAT's
observers count). Leaves keep their statistics in numpy arrays indexed by those columns and grown
on demand, so a leaf costs memory in proportion to the largest column it has seen. The split
criteria and attribute observers are in :mod:`learners.split_criterion` (MLHT) and
:mod:`learners.class_gaussian_split` (MLHAT).
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

if typing.TYPE_CHECKING:
    from learners.class_gaussian_split import ClassGaussianObservers
    from learners.split_criterion import GaussianObservers


@dataclasses.dataclass(slots=True)
class Instance:
    """One training or test instance, encoded once per call for the whole tree."""

    x: dict
    cols: np.ndarray  # int64 columns of the non-zero known features
    vals: np.ndarray  # float64 values of those features
    positive: np.ndarray  # int64 columns of the labels that are on
    y: np.ndarray | None  # float64 0/1 vector over all known labels (None when predicting)
    complete: bool = True  # False when x has non-zero features the index did not know (predicting)
    zeros: np.ndarray | None = None  # int64 columns of known features that x carries as 0 (None: none)

    @property
    def key(self) -> bytes:
        """Hashable identity of the label set."""
        return self.positive.tobytes()


class ColumnIndex:
    """Maps feature and label names to dense integer columns, in order of first appearance."""

    def __init__(self):
        self.features: dict[typing.Hashable, int] = {}
        self.feature_names: list = []
        self.labels: dict[typing.Hashable, int] = {}
        self.label_names: list = []

    def encode(self, x: dict, y: dict | None = None) -> Instance:
        """Encode ``x`` (and ``y`` when learning). Only learning adds new names to the index."""
        features = self.features
        cols = list(map(features.get, x))
        try:
            vals = np.fromiter(x.values(), dtype=float, count=len(cols))
        except (TypeError, ValueError):
            name, value = next((k, v) for k, v in x.items() if not _is_number(v))
            raise TypeError(
                f"feature {name!r} has non-numeric value {value!r}; the tree handles numeric features only"
            ) from None
        if np.isnan(vals).any():
            name = next(k for k, v in zip(x, vals) if v != v)
            raise ValueError(f"feature {name!r} is NaN; impute missing values before the learner")
        complete = True
        if None in cols:
            for i, name in enumerate(x):
                if cols[i] is None:
                    if y is None:
                        complete = complete and vals[i] == 0.0
                        continue
                    # Learning indexes a feature the first time an instance carries it, even as 0:
                    # MLHAT's observers count the zeros an instance carries (see ``zeros``).
                    cols[i] = features[name] = len(self.feature_names)
                    self.feature_names.append(name)
            cols = [-1 if c is None else c for c in cols]
        cols = np.array(cols, dtype=np.int64)
        known = cols >= 0
        keep = (vals != 0.0) & known
        zeros = None
        if not keep.all():
            if len(keep) - keep.sum() > (~known).sum():
                zeros = cols[known & ~keep]
            cols, vals = cols[keep], vals[keep]
        inst = Instance(x, cols, vals, _NO_LABELS, None, complete, zeros)
        return inst if y is None else self.add_labels(inst, y)

    def add_labels(self, inst: Instance, y: dict) -> Instance:
        """The instance with its target; ``inst`` must be complete (its features all indexed)."""
        labels = self.labels
        positive: list[int] = []
        for name, on in y.items():
            col = labels.get(name)
            if col is None:
                col = labels[name] = len(self.label_names)
                self.label_names.append(name)
            if on:
                positive.append(col)
        positive.sort()
        y_vec = np.zeros(len(labels))
        y_vec[positive] = 1.0
        return Instance(inst.x, inst.cols, inst.vals, np.array(positive, dtype=np.int64), y_vec, zeros=inst.zeros)


_NO_LABELS = np.zeros(0, dtype=np.int64)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def grow(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``array`` zero-padded to at least ``shape`` (capacity doubles to amortise copies)."""
    if all(have >= need for have, need in zip(array.shape, shape)):
        return array
    new_shape = tuple(have if have >= need else max(need, 2 * have) for have, need in zip(array.shape, shape))
    out = np.zeros(new_shape, dtype=array.dtype)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


class Leaf:
    """A leaf: label statistics since it was created, attribute observers while active, a leaf model.

    ``prior_weight`` / ``prior_labels`` are the branch's estimate of the label weights that fall
    into this leaf, used to predict until the leaf has learned from an instance.
    """

    def __init__(self, depth: int, model, observers: GaussianObservers | ClassGaussianObservers | None,
                 prior_weight: float = 0.0, prior_labels: np.ndarray | None = None):
        self.depth = depth
        self.model = model
        self.observers = observers
        self.weight = 0.0
        self.label_weights = np.zeros(0)
        self.empty_weight = 0.0  # weight of the instances with no label on
        self.last_split_attempt = 0.0
        self.prior_weight = prior_weight
        self.prior_labels = prior_labels if prior_labels is not None else np.zeros(0)
        self.first_labelset: bytes | None = None
        self.pure = True  # one label set seen so far: predict it as is
        self.labelsets: set[bytes] = set()  # distinct label sets seen: the range of the split merit

    @property
    def active(self) -> bool:
        return self.observers is not None

    def update_stats(self, inst: Instance, weight: float) -> None:
        self.weight += weight
        if len(self.label_weights) < len(inst.y):
            self.label_weights = np.concatenate([self.label_weights, np.zeros(len(inst.y) - len(self.label_weights))])
        self.label_weights[inst.positive] += weight
        if not len(inst.positive):
            self.empty_weight += weight
        key = inst.key
        self.labelsets.add(key)
        if self.first_labelset is None:
            self.first_labelset = key
        elif self.pure and key != self.first_labelset:
            self.pure = False
        if self.observers is not None:
            self.observers.update(inst, weight)

    def fallback_proba(self, n_labels: int) -> np.ndarray | None:
        """Prediction that needs no leaf model: the prior while empty, the only label set while pure."""
        out = np.zeros(n_labels)
        if self.weight == 0:
            if self.prior_weight > 0:
                width = min(n_labels, len(self.prior_labels))
                out[:width] = np.clip(self.prior_labels[:width] / self.prior_weight, 0.0, 1.0)
            return out
        if self.pure:
            out[np.frombuffer(self.first_labelset, dtype=np.int64)] = 1.0
            return out
        return None

    def nbytes(self) -> int:
        return (self.observers.nbytes if self.observers is not None else 0) + self.label_weights.nbytes


class Branch:
    """A binary split ``x[feature] <= threshold`` (absent features are 0) with its label statistics."""

    def __init__(self, feature, threshold: float, depth: int, children: list, weight: float, label_weights: np.ndarray):
        self.feature = feature
        self.threshold = threshold
        self.depth = depth
        self.children = children
        self.weight = weight
        self.label_weights = label_weights

    def branch(self, x: dict) -> int:
        return 0 if x.get(self.feature, 0.0) <= self.threshold else 1

    def update_stats(self, inst: Instance, weight: float) -> None:
        self.weight += weight
        if len(self.label_weights) < len(inst.y):
            self.label_weights = np.concatenate([self.label_weights, np.zeros(len(inst.y) - len(self.label_weights))])
        self.label_weights[inst.positive] += weight
