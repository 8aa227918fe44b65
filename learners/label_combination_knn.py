"""Label-combination k-nearest neighbours over a sliding window, in a ring buffer.

The low-cardinality leaf model of MLHAT: a label powerset of kNN whose neighbours vote for their
whole label set with weight 1 / distance. The per-label probability is the weighted share of the
votes whose label set holds the label, which is the marginal of the label-set distribution.

The window is a preallocated ``float32`` matrix stored feature-major (one row per feature the model
has seen, ``window_size`` columns) with the squared norm of each instance cached, so one query
gathers the rows of its non-zero features and does one vector-matrix product.
"""

from __future__ import annotations

import numpy as np

from learners.multilabel_tree import Instance, grow


class LabelCombinationKNN:
    """Label powerset of kNN (Euclidean distance, inverse-distance weighted votes) on the last instances.

    Parameters
    ----------
    n_neighbors
        Number of neighbours that vote.
    window_size
        Number of most recent instances kept.

    Examples
    --------
    >>> import numpy as np
    >>> from learners.multilabel_tree import ColumnIndex
    >>> index, model = ColumnIndex(), LabelCombinationKNN(n_neighbors=2, window_size=10)
    >>> for v, y in [(0.0, {"a"}), (0.1, {"a"}), (5.0, {"b"}), (5.1, {"b"})]:
    ...     model.learn(index.encode({"v": v}, {"a": "a" in y, "b": "b" in y}))
    >>> [round(float(p), 2) for p in model.proba(index.encode({"v": 4.9}), 2)]
    [0.0, 1.0]

    """

    def __init__(self, n_neighbors: int = 4, window_size: int = 170):
        self.n_neighbors = n_neighbors
        self.window_size = window_size
        self._columns = np.zeros((8, window_size), dtype=np.float32)  # (feature, slot)
        self._norms = np.zeros(window_size)
        self._labels = np.zeros((window_size, 4), dtype=np.float32)
        self._slot_columns: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * window_size  # non-zeros per slot
        self._next = 0
        self._filled = 0

    @property
    def nbytes(self) -> int:
        slots = sum(cols.nbytes for cols in self._slot_columns)
        return self._columns.nbytes + self._norms.nbytes + self._labels.nbytes + slots

    def learn(self, inst: Instance) -> None:
        n_features = int(inst.cols.max()) + 1 if len(inst.cols) else 0
        self._columns = grow(self._columns, (n_features, self.window_size))
        self._labels = grow(self._labels, (self.window_size, len(inst.y)))
        row = self._next
        # Clearing only the evicted instance's non-zeros keeps a sparse update sparse.
        self._columns[self._slot_columns[row], row] = 0.0
        self._columns[inst.cols, row] = inst.vals
        self._slot_columns[row] = inst.cols
        self._norms[row] = float(inst.vals @ inst.vals)
        self._labels[row] = 0.0
        self._labels[row, inst.positive] = 1.0
        self._next = (row + 1) % self.window_size
        self._filled = min(self._filled + 1, self.window_size)

    def proba(self, inst: Instance, n_labels: int) -> np.ndarray | None:
        """Per-label probability, or None while the window is empty."""
        n = self._filled
        if n == 0:
            return None
        inside = inst.cols < self._columns.shape[0]
        cols, vals = inst.cols[inside], inst.vals[inside]
        dot = vals.astype(np.float32) @ self._columns[cols, :n] if len(cols) else np.zeros(n, dtype=np.float32)
        sq_dist = np.maximum(self._norms[:n] + float(inst.vals @ inst.vals) - 2.0 * dot, 0.0)
        k = min(self.n_neighbors, n)
        nearest = np.argpartition(sq_dist, k - 1)[:k] if k < n else np.arange(n)
        dist = np.sqrt(sq_dist[nearest])
        exact = dist == 0.0
        votes = exact.astype(float) if exact.any() else 1.0 / dist
        out = np.zeros(n_labels)
        width = min(n_labels, self._labels.shape[1])
        out[:width] = votes @ self._labels[nearest, :width] / votes.sum()
        return out
