"""A binary classifier made of a regressor trained on the 0/1 target."""

from __future__ import annotations

from river import base
from river.tree import splitter, utils

__all__ = ["PureTargetSafeSplitter", "ThresholdRegressor"]


class PureTargetSafeSplitter(splitter.TEBSTSplitter):
    """AMRules' default splitter, made safe for targets that do not vary.

    AMRules scores a candidate split by the share of the target variance it removes, and divides
    by that variance without checking it: a rule whose instances all had the same target raises
    ``ZeroDivisionError`` when it tries to expand. With a 0/1 target that is the common case (any
    rare label). Such a rule has no variance left to reduce, so this splitter proposes no split
    for it; everything else is :class:`river.tree.splitter.TEBSTSplitter`.

    Parameters
    ----------
    digits
        The number of decimal places the feature values are rounded to.

    Examples
    --------
    >>> import random
    >>> from river import rules
    >>> rng = random.Random(1)
    >>> model = rules.AMRules(n_min=20, splitter=PureTargetSafeSplitter())
    >>> for _ in range(100):
    ...     model.learn_one({"a": rng.random(), "b": rng.random()}, 0.0)
    >>> model.predict_one({"a": 0.5, "b": 0.5})
    0.0

    """

    def best_evaluated_split_suggestion(self, criterion, pre_split_dist, att_idx, binary_only=True):
        if pre_split_dist.get() <= 0.0:
            return utils.BranchFactory()
        return super().best_evaluated_split_suggestion(criterion, pre_split_dist, att_idx, binary_only)


class ThresholdRegressor(base.Classifier):
    """Binary classifier that regresses the 0/1 target and thresholds the output.

    This is how regression learners such as AMRules serve as binary-relevance members in the
    multi-label stream literature. The regressor learns ``1.0`` for positive instances and ``0.0``
    for negative ones; the class is ``True`` when its output is at least ``threshold``.

    The probability of ``True`` is the output clipped to [0, 1] and then stretched linearly on each
    side of ``threshold`` so that ``threshold`` maps to 0.5: it equals the clipped output when
    ``threshold`` is 0.5, and thresholding the probability at 0.5 (as multi-label learners do)
    always agrees with :meth:`predict_one`.

    Parameters
    ----------
    regressor
        The river regressor to train on 0/1.
    threshold
        Output at or above which the class is ``True``; strictly between 0 and 1.

    Examples
    --------
    >>> import random
    >>> from river import rules
    >>> rng = random.Random(0)
    >>> model = ThresholdRegressor(rules.AMRules(n_min=50, splitter=PureTargetSafeSplitter()))
    >>> hits = 0
    >>> for _ in range(1000):
    ...     x = {"u": rng.random(), "v": rng.random()}
    ...     y = x["u"] > 0.3
    ...     hits += model.predict_one(x) == y
    ...     model.learn_one(x, y)
    >>> print(f"{hits / 1000:.2f}")
    0.99
    >>> model.predict_proba_one({"u": 0.9})[True] > 0.5
    True

    """

    def __init__(self, regressor: base.Regressor, threshold: float = 0.5):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
        self.regressor = regressor
        self.threshold = threshold

    @classmethod
    def _unit_test_params(cls):
        from river import linear_model, rules

        yield {"regressor": rules.AMRules(n_min=20, splitter=PureTargetSafeSplitter())}
        yield {"regressor": linear_model.LinearRegression(), "threshold": 0.3}

    def learn_one(self, x: dict, y: base.typing.ClfTarget) -> None:
        self.regressor.learn_one(x, 1.0 if y else 0.0)

    def predict_one(self, x: dict) -> bool:
        return bool(self.regressor.predict_one(x) >= self.threshold)

    def predict_proba_one(self, x: dict) -> dict[bool, float]:
        output = min(1.0, max(0.0, float(self.regressor.predict_one(x))))
        if output < self.threshold:
            p_true = 0.5 * output / self.threshold
        else:
            p_true = 0.5 + 0.5 * (output - self.threshold) / (1.0 - self.threshold)
        return {False: 1.0 - p_true, True: p_true}
