"""Label-combination k-nearest neighbours over a sliding window, in a ring buffer.

The low-cardinality leaf model of MLHAT: a label powerset of kNN whose neighbours vote for their
whole label set with weight 1 / distance. The per-label probability is the weighted share of the
votes whose label set holds the label, which is the marginal of the label-set distribution.

The window is a preallocated ``float32`` matrix (``window_size`` rows, one column per feature the
model has seen) with the squared norm of each row cached, so one query is one matrix-vector product
over the query's non-zero features.
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
        self._rows = np.zeros((window_size, 8), dtype=np.float32)
        self._norms = np.zeros(window_size)
        self._labels = np.zeros((window_size, 4), dtype=np.float32)
        self._next = 0
        self._filled = 0

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._norms.nbytes + self._labels.nbytes

    def learn(self, inst: Instance) -> None:
        n_features = int(inst.cols.max()) + 1 if len(inst.cols) else 0
        self._rows = grow(self._rows, (self.window_size, n_features))
        self._labels = grow(self._labels, (self.window_size, len(inst.y)))
        row = self._next
        self._rows[row] = 0.0
        self._rows[row, inst.cols] = inst.vals
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
        inside = inst.cols < self._rows.shape[1]
        cols, vals = inst.cols[inside], inst.vals[inside]
        dot = self._rows[:n, cols] @ vals.astype(np.float32) if len(cols) else np.zeros(n, dtype=np.float32)
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
