"""Single multi-label metrics with river's interface: ``update``, ``revert``, ``get``.

Each metric keeps a :class:`~learners.metrics.confusion.MultiLabelConfusion`, cumulative or over a
sliding window, and reads one score from it. The conventions (labels missing count as ``False``,
the label universe, empty truth and prediction, zero denominators) are documented in
:mod:`learners.metrics.confusion`. To follow many scores at once, :class:`~learners.metrics.MetricSuite`
counts each instance a single time.
"""

from __future__ import annotations

import abc
import typing

from learners.metrics.confusion import MultiLabelConfusion


class MultiLabelMetric(abc.ABC):
    """A score of multi-label predictions, updated one instance at a time.

    Parameters
    ----------
    window
        Score only the last ``window`` instances (a sliding window). ``None`` scores every
        instance since the start.

    """

    bigger_is_better = True

    def __init__(self, window: int | None = None):
        self.window = window
        self._reset()

    def _reset(self):
        self._confusion = MultiLabelConfusion(window=self.window)

    def update(self, y_true: typing.Mapping, y_pred: typing.Mapping) -> None:
        """Count one instance: ``y_true`` and ``y_pred`` map labels to ``bool``."""
        self._confusion.update(y_true, y_pred)

    def revert(self, y_true: typing.Mapping, y_pred: typing.Mapping) -> None:
        """Undo an :meth:`update` with the same arguments. Not defined for windowed metrics."""
        self._confusion.revert(y_true, y_pred)

    @property
    def n(self) -> int:
        """Number of instances the score is currently computed over."""
        return self._confusion.n

    @abc.abstractmethod
    def get(self) -> float:
        """The current score."""

    def __repr__(self) -> str:
        window = f"(window={self.window})" if self.window is not None else ""
        return f"{type(self).__name__}{window}: {self.get():.6f}"


class ExactMatch(MultiLabelMetric):
    """Subset accuracy: the fraction of instances whose predicted label set is exactly the truth.

    Examples
    --------
    >>> metric = ExactMatch()
    >>> metric.update({"a": True, "b": False}, {"a": True})
    >>> metric.update({"a": True, "b": True}, {"a": True, "b": False})
    >>> metric
    ExactMatch: 0.500000

    """

    def get(self) -> float:
        return self._confusion.subset_accuracy()


class HammingLoss(MultiLabelMetric):
    """The fraction of (instance, label) pairs predicted wrongly, over the label universe.

    Examples
    --------
    >>> metric = HammingLoss()
    >>> metric.update({"a": True, "b": False, "c": False}, {"a": True, "b": True})
    >>> metric.get()
    0.3333333333333333

    """

    bigger_is_better = False

    def get(self) -> float:
        return self._confusion.hamming_loss()


class ExamplePrecision(MultiLabelMetric):
    """Mean over instances of |true ∩ predicted| / |predicted|.

    Examples
    --------
    >>> metric = ExamplePrecision()
    >>> metric.update({"a": True, "b": False}, {"a": True, "b": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.example_precision()


class ExampleRecall(MultiLabelMetric):
    """Mean over instances of |true ∩ predicted| / |true|.

    Examples
    --------
    >>> metric = ExampleRecall()
    >>> metric.update({"a": True, "b": True}, {"a": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.example_recall()


class ExampleF1(MultiLabelMetric):
    """Mean over instances of 2 |true ∩ predicted| / (|true| + |predicted|) (``average='samples'``).

    Examples
    --------
    >>> metric = ExampleF1()
    >>> metric.update({"a": True, "b": True}, {"a": True})
    >>> metric.update({"a": False}, {"a": False})
    >>> metric.get()
    0.8333333333333333

    """

    def get(self) -> float:
        return self._confusion.example_f1()


class ExampleJaccard(MultiLabelMetric):
    """Mean over instances of |true ∩ predicted| / |true ∪ predicted| (multi-label "accuracy").

    Examples
    --------
    >>> metric = ExampleJaccard()
    >>> metric.update({"a": True, "b": True}, {"a": True, "c": True})
    >>> metric.get()
    0.3333333333333333

    """

    def get(self) -> float:
        return self._confusion.example_jaccard()


class MicroPrecision(MultiLabelMetric):
    """Precision of all (instance, label) decisions pooled together.

    Examples
    --------
    >>> metric = MicroPrecision()
    >>> metric.update({"a": True, "b": False}, {"a": True, "b": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.micro_precision()


class MicroRecall(MultiLabelMetric):
    """Recall of all (instance, label) decisions pooled together.

    Examples
    --------
    >>> metric = MicroRecall()
    >>> metric.update({"a": True, "b": True}, {"a": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.micro_recall()


class MicroF1(MultiLabelMetric):
    """F1 of all (instance, label) decisions pooled together.

    Examples
    --------
    >>> metric = MicroF1(window=1)
    >>> metric.update({"a": True}, {"a": False})
    >>> metric.update({"a": True}, {"a": True})
    >>> metric
    MicroF1(window=1): 1.000000

    """

    def get(self) -> float:
        return self._confusion.micro_f1()


class MacroPrecision(MultiLabelMetric):
    """Mean over the label universe of each label's precision (0 for a label never predicted).

    With a ``window``, over the labels present in the window, as for :class:`MacroF1`.

    Examples
    --------
    >>> metric = MacroPrecision()
    >>> metric.update({"a": True, "b": False}, {"a": True, "b": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.macro()[0]


class MacroRecall(MultiLabelMetric):
    """Mean over the label universe of each label's recall (0 for a label never on).

    With a ``window``, over the labels present in the window, as for :class:`MacroF1`.

    Examples
    --------
    >>> metric = MacroRecall()
    >>> metric.update({"a": True, "b": True}, {"a": True})
    >>> metric.get()
    0.5

    """

    def get(self) -> float:
        return self._confusion.macro()[1]


class MacroF1(MultiLabelMetric):
    """Mean over the label universe of each label's F1.

    A label with no positives and no predicted positives so far scores 0 (scikit-learn's
    ``zero_division=0``) and still counts in the mean. With a ``window``, the mean is over the
    labels present in the window (on in the truth or predicted on at least once): a dormant label
    is left out, not counted as a 0.

    Examples
    --------
    >>> metric = MacroF1()
    >>> metric.update({"a": True, "b": False}, {"a": True, "b": False})
    >>> metric.get()
    0.5
    >>> windowed = MacroF1(window=10)
    >>> windowed.update({"a": True, "b": False}, {"a": True, "b": False})
    >>> windowed.get()
    1.0

    """

    def get(self) -> float:
        return self._confusion.macro()[2]


class PerLabelF1(MultiLabelMetric):
    """Each label's F1, as ``{label: f1}`` over the label universe.

    Examples
    --------
    >>> metric = PerLabelF1()
    >>> metric.update({"a": True, "b": True}, {"a": True, "b": False})
    >>> metric.get()
    {'a': 1.0, 'b': 0.0}

    """

    def get(self) -> dict:
        return self._confusion.per_label_f1()

    def __repr__(self) -> str:
        window = f"(window={self.window})" if self.window is not None else ""
        scores = ", ".join(f"{label}: {f1:.6f}" for label, f1 in self.get().items())
        return f"{type(self).__name__}{window}: {{{scores}}}"
