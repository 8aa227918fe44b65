"""Multi-label metrics updated one instance at a time, cumulative or over a sliding window.

Single metrics follow river's interface (``update``, ``revert``, ``get``, ``bigger_is_better``);
:class:`MetricSuite` follows all scores of a learner at once and is what the evaluator uses.
The conventions for missing labels, labels that appear mid-stream, empty label sets and zero
denominators are documented in :mod:`learners.metrics.confusion`.
"""

from learners.metrics.confusion import MultiLabelConfusion, observe
from learners.metrics.multilabel import (
    ExactMatch,
    ExampleF1,
    ExampleJaccard,
    ExamplePrecision,
    ExampleRecall,
    HammingLoss,
    MacroF1,
    MacroPrecision,
    MacroRecall,
    MicroF1,
    MicroPrecision,
    MicroRecall,
    MultiLabelMetric,
    PerLabelF1,
)
from learners.metrics.suite import SCORES, MetricSuite

__all__ = [
    "SCORES",
    "ExactMatch",
    "ExampleF1",
    "ExampleJaccard",
    "ExamplePrecision",
    "ExampleRecall",
    "HammingLoss",
    "MacroF1",
    "MacroPrecision",
    "MacroRecall",
    "MetricSuite",
    "MicroF1",
    "MicroPrecision",
    "MicroRecall",
    "MultiLabelConfusion",
    "MultiLabelMetric",
    "PerLabelF1",
    "observe",
]
