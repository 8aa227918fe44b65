"""Two-window change detectors: a recent window tested against the reference window just before it.

Every detector of the monitor is a :class:`WindowShift`: it keeps the last ``window`` values
(*recent*) and up to ``reference`` values before them (*reference*), and compares their means.
It signals when the recent mean moved away from the reference mean by more than ``min_effect``
*and* by more than ``threshold`` standard errors (a warning at ``warning_threshold``). Both
conditions matter: the standard error keeps noisy streams quiet, the minimum effect keeps rare
events (a label on once in 500 records, where a normal approximation is far too optimistic) and
negligible changes on long streams quiet.

Because the reference slides along just behind the recent window, a stream that changes slowly
and steadily (a learner's error falling as it learns) is not a change; one that jumps is.
"""

from __future__ import annotations

import collections
import math

__all__ = ["DIRECTIONS", "VARIANCES", "WindowShift"]

#: Which moves of the mean count: up only (an error rate), or both ways (a label's frequency).
DIRECTIONS = ("up", "both")

#: How the spread of the values is estimated: ``bernoulli`` for 0/1 values, else from the reference.
VARIANCES = ("bernoulli", "empirical")


class WindowShift:
    """Mean of the last ``window`` values against the mean of the ``reference`` values before them.

    Parameters
    ----------
    window
        Size of the recent window. Smaller reacts sooner to a large change, larger sees smaller ones.
    reference
        Most values kept in the reference window.
    min_reference
        Values the reference must hold before anything is tested (after a reset too).
    threshold
        Standard errors of the difference of the two means beyond which a change is signalled.
    warning_threshold
        Standard errors beyond which a warning is signalled (below ``threshold``).
    min_effect
        Smallest difference of the two means that counts, in the values' own unit.
    min_effect_sd
        Smallest difference that counts, in standard deviations of the reference values (for
        values without a natural unit, such as features); the larger of the two minimums applies.
    direction
        ``"up"``: only increases count; ``"both"``: increases and decreases.
    variance
        ``"bernoulli"`` estimates the variance as ``p (1 - p)`` from the reference mean (0/1
        values); ``"empirical"`` from the reference values themselves.

    Attributes
    ----------
    statistic
        The last tested difference of means in standard errors (signed; 0 while not tested).
    effect
        The last tested difference of means, recent minus reference.

    Examples
    --------
    An error rate of 10% that jumps to 50% at record 1,500:

    >>> import random
    >>> rng = random.Random(3)
    >>> detector = WindowShift(window=100, reference=500, threshold=4.0, min_effect=0.05)
    >>> levels = [detector.update(rng.random() < (0.1 if i < 1500 else 0.5)) for i in range(2000)]
    >>> [i for i, level in enumerate(levels) if level == "drift"][:1]
    [1529]
    >>> round(detector.reference_mean, 2), round(detector.recent_mean, 2)
    (0.41, 0.5)

    A stream that does not change raises no drift:

    >>> detector = WindowShift(window=200, reference=1000, threshold=5.0)
    >>> [detector.update(rng.random() < 0.3) for _ in range(20_000)].count("drift")
    0

    """

    def __init__(
        self,
        window: int = 200,
        reference: int = 1000,
        min_reference: int | None = None,
        threshold: float = 4.0,
        warning_threshold: float = 3.0,
        min_effect: float = 0.05,
        direction: str = "up",
        variance: str = "bernoulli",
        min_effect_sd: float = 0.0,
    ):
        if window < 2 or reference < 2:
            raise ValueError(f"window and reference must hold at least 2 values, got {window} and {reference}")
        min_reference = window if min_reference is None else min_reference
        if not 2 <= min_reference <= reference:
            raise ValueError(f"min_reference must be between 2 and reference ({reference}), got {min_reference}")
        if not 0 < warning_threshold <= threshold:
            raise ValueError(f"need 0 < warning_threshold <= threshold, got {warning_threshold} and {threshold}")
        if min_effect < 0 or min_effect_sd < 0:
            raise ValueError(f"min_effect and min_effect_sd must be >= 0, got {min_effect} and {min_effect_sd}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
        self.window = window
        self.reference = reference
        self.min_reference = min_reference
        self.threshold = threshold
        self.warning_threshold = warning_threshold
        self.min_effect = min_effect
        self.direction = direction
        self.variance = variance
        self.min_effect_sd = min_effect_sd
        self.reset()

    def reset(self) -> None:
        """Forget every value: the next ``window + min_reference`` values build new windows."""
        self._recent: collections.deque[float] = collections.deque()
        self._reference: collections.deque[float] = collections.deque()
        self._recent_sum = 0.0
        self._reference_sum = 0.0
        self._reference_squares = 0.0
        self.statistic = 0.0
        self.effect = 0.0

    @property
    def n_recent(self) -> int:
        return len(self._recent)

    @property
    def n_reference(self) -> int:
        return len(self._reference)

    @property
    def recent_mean(self) -> float:
        return self._recent_sum / len(self._recent) if self._recent else 0.0

    @property
    def reference_mean(self) -> float:
        return self._reference_sum / len(self._reference) if self._reference else 0.0

    @property
    def ready(self) -> bool:
        """Whether both windows are full enough to be tested."""
        return len(self._recent) == self.window and len(self._reference) >= self.min_reference

    def update(self, value: float) -> str | None:
        """Add one value; return ``"drift"``, ``"warning"`` or ``None`` for the windows as they are now."""
        value = float(value)
        self._recent.append(value)
        self._recent_sum += value
        if len(self._recent) > self.window:
            moved = self._recent.popleft()
            self._recent_sum -= moved
            self._reference.append(moved)
            self._reference_sum += moved
            self._reference_squares += moved * moved
            if len(self._reference) > self.reference:
                dropped = self._reference.popleft()
                self._reference_sum -= dropped
                self._reference_squares -= dropped * dropped
        if not self.ready:
            self.statistic = self.effect = 0.0
            return None
        return self._test()

    def _test(self) -> str | None:
        n_ref, n_recent = len(self._reference), len(self._recent)
        mean_ref = self._reference_sum / n_ref
        if self.variance == "bernoulli":
            # Half a success and half a failure of prior: a reference of only zeros is not certain.
            p = (self._reference_sum + 0.5) / (n_ref + 1.0)
            var = p * (1.0 - p)
        else:
            var = max(self._reference_squares / n_ref - mean_ref * mean_ref, 1e-12)
        effect = self._recent_sum / n_recent - mean_ref
        statistic = effect / math.sqrt(var * (1.0 / n_ref + 1.0 / n_recent))
        self.effect, self.statistic = effect, statistic
        size = effect if self.direction == "up" else abs(effect)
        z = statistic if self.direction == "up" else abs(statistic)
        if size < max(self.min_effect, self.min_effect_sd * math.sqrt(var)):
            return None
        if z >= self.threshold:
            return "drift"
        if z >= self.warning_threshold:
            return "warning"
        return None

    def __repr__(self) -> str:
        return (
            f"WindowShift(window={self.window}, reference={self.reference}, threshold={self.threshold}, "
            f"min_effect={self.min_effect}, direction={self.direction!r})"
        )
