"""All multi-label scores of one learner at once, cumulative and over a sliding window."""

from __future__ import annotations

import itertools
import typing

from learners.metrics.confusion import MultiLabelConfusion, observe

#: The scalar scores a suite reports, by name, and whether bigger is better.
SCORES: dict[str, bool] = {
    "subset_accuracy": True,
    "hamming_loss": False,
    "example_precision": True,
    "example_recall": True,
    "example_f1": True,
    "example_jaccard": True,
    "micro_precision": True,
    "micro_recall": True,
    "micro_f1": True,
    "macro_precision": True,
    "macro_recall": True,
    "macro_f1": True,
}


class MetricSuite:
    """Every score of :data:`SCORES`, cumulative and over the last ``window`` instances.

    Each update reduces the instance to its sets of true and predicted labels once and feeds both
    confusions, so following twelve scores costs about as much as following one. Scores are only
    computed when asked for. :meth:`update_many` takes a micro-batch at once, with the same scores.

    Parameters
    ----------
    window
        Size of the sliding window, in instances. ``None`` keeps only the cumulative scores.

    Examples
    --------
    >>> suite = MetricSuite(window=2)
    >>> suite.update({"a": True, "b": False}, {"a": True, "b": True})
    >>> suite.update({"a": True, "b": True}, {"a": True, "b": True})
    >>> suite.update({"a": False, "b": True}, {"a": False, "b": True})
    >>> suite.get()["subset_accuracy"], suite.get_window()["subset_accuracy"]
    (0.6666666666666666, 1.0)
    >>> suite.per_label_f1()
    {'a': 1.0, 'b': 0.8}

    """

    def __init__(self, window: int | None = 1000):
        self.window = window
        self._reset()

    def _reset(self):
        self._cumulative = MultiLabelConfusion()
        self._windowed = MultiLabelConfusion(window=self.window) if self.window is not None else None

    def update(self, y_true: typing.Mapping, y_pred: typing.Mapping, mask=None) -> None:
        """Count one instance in the cumulative and the windowed scores.

        With a :class:`~learners.base.LabelMask` only the judged labels are scored: the others
        are left out of both the truth and the prediction, as if neither named them.

        >>> from learners.base import LabelMask
        >>> suite = MetricSuite(window=None)
        >>> suite.update({"a": True, "b": False}, {"a": True, "b": True}, LabelMask(unknown=frozenset({"b"})))
        >>> suite.get()["subset_accuracy"], suite.get()["micro_f1"]
        (1.0, 1.0)
        """
        if mask is not None and not mask.judges_all:
            y_true, y_pred = mask.restrict(y_true), mask.restrict(y_pred)
        observation = observe(y_true, y_pred)
        self._cumulative.add(observation)
        if self._windowed is not None:
            self._windowed.add(observation)

    def update_many(self, y_trues: typing.Sequence, y_preds: typing.Sequence, masks: typing.Sequence | None = None) -> None:
        """Count a micro-batch of instances at once: the same scores as :meth:`update` on each in
        turn (``masks``: each instance's :class:`~learners.base.LabelMask` or ``None``).

        >>> batch = MetricSuite(window=2)
        >>> batch.update_many([{"a": True, "b": False}, {"a": True, "b": True}], [{"a": True, "b": True}, {"a": True}])
        >>> batch.get()["micro_f1"], batch.get_window()["subset_accuracy"]
        (0.6666666666666666, 0.0)
        """
        if len(y_trues) != len(y_preds) or (masks is not None and len(masks) != len(y_trues)):
            raise ValueError(f"update_many: {len(y_trues)} truths, {len(y_preds)} predictions and {len(masks or ())} masks")
        observations = []
        for y_true, y_pred, mask in zip(y_trues, y_preds, masks if masks is not None else itertools.repeat(None)):
            if mask is not None and not mask.judges_all:
                y_true, y_pred = mask.restrict(y_true), mask.restrict(y_pred)
            observations.append(observe(y_true, y_pred))
        self._cumulative.add_many(observations)
        if self._windowed is not None:
            self._windowed.add_many(observations)

    @property
    def n(self) -> int:
        """Number of instances counted since the start."""
        return self._cumulative.n

    def get(self) -> dict[str, float]:
        """Cumulative scores by name."""
        return self._cumulative.scores()

    def get_window(self) -> dict[str, float]:
        """Scores over the last ``window`` instances by name (empty without a window)."""
        return self._windowed.scores() if self._windowed is not None else {}

    def per_label_f1(self) -> dict:
        """Cumulative F1 of each label of the universe."""
        return self._cumulative.per_label_f1()

    def __repr__(self) -> str:
        scores = ", ".join(f"{name}={value:.4f}" for name, value in self.get().items())
        return f"MetricSuite(n={self.n}, {scores})"
