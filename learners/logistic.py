"""Vectorised online logistic regression per label, with F1-tuned thresholds, and its chain.

Both learners keep one weight matrix (labels x features) in numpy and update all labels at once
per instance, which is what dense inputs such as sentence embeddings need: a per-label river
model would loop over 384 features once per label.
"""

from __future__ import annotations

import typing

import numpy as np

from learners.base import Features, Label, LabelDict, LabelMask, MultiLabelClassifier, as_label_dict

__all__ = ["LogisticChain", "OnlineLogistic"]

#: Smallest and largest threshold a label can get, so the rescaled score stays well defined.
_THRESHOLD_FLOOR = 1e-3
_EPS = 1e-8


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # tanh form: no overflow warnings for large |z|


def micro_f1_thresholds(
    scores: np.ndarray, truth: np.ndarray, valid: np.ndarray, current: np.ndarray, sweeps: int = 2
) -> np.ndarray:
    """Per-label thresholds (one per row) that maximise the micro-F1 of all rows together.

    Each sweep gives every label, at once, the cut that maximises the pooled
    ``F1 = 2 TP / (predicted + positives)`` over the valid entries while the other labels keep
    their thresholds of the sweep before (starting from ``current``). A label may also be
    switched off (threshold at the top) when predicting none of its entries scores best. Unlike
    a cut tuned to a label's own F1, this never floods the answers with a rare label's false
    positives to catch its few true ones.

    Examples
    --------
    >>> scores = np.array([[0.9, 0.8, 0.3, 0.2], [0.6, 0.1, 0.05, 0.5]])
    >>> truth = np.array([[True, True, False, False], [False, False, True, False]])
    >>> cuts = micro_f1_thresholds(scores, truth, np.ones_like(truth), np.full(2, 0.5))
    >>> [round(float(c), 2) for c in cuts]
    [0.55, 1.0]

    """
    n, width = scores.shape
    masked = np.where(valid, scores, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")
    ranked = np.take_along_axis(masked, order, axis=1)
    hits = np.take_along_axis(truth & valid, order, axis=1)
    true_positives = np.cumsum(hits, axis=1)  # of the label, predicting its top k
    predicted = np.arange(1, width + 1)
    positives = (truth & valid).sum()
    rows = np.arange(n)
    following = np.minimum(np.arange(width) + 1, width - 1)
    thresholds = np.asarray(current, dtype=float)
    for _ in range(sweeps):
        on = valid & (scores >= thresholds[:, None])
        own_tp, own_predicted = (on & truth).sum(axis=1), on.sum(axis=1)
        other_tp, other_predicted = own_tp.sum() - own_tp, own_predicted.sum() - own_predicted
        f1 = 2.0 * (other_tp[:, None] + true_positives) / np.maximum(other_predicted[:, None] + predicted + positives, 1)
        f1[~np.isfinite(ranked)] = -1.0
        switched_off = 2.0 * other_tp / np.maximum(other_predicted + positives, 1)
        best = np.argmax(f1, axis=1)
        above = ranked[rows, best]
        nxt = following[best]
        below = np.where((nxt > best) & np.isfinite(ranked[rows, nxt]), ranked[rows, nxt], above - 1e-6)
        cut = np.where(f1[rows, best] > switched_off, (above + below) / 2.0, 1.0)
        thresholds = np.clip(cut, _THRESHOLD_FLOOR, 1.0 - _THRESHOLD_FLOOR)
    return thresholds


class OnlineLogistic(MultiLabelClassifier):
    """Per-label logistic regression, vectorised over labels, AdaGrad steps, F1-tuned thresholds.

    Every label has its own logistic model over the same features; all of them are updated at
    once per instance (one matrix-vector product). The step size adapts per weight (AdaGrad),
    features are scaled online by the largest magnitude seen so far (absent features stay 0, so
    sparse inputs stay sparse), and the labels' decision thresholds are chosen every
    ``threshold_every`` instances to maximise the micro-F1 over the last ``threshold_window``
    prequential scores (scores made before the instance was learned), one threshold per label
    (:func:`micro_f1_thresholds`).

    ``predict_proba_one`` returns the model's probability mapped monotonically so that the
    label's tuned threshold sits at 0.5 (linear on each side): thresholding at 0.5, as
    ``predict_one`` and any learner combining probabilities do, applies the tuned threshold.

    With partial feedback (:meth:`learn_one_masked`) only the judged labels' models step and only
    their scores tune the thresholds; in the chain an unjudged label passes its served decision
    down to the later links.

    Parameters
    ----------
    learning_rate
        AdaGrad's base step.
    l2
        L2 penalty on the weights of the features present in an instance.
    threshold_window
        Prequential scores kept per label to tune its threshold.
    threshold_every
        Instances between two threshold updates.
    max_empty_rate
        While fewer than this fraction of the targets so far had no label on, an instance for
        which no label reaches its threshold gets the label with the highest rescaled score:
        an empty answer is then almost surely wrong. 0 turns this off.
    seed
        Unused (the learner is deterministic); accepted like every catalogue entry.

    Examples
    --------
    >>> model = OnlineLogistic(threshold_every=10)
    >>> for i in range(200):
    ...     x = {"a": float(i % 2), "b": float(i % 3 == 0)}
    ...     model.learn_one(x, {"odd": i % 2 == 1, "three": i % 3 == 0})
    >>> model.predict_one({"a": 1.0, "b": 0.0})
    {'odd': True, 'three': False}
    >>> model.predict_one({"a": 0.0, "b": 1.0})
    {'odd': False, 'three': True}

    """

    def __init__(
        self,
        learning_rate: float = 0.1,
        l2: float = 0.0,
        threshold_window: int = 1000,
        threshold_every: int = 50,
        max_empty_rate: float = 0.05,
        seed: int | None = None,
    ):
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if threshold_window < 1 or threshold_every < 1:
            raise ValueError("threshold_window and threshold_every must be >= 1")
        if not 0.0 <= max_empty_rate <= 1.0:
            raise ValueError(f"max_empty_rate must be in [0, 1], got {max_empty_rate}")
        self.learning_rate = learning_rate
        self.l2 = l2
        self.threshold_window = threshold_window
        self.threshold_every = threshold_every
        self.max_empty_rate = max_empty_rate
        self.seed = seed
        self._reset()

    def _reset(self):
        self._labels: dict[Label, int] = {}
        self._features: dict[typing.Hashable, int] = {}
        self._feature_names: list = []
        self._weights = np.zeros((0, 0))
        self._weights_g2 = np.zeros((0, 0))  # AdaGrad: summed squared gradients
        self._bias = np.zeros(0)
        self._bias_g2 = np.zeros(0)
        self._scale = np.zeros(0)  # largest |value| seen per feature
        self._thresholds = np.zeros(0)
        self._window_scores = np.zeros((0, self.threshold_window), dtype=np.float32)
        self._window_truth = np.zeros((0, self.threshold_window), dtype=bool)
        self._window_valid = np.zeros((0, self.threshold_window), dtype=bool)
        self._window_at = 0
        self._learned = 0
        self._empty_targets = 0

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"learning_rate": 0.5, "l2": 1e-4, "threshold_window": 50, "threshold_every": 5, "max_empty_rate": 0.0}

    # ------------------------------------------------------------------ growth

    @staticmethod
    def _grow(array: np.ndarray, rows: int, columns: int | None = None) -> np.ndarray:
        """``array`` padded with zeros to ``rows`` (and ``columns``), at least doubling the capacity."""
        shape = list(array.shape)
        wanted = [rows] if columns is None else [rows, columns]
        grown = False
        for axis, size in enumerate(wanted):
            if size > shape[axis]:
                shape[axis] = max(size, 2 * shape[axis], 8)
                grown = True
        if not grown:
            return array
        out = np.zeros(shape, dtype=array.dtype)
        out[tuple(slice(0, n) for n in array.shape)] = array
        return out

    def _add_labels(self, labels: typing.Iterable[Label]) -> None:
        new = [label for label in labels if label not in self._labels]
        if not new:
            return
        for label in new:
            self._labels[label] = len(self._labels)
        n = len(self._labels)
        self._weights = self._grow(self._weights, n, self._weights.shape[1])
        self._weights_g2 = self._grow(self._weights_g2, n, self._weights_g2.shape[1])
        self._bias = self._grow(self._bias, n)
        self._bias_g2 = self._grow(self._bias_g2, n)
        first = len(self._thresholds)
        self._thresholds = self._grow(self._thresholds, n)
        self._thresholds[first:] = 0.5
        window = self.threshold_window
        self._window_scores = self._grow(self._window_scores, n, window)
        self._window_truth = self._grow(self._window_truth, n, window)
        self._window_valid = self._grow(self._window_valid, n, window)
        self._on_new_labels(n)

    def _on_new_labels(self, n_labels: int) -> None:
        """Hook for subclasses that keep label-by-label state."""

    def _add_feature(self, name) -> int:
        index = len(self._feature_names)
        self._features[name] = index
        self._feature_names.append(name)
        columns = index + 1
        self._weights = self._grow(self._weights, self._weights.shape[0], columns)
        self._weights_g2 = self._grow(self._weights_g2, self._weights_g2.shape[0], columns)
        self._scale = self._grow(self._scale, columns)
        return index

    # ------------------------------------------------------------------ encoding

    def _encode(self, x: Features, learn: bool) -> tuple[np.ndarray | slice, np.ndarray]:
        """Column indices and raw values of ``x``; unseen features are added when learning, else skipped."""
        names = self._feature_names
        if len(x) == len(names) and list(x) == names:  # the dense case: same features, same order
            return slice(0, len(names)), np.fromiter(x.values(), dtype=float, count=len(names))
        columns, values = [], []
        for name, value in x.items():
            column = self._features.get(name)
            if column is None:
                if not learn:
                    continue
                column = self._add_feature(name)
            columns.append(column)
            values.append(value)
        return np.asarray(columns, dtype=np.intp), np.asarray(values, dtype=float)

    def _logits(self, columns, values: np.ndarray) -> np.ndarray:
        n = len(self._labels)
        scale = self._scale[columns]
        scaled = np.divide(values, scale, out=np.zeros_like(values), where=scale > 0)
        return self._weights[:n, columns] @ scaled + self._bias[:n]

    # ------------------------------------------------------------------ serving

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Probability of each label for serving (a chain feeds its own decisions forward)."""
        return _sigmoid(logits)

    def _rescale(self, probabilities: np.ndarray) -> np.ndarray:
        t = np.clip(self._thresholds[: len(probabilities)], _THRESHOLD_FLOOR, 1.0 - _THRESHOLD_FLOOR)
        return np.where(probabilities < t, 0.5 * probabilities / t, 0.5 + 0.5 * (probabilities - t) / (1.0 - t))

    def _served(self, x: Features) -> np.ndarray:
        if not self._labels:
            return np.zeros(0)
        columns, values = self._encode(x, learn=False)
        return self._rescale(self._probabilities(self._logits(columns, values)))

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        return dict(zip(self._labels, self._served(x).tolist()))

    def predict_one(self, x: Features) -> LabelDict:
        scores = self._served(x)
        on = scores >= 0.5
        if len(scores) and not on.any() and self._fill_empty():
            on[int(np.argmax(scores))] = True
        return dict(zip(self._labels, on.tolist()))

    def _fill_empty(self) -> bool:
        return self._learned > 0 and self._empty_targets < self.max_empty_rate * self._learned

    # ------------------------------------------------------------------ learning

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        self._learn(x, y, None)

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        self._learn(x, y, None if mask.judges_all else mask)

    def _learn(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask | None) -> None:
        y = as_label_dict(y)
        self._add_labels(y if mask is None else mask.restrict(y))
        n = len(self._labels)
        truth = np.zeros(n, dtype=bool)
        for label, on in y.items():
            if on and label in self._labels:
                truth[self._labels[label]] = True
        columns, values = self._encode(x, learn=True)
        # Scores with the features' scale before this instance: exactly what was served for it.
        logits = self._logits(columns, values)
        probabilities = self._probabilities(logits)
        if mask is None:
            judged = np.ones(n, dtype=bool)
        else:
            judged = np.fromiter((mask.judged(label) for label in self._labels), dtype=bool, count=n)
            truth = np.where(judged, truth, probabilities >= self._thresholds[:n])
        self._remember(probabilities, truth, judged)
        # Each feature occurs once per instance, so a fancy-indexed assignment is safe.
        self._scale[columns] = np.maximum(self._scale[columns], np.abs(values))
        scale = self._scale[columns]
        scaled = np.divide(values, scale, out=np.zeros_like(values), where=scale > 0)
        self._step(columns, scaled, truth, judged)
        self._learned += 1
        self._empty_targets += mask is None and not truth.any()
        if self._learned % self.threshold_every == 0:
            self._tune_thresholds()

    def _train_logits(self, columns, scaled: np.ndarray, truth: np.ndarray) -> np.ndarray:
        n = len(self._labels)
        return self._weights[:n, columns] @ scaled + self._bias[:n]

    def _step(self, columns, scaled: np.ndarray, truth: np.ndarray, judged: np.ndarray) -> None:
        n = len(self._labels)
        error = _sigmoid(self._train_logits(columns, scaled, truth)) - truth  # d(log loss)/d(logit)
        error[~judged] = 0.0  # an unjudged label's model does not step
        weights = self._weights[:n, columns]
        gradient = np.outer(error, scaled)
        if self.l2:
            gradient += self.l2 * weights
        g2 = self._weights_g2[:n, columns] + gradient * gradient
        self._weights_g2[:n, columns] = g2
        self._weights[:n, columns] = weights - self.learning_rate * gradient / (np.sqrt(g2) + _EPS)
        self._bias_g2[:n] += error * error
        self._bias[:n] -= self.learning_rate * error / (np.sqrt(self._bias_g2[:n]) + _EPS)
        self._step_extra(error, truth)

    def _step_extra(self, error: np.ndarray, truth: np.ndarray) -> None:
        """Hook for subclasses with more weights than the features'."""

    def _remember(self, probabilities: np.ndarray, truth: np.ndarray, judged: np.ndarray) -> None:
        n = len(probabilities)
        at = self._window_at
        self._window_scores[:n, at] = probabilities
        self._window_truth[:n, at] = truth
        self._window_valid[:n, at] = judged
        self._window_at = (at + 1) % self.threshold_window

    def _tune_thresholds(self) -> None:
        n = len(self._labels)
        self._thresholds[:n] = micro_f1_thresholds(
            self._window_scores[:n].astype(float), self._window_truth[:n], self._window_valid[:n], self._thresholds[:n]
        )

    @property
    def thresholds(self) -> dict[Label, float]:
        """The current decision threshold of each label, on the model's probability."""
        return dict(zip(self._labels, self._thresholds[: len(self._labels)].tolist()))


class LogisticChain(OnlineLogistic):
    """A classifier chain of :class:`OnlineLogistic`: each label also sees the labels before it.

    Labels are chained in the order they first appeared. Learning feeds the true labels of the
    earlier links (teacher forcing); predicting feeds the chain's own decisions, link by link,
    each thresholded at its tuned threshold. All links share the vectorised feature part; the
    chain adds one label-by-label weight matrix (lower triangular) with its own AdaGrad steps.

    Parameters are those of :class:`OnlineLogistic`.

    Examples
    --------
    >>> model = LogisticChain(threshold_every=10)
    >>> for i in range(300):
    ...     x = {"a": float(i % 2), "b": float(i % 4 == 0)}
    ...     model.learn_one(x, {"even": i % 2 == 0, "four": i % 4 == 0})
    >>> model.predict_one({"a": 0.0, "b": 1.0})
    {'even': True, 'four': True}
    >>> model.predict_one({"a": 1.0, "b": 0.0})
    {'even': False, 'four': False}

    """

    def _reset(self):
        super()._reset()
        self._chain = np.zeros((0, 0))
        self._chain_g2 = np.zeros((0, 0))

    def _on_new_labels(self, n_labels: int) -> None:
        self._chain = self._grow(self._chain, n_labels, n_labels)
        self._chain_g2 = self._grow(self._chain_g2, n_labels, n_labels)

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        logits = logits.copy()
        probabilities = np.empty_like(logits)
        thresholds = self._thresholds
        chain = self._chain
        for j in range(len(logits)):
            probabilities[j] = _sigmoid(logits[j])
            if probabilities[j] >= thresholds[j]:
                # Only later links read link j: the chain matrix is strictly lower triangular.
                logits[j + 1 :] += chain[j + 1 : len(logits), j]
        return probabilities

    def _train_logits(self, columns, scaled: np.ndarray, truth: np.ndarray) -> np.ndarray:
        n = len(self._labels)
        return super()._train_logits(columns, scaled, truth) + self._chain[:n, :n] @ truth

    def _step_extra(self, error: np.ndarray, truth: np.ndarray) -> None:
        n = len(error)
        gradient = np.tril(np.outer(error, truth), k=-1)
        g2 = self._chain_g2[:n, :n] + gradient * gradient
        self._chain_g2[:n, :n] = g2
        self._chain[:n, :n] -= self.learning_rate * gradient / (np.sqrt(g2) + _EPS)
