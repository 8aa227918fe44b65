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

    @property
    def nbytes(self) -> int:
        return self._weights.nbytes + self._intercepts.nbytes

    def _logits(self, inst: Instance, n_labels: int) -> np.ndarray:
        cols = inst.cols
        inside = cols < self._weights.shape[0]
        if not inside.all():
            cols, vals = cols[inside], inst.vals[inside]
        else:
            vals = inst.vals
        logits = np.zeros((self.n_members, n_labels), dtype=np.float32)
        width = min(n_labels, self._intercepts.shape[1])
        logits[:, :width] = self._intercepts[:, :width]
        if len(cols):
            logits[:, :width] += np.tensordot(vals.astype(np.float32), self._weights[cols, :, :width], axes=1)
        return logits

    def learn(self, inst: Instance, rng: np.random.Generator) -> None:
        n_labels = len(inst.y)
        n_features = int(inst.cols.max()) + 1 if len(inst.cols) else 0
        self._weights = grow(self._weights, (n_features, self.n_members, n_labels))
        self._intercepts = grow(self._intercepts, (self.n_members, n_labels))
        if self.bagging:
            k = rng.poisson(1.0, self.n_members).astype(np.float32)
            if not k.any():
                return
        else:
            k = np.ones(self.n_members, dtype=np.float32)
        logits = np.clip(self._logits(inst, n_labels), -30.0, 30.0)
        # Gradient of the log loss wrt the logit, scaled by each member's bagging weight.
        grad = (1.0 / (1.0 + np.exp(-logits)) - inst.y.astype(np.float32)) * k[:, None]
        self._intercepts[:, :n_labels] -= self.intercept_lr * grad
        if len(inst.cols):
            vals = inst.vals.astype(np.float32)
            self._weights[inst.cols, :, :n_labels] -= self.lr * vals[:, None, None] * grad[None, :, :]

    def proba(self, inst: Instance, n_labels: int) -> np.ndarray:
        """Mean over members of the probability of each of the first ``n_labels`` labels."""
        logits = np.clip(self._logits(inst, n_labels).astype(np.float64), -30.0, 30.0)
        return (1.0 / (1.0 + np.exp(-logits))).mean(axis=0)
