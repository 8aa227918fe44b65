"""Gaussian naive Bayes in which an absent feature is a 0, vectorised over the classes.

River's ``GaussianNB`` only looks at the features present in ``x``, which on sparse data (text)
throws away what the absent words say. Here every class keeps, per feature column, the sum and the
sum of squares of its non-zero values; zeros are implicit (the class count minus the non-zeros), so
learning one instance touches only its non-zero features, and the log-likelihood of every class is

``k_c + sum over the non-zero features f of (a_cf * x_f - b_cf * x_f ** 2)``

with ``a = mean / var``, ``b = 1 / (2 var) - 1 / (2 min_variance)`` and ``k_c`` the zero-input
log-likelihood. Every term is measured relative to a column never seen non-zero (mean 0, variance
``min_variance``), for which all three are 0, so columns added later need no update of the other
classes. Besides the sums and the sums of squares, ``a`` and ``b`` are kept too, a class's row
computed again when that class learns (it costs what computing its ``k`` costs), so a prediction
only gathers the instance's non-zero columns of them: memory is four floats per class and feature
column, and one prediction costs a few ``(classes x non-zero features)`` array operations.
"""

from __future__ import annotations

import math
import typing

import numpy as np
from river import base

from learners.multilabel_tree import ColumnIndex, grow


class SparseGaussianNB(base.Classifier):
    """Multiclass Gaussian naive Bayes with absent features read as 0 and a variance floor.

    Parameters
    ----------
    min_variance
        Added to every class variance; also the variance of a feature a class never saw non-zero.
        An absolute floor: it assumes features of roughly unit scale (normalised or 0/1).

    Examples
    --------
    >>> model = SparseGaussianNB()
    >>> for v, c in [(0.1, "low"), (0.2, "low"), (0.9, "high"), (1.0, "high")]:
    ...     model.learn_one({"v": v}, c)
    >>> model.predict_one({"v": 0.15}), model.predict_one({"v": 0.95})
    ('low', 'high')

    """

    def __init__(self, min_variance: float = 1e-3):
        if min_variance <= 0:
            raise ValueError(f"min_variance must be > 0, got {min_variance}")
        self.min_variance = min_variance
        self._reset()

    def _reset(self):
        self._index = ColumnIndex()
        self._slot: dict[typing.Hashable, int] = {}
        self._classes: list = []  # class of each slot, None when the slot is free
        self._counts = np.zeros(4)
        self._sums = np.zeros((4, 8))
        self._squares = np.zeros((4, 8))
        self._k = np.zeros(4)
        # a = mean / var and b = 1 / (2 var) - 1 / (2 min_variance), per class and column: 0 where
        # the class never saw the column non-zero (and in free rows), so zero padding is right.
        self._a = np.zeros((4, 8))
        self._b = np.zeros((4, 8))
        self._memo: tuple | None = None  # (x, its encoding) of the last prediction, if it named known features only

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_memo": None}  # a saved model holds no record

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_memo", None)
        if "_a" not in state:  # pickled before a and b were kept: derive them from the sums
            self._a, self._b = np.zeros_like(self._sums), np.zeros_like(self._sums)
            for slot in np.flatnonzero(self._counts > 0):
                self._refresh(int(slot))

    @property
    def _multiclass(self):
        return True

    @property
    def classes(self) -> list:
        return [c for c in self._classes if c is not None]

    def learn_one(self, x: dict, y: typing.Hashable) -> None:
        memo = self._memo
        # Predicted just before with every feature name known: learning encodes it alike.
        inst = memo[1] if memo is not None and memo[0] is x else self._index.encode(x, {})
        slot = self._slot.get(y)
        if slot is None:
            slot = self._new_slot(y)
        width = max(self._sums.shape[1], int(inst.cols.max()) + 1 if len(inst.cols) else 0)
        shape = (self._counts.shape[0], width)
        self._sums, self._squares = grow(self._sums, shape), grow(self._squares, shape)
        self._a, self._b = grow(self._a, shape), grow(self._b, shape)
        self._counts[slot] += 1.0
        self._sums[slot, inst.cols] += inst.vals
        self._squares[slot, inst.cols] += inst.vals * inst.vals
        self._refresh(slot)

    def _new_slot(self, y) -> int:
        try:
            slot = self._classes.index(None)
            self._classes[slot] = y
        except ValueError:
            slot = len(self._classes)
            self._classes.append(y)
            rows = slot + 1
            self._counts = grow(self._counts, (rows,))
            self._k = grow(self._k, (rows,))
            shape = (rows, self._sums.shape[1])
            self._sums, self._squares = grow(self._sums, shape), grow(self._squares, shape)
            self._a, self._b = grow(self._a, shape), grow(self._b, shape)
        self._slot[y] = slot
        return slot

    def _moments(self, counts: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and floored variance of each class (a row) in each column, absent values read as 0."""
        mean = sums / counts
        return mean, np.maximum(squares / counts - mean * mean, 0.0) + self.min_variance

    def _refresh(self, slot: int) -> None:
        mean, var = self._moments(self._counts[slot], self._sums[slot], self._squares[slot])
        self._k[slot] = float(-0.5 * np.log(var / self.min_variance).sum() - (mean * mean / (2.0 * var)).sum())
        self._a[slot] = mean / var
        self._b[slot] = 0.5 / var - 0.5 / self.min_variance

    def forget(self, y: typing.Hashable) -> None:
        """Drop a class and free its row for the next new class."""
        slot = self._slot.pop(y, None)
        if slot is None:
            return
        self._classes[slot] = None
        for array in (self._sums, self._squares, self._a, self._b):
            array[slot] = 0.0
        self._counts[slot] = 0.0
        self._k[slot] = 0.0

    def predict_proba_one(self, x: dict) -> dict:
        if not self._slot:
            return {}
        inst = self._index.encode(x)
        # The index only grows, and only by new names: with every name known, this is x's encoding for good.
        self._memo = (x, inst) if self._index.features.keys() >= x.keys() else None
        n_slots = len(self._classes)
        counts = self._counts[:n_slots]
        used = counts > 0
        log_joint = self._k[:n_slots] + np.log(np.where(used, counts, 1.0) / counts.sum())
        known = inst.cols < self._sums.shape[1]
        cols, vals = inst.cols[known], inst.vals[known]
        if len(cols):
            a, b = self._a[:n_slots, cols], self._b[:n_slots, cols]
            log_joint = log_joint + a @ vals - b @ (vals * vals)
        log_joint = np.where(used, log_joint, -math.inf)
        proba = np.exp(log_joint - log_joint.max())
        proba /= proba.sum()
        return {self._classes[i]: float(proba[i]) for i in np.flatnonzero(used)}
