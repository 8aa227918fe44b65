"""Binary relevance of online-bagged logistic regressions, as one set of weight arrays.

This is the high-cardinality leaf model of MLHAT (and, with one member and no bagging, the leaf
model of MLHT). Instead of ``members x labels`` separate river models, the weights of every member
and label live in one ``float32`` array of shape ``(features, members, labels)``; an update reads
and writes only the rows of the instance's non-zero features. Both axes grow when a new feature or
label column appears, so memory is ``4 * features * members * labels`` bytes for the columns the
leaf has seen.
"""

from __future__ import annotations

import numpy as np

from learners.multilabel_tree import Instance, grow


class BaggedLogisticBR:
    """Online bagging (Oza) of per-label logistic regressions trained by plain SGD on the log loss.

    Parameters
    ----------
    n_members
        Number of bagged members.
    lr
        Learning rate of the feature weights.
    intercept_lr
        Learning rate of the intercepts (river's logistic regression default).
    bagging
        Draw a Poisson(1) weight per member and instance; without it every member sees every
        instance once (only sensible with one member).

    Examples
    --------
    >>> import numpy as np
    >>> from learners.multilabel_tree import ColumnIndex
    >>> index, model, rng = ColumnIndex(), BaggedLogisticBR(n_members=3), np.random.default_rng(1)
    >>> for i in range(200):
    ...     x = {"f": 1.0 if i % 2 else -1.0}
    ...     model.learn(index.encode(x, {"odd": i % 2 == 1}), rng)
    >>> p = model.proba(index.encode({"f": 1.0}), 1)
    >>> bool(p[0] > 0.9)
    True

    """

    def __init__(self, n_members: int = 10, lr: float = 0.3, intercept_lr: float = 0.01, bagging: bool = True):
        self.n_members = n_members
        self.lr = lr
        self.intercept_lr = intercept_lr
        self.bagging = bagging
        self._weights = np.zeros((8, n_members, 4), dtype=np.float32)
        self._intercepts = np.zeros((n_members, 4), dtype=np.float32)
        self._n_labels = 0  # label columns trained so far; the capacity beyond them is padding

    @property
    def nbytes(self) -> int:
        return self._weights.nbytes + self._intercepts.nbytes

    def _logits(self, inst: Instance) -> np.ndarray:
        """Logits of every member for every label column held, shape (members, label capacity)."""
        cols, vals = inst.cols, inst.vals
        inside = cols < self._weights.shape[0]
        if not inside.all():
            cols, vals = cols[inside], vals[inside]
        logits = self._intercepts.copy()
        if len(cols):
            rows = self._weights[cols]
            logits += (vals.astype(np.float32) @ rows.reshape(len(cols), -1)).reshape(logits.shape)
        return logits

    def learn(self, inst: Instance, rng: np.random.Generator, judged: np.ndarray | None = None) -> None:
        """Train every member on ``inst``; with ``judged`` (a bool per label column of ``inst.y``)
        only the labels judged: the others get no gradient."""
        n_labels = len(inst.y)
        n_features = int(inst.cols.max()) + 1 if len(inst.cols) else 0
        self._weights = grow(self._weights, (n_features, self.n_members, n_labels))
        self._intercepts = grow(self._intercepts, (self.n_members, n_labels))
        self._n_labels = max(self._n_labels, n_labels)
        if self.bagging:
            k = rng.poisson(1.0, self.n_members).astype(np.float32)
            if not k.any():
                return
        else:
            k = np.ones(self.n_members, dtype=np.float32)
        cols, vals = inst.cols, inst.vals.astype(np.float32)
        rows = self._weights[cols]  # (features, members, labels); a copy, written back below
        logits = self._intercepts.copy()
        if len(cols):
            logits += (vals @ rows.reshape(len(cols), -1)).reshape(logits.shape)
        np.clip(logits, -30.0, 30.0, out=logits)
        target = np.zeros(logits.shape[1], dtype=np.float32)
        target[inst.positive] = 1.0
        # Gradient of the log loss wrt the logit, scaled by each member's bagging weight (0 for the
        # members that skip this instance); label columns not yet known get a zero gradient.
        grad = (1.0 / (1.0 + np.exp(-logits)) - target) * k[:, None]
        grad[:, n_labels:] = 0.0
        if judged is not None:
            grad[:, :n_labels][:, ~judged] = 0.0
        self._intercepts -= self.intercept_lr * grad
        if len(cols):
            rows -= (self.lr * vals)[:, None, None] * grad[None, :, :]
            self._weights[cols] = rows

    def proba(self, inst: Instance, n_labels: int) -> np.ndarray:
        """Mean over members of the probability of each of the first ``n_labels`` labels."""
        logits = np.clip(self._logits(inst).astype(np.float64), -30.0, 30.0)
        out = np.zeros(n_labels)
        # Labels the model has never trained on get 0, not the untrained 0.5.
        width = min(n_labels, self._n_labels)
        out[:width] = (1.0 / (1.0 + np.exp(-logits[:, :width]))).mean(axis=0)
        return out
