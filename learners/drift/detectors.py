"""Two-window change detectors: a recent window tested against the reference window just before it.

Every detector of the monitor is a window shift: it keeps the last ``window`` values
(*recent*) and up to ``reference`` values before them (*reference*), and compares their means.
It signals when the recent mean moved away from the reference mean by more than ``min_effect``
*and* by more than ``threshold`` standard errors (a warning at ``warning_threshold``). Both
conditions matter: the standard error keeps noisy streams quiet, the minimum effect keeps rare
events (a label on once in 500 records, where a normal approximation is far too optimistic) and
negligible changes on long streams quiet.

Because the reference slides along just behind the recent window, a stream that changes slowly
and steadily (a learner's error falling as it learns) is not a change; one that jumps is.

:class:`WindowShiftBank` runs many such detectors over the same records at once with numpy (one
per label, say), which is what the monitor uses; :class:`WindowShift` is one detector alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Ahead", "DIRECTIONS", "NONE", "VARIANCES", "WARNING", "DRIFT", "WindowShift", "WindowShiftBank"]

#: Which moves of the mean count: up only (an error rate), or both ways (a label's frequency).
DIRECTIONS = ("up", "both")

#: How the spread of the values is estimated: ``bernoulli`` for 0/1 values, else from the reference
#: (``floored``: from both windows where the reference holds one value only).
VARIANCES = ("bernoulli", "empirical", "floored")

#: Levels a bank returns per detector.
NONE, WARNING, DRIFT = 0, 1, 2
_LEVEL_NAMES = {NONE: None, WARNING: "warning", DRIFT: "drift"}


@dataclasses.dataclass(frozen=True, slots=True)
class Ahead:
    """What a :class:`WindowShiftBank` would hold after each of a few records (one row per record):
    its running sums, and each detector's readiness, statistic, effect and level. See
    :meth:`WindowShiftBank.look_ahead`."""

    values: np.ndarray
    columns: slice | np.ndarray  # the detectors computed
    age: np.ndarray  # values each detector holds after the record
    recent: np.ndarray
    reference: np.ndarray
    squares: np.ndarray
    recent_squares: np.ndarray
    ready: np.ndarray
    statistic: np.ndarray
    effect: np.ndarray
    levels: np.ndarray


class WindowShiftBank:
    """Many window-shift detectors fed one value each per record, updated together with numpy.

    All share the window sizes; each has its own threshold, minimum effect, direction and variance
    (see :class:`WindowShift` for what they mean). Detectors may be added at any time (a label
    first seen) and reset one by one (after a change): a detector only uses values from its last
    reset or its creation on.

    Parameters
    ----------
    window, reference, min_reference
        As for :class:`WindowShift`, shared by every detector of the bank.

    Examples
    --------
    >>> import numpy as np
    >>> bank = WindowShiftBank(window=50, reference=200)
    >>> bank.add(threshold=4.0, warning_threshold=3.0, min_effect=0.05), bank.add(4.0, 3.0, direction="both")
    (0, 1)
    >>> rng = np.random.default_rng(0)
    >>> levels = [bank.update(rng.random(2) < [0.1, 0.3] if i < 600 else rng.random(2) < [0.1, 0.8]) for i in range(700)]
    >>> [i for i, level in enumerate(levels) if level[1] == DRIFT][:1], any(level[0] == DRIFT for level in levels)
    ([622], False)

    """

    def __init__(self, window: int = 200, reference: int = 1000, min_reference: int | None = None):
        if window < 2 or reference < 2:
            raise ValueError(f"window and reference must hold at least 2 values, got {window} and {reference}")
        min_reference = window if min_reference is None else min_reference
        if not 2 <= min_reference <= reference:
            raise ValueError(f"min_reference must be between 2 and reference ({reference}), got {min_reference}")
        self.window = window
        self.reference = reference
        self.min_reference = min_reference
        self._t = 0
        self._youngest = -(window + reference)  # the last time a detector was added or reset
        self._buffer = np.zeros((window + reference, 0))
        self._start = np.zeros(0, dtype=np.int64)
        self._recent_sum = np.zeros(0)
        self._reference_sum = np.zeros(0)
        self._reference_squares = np.zeros(0)
        self._recent_squares = np.zeros(0)
        self.threshold = np.zeros(0)
        self.warning_threshold = np.zeros(0)
        self.min_effect = np.zeros(0)
        self.min_effect_sd = np.zeros(0)
        self.up = np.zeros(0, dtype=bool)
        self.bernoulli = np.zeros(0, dtype=bool)
        self.floored = np.zeros(0, dtype=bool)
        self.statistic = np.zeros(0)
        self.effect = np.zeros(0)
        self.ready = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return len(self._start)

    def add(
        self,
        threshold: float = 4.0,
        warning_threshold: float = 3.0,
        min_effect: float = 0.05,
        min_effect_sd: float = 0.0,
        direction: str = "up",
        variance: str = "bernoulli",
    ) -> int:
        """Add a detector, which starts with empty windows; return its index."""
        if not 0 < warning_threshold <= threshold:
            raise ValueError(f"need 0 < warning_threshold <= threshold, got {warning_threshold} and {threshold}")
        if min_effect < 0 or min_effect_sd < 0:
            raise ValueError(f"min_effect and min_effect_sd must be >= 0, got {min_effect} and {min_effect_sd}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
        n = len(self._start)
        if n == self._buffer.shape[1]:
            # Room for twice as many detectors: a label space found one label at a time (983 labels
            # on delicious) copied the whole buffer once per label.
            grown = np.zeros((len(self._buffer), max(8, 2 * n)))
            grown[:, :n] = self._buffer
            self._buffer = grown
        self._start = np.append(self._start, self._t)
        self._youngest = self._t
        for name in ("_recent_sum", "_reference_sum", "_reference_squares", "_recent_squares", "statistic", "effect"):
            setattr(self, name, np.append(getattr(self, name), 0.0))
        self.ready = np.append(self.ready, False)
        self.threshold = np.append(self.threshold, threshold)
        self.warning_threshold = np.append(self.warning_threshold, warning_threshold)
        self.min_effect = np.append(self.min_effect, min_effect)
        self.min_effect_sd = np.append(self.min_effect_sd, min_effect_sd)
        self.up = np.append(self.up, direction == "up")
        self.bernoulli = np.append(self.bernoulli, variance == "bernoulli")
        self.floored = np.append(self.floored, variance == "floored")
        return len(self._start) - 1

    def reset(self, index) -> None:
        """Forget the values of the detector(s) at ``index``: their windows fill again from the next record."""
        self._start[index] = self._t
        self._youngest = self._t
        self._recent_sum[index] = self._reference_sum[index] = self._reference_squares[index] = 0.0
        self._recent_squares[index] = 0.0
        self.statistic[index] = self.effect[index] = 0.0
        self.ready[index] = False

    def _counts(self) -> tuple[np.ndarray, np.ndarray]:
        age = self._t - self._start
        return np.minimum(age, self.window), np.minimum(np.maximum(age - self.window, 0), self.reference)

    @property
    def n_recent(self) -> np.ndarray:
        return self._counts()[0]

    @property
    def n_reference(self) -> np.ndarray:
        return self._counts()[1]

    @property
    def recent_mean(self) -> np.ndarray:
        n_recent, _ = self._counts()
        return np.divide(self._recent_sum, n_recent, out=np.zeros(len(self)), where=n_recent > 0)

    @property
    def reference_mean(self) -> np.ndarray:
        _, n_reference = self._counts()
        return np.divide(self._reference_sum, n_reference, out=np.zeros(len(self)), where=n_reference > 0)

    def update(self, values) -> np.ndarray:
        """Add one value per detector (in index order); return each one's level: NONE, WARNING or DRIFT."""
        values = np.asarray(values, dtype=float)
        window, size, t = self.window, self.window + self.reference, self._t
        if t - self._youngest >= size:
            return self._update_full(values, window, size, t)
        slot, n = t % size, len(self)
        age = t + 1 - self._start  # values each detector holds with this one
        leaving_recent = self._buffer[(t - window) % size, :n] * (age > window)
        leaving_reference = self._buffer[slot, :n] * (age > size)
        self._buffer[slot, :n] = values
        self._t = t + 1
        self._recent_sum += values - leaving_recent
        self._reference_sum += leaving_recent - leaving_reference
        self._reference_squares += leaving_recent * leaving_recent - leaving_reference * leaving_reference
        self._recent_squares += values * values - leaving_recent * leaving_recent
        n_reference = np.minimum(age - window, self.reference)
        self.ready = ready = n_reference >= self.min_reference
        levels = np.zeros(len(values), dtype=np.int8)
        if not ready.any():
            self.statistic[:] = self.effect[:] = 0.0
            return levels
        n_ref = np.maximum(n_reference, 1)
        mean_ref = self._reference_sum / n_ref
        # The rate of both windows (pooled: the spread if nothing changed), with half a success and
        # half a failure of prior (a reference of only zeros is not certain). The reference's rate
        # alone made a rise from a rare rate look far surer than it is, and kept many rare labels'
        # detectors at a warning level the exact test (Family) then turned down record after record.
        p = (self._reference_sum + self._recent_sum + 0.5) / (n_ref + window + 1.0)
        var = _variance(self.bernoulli, self.floored, p, mean_ref, self._reference_squares, n_ref,
                        self._recent_sum, self._recent_squares, window)
        self.effect = effect = (self._recent_sum / window - mean_ref) * ready
        self.statistic = statistic = effect / np.sqrt(var * (1.0 / n_ref + 1.0 / window))
        up = self.up
        z = np.where(up, statistic, np.abs(statistic))
        big = ready & (np.where(up, effect, np.abs(effect)) >= np.maximum(self.min_effect, self.min_effect_sd * np.sqrt(var)))
        levels[big & (z >= self.warning_threshold)] = WARNING
        levels[big & (z >= self.threshold)] = DRIFT
        return levels

    def _update_full(self, values: np.ndarray, window: int, size: int, t: int) -> np.ndarray:
        """:meth:`update` when every detector's windows are full (none added or reset in the last
        ``window + reference`` values): the same sums and tests without the per-detector counts."""
        slot, n = t % size, len(self)
        leaving_recent = self._buffer[(t - window) % size, :n].copy()
        leaving_reference = self._buffer[slot, :n].copy()
        self._buffer[slot, :n] = values
        self._t = t + 1
        self._recent_sum += values - leaving_recent
        self._reference_sum += leaving_recent - leaving_reference
        self._reference_squares += leaving_recent * leaving_recent - leaving_reference * leaving_reference
        self._recent_squares += values * values - leaving_recent * leaving_recent
        n_ref = self.reference
        self.ready = np.ones(len(values), dtype=bool)
        mean_ref = self._reference_sum / n_ref
        p = (self._reference_sum + self._recent_sum + 0.5) / (n_ref + window + 1.0)
        var = _variance(self.bernoulli, self.floored, p, mean_ref, self._reference_squares, n_ref,
                        self._recent_sum, self._recent_squares, window)
        self.effect = effect = self._recent_sum / window - mean_ref
        self.statistic = statistic = effect / np.sqrt(var * (1.0 / n_ref + 1.0 / window))
        up = self.up
        z = np.where(up, statistic, np.abs(statistic))
        big = np.where(up, effect, np.abs(effect)) >= np.maximum(self.min_effect, self.min_effect_sd * np.sqrt(var))
        levels = np.zeros(len(values), dtype=np.int8)
        levels[big & (z >= self.warning_threshold)] = WARNING
        levels[big & (z >= self.threshold)] = DRIFT
        return levels

    # -- many records at once ------------------------------------------------------------------------

    @property
    def max_ahead(self) -> int:
        """Most records :meth:`look_ahead` takes at once (what leaves the windows is then still in the buffer)."""
        return min(self.window, self.reference)

    def look_ahead(self, values, columns=None) -> Ahead:
        """What :meth:`update` would do with each row of ``values`` in turn, without changing the bank.

        ``values`` has one row per record and one column per detector (or per detector of
        ``columns``, an index array: then only those are computed). Nothing is added or reset
        between the rows. Every number is computed with the same operations in the same order as
        :meth:`update`, so :meth:`commit` leaves the bank bit for bit as the same calls of
        :meth:`update` would.
        """
        values = np.asarray(values, dtype=float)
        rows = len(values)
        if rows > self.max_ahead:
            raise ValueError(f"at most {self.max_ahead} records at once, got {rows}")
        window, size, n = self.window, self.window + self.reference, len(self)
        cols = slice(0, n) if columns is None else np.asarray(columns, dtype=np.int64)
        times = self._t + np.arange(rows)
        age = (times + 1)[:, None] - self._start[cols][None, :]
        leaving_recent = self._buffer[(times - window) % size][:, cols] * (age > window)
        leaving_reference = self._buffer[times % size][:, cols] * (age > size)
        # add.accumulate adds row after row, as the running sums of update do.
        recent = np.add.accumulate(np.vstack([self._recent_sum[cols], values - leaving_recent]))[1:]
        reference = np.add.accumulate(np.vstack([self._reference_sum[cols], leaving_recent - leaving_reference]))[1:]
        squares = np.add.accumulate(np.vstack([
            self._reference_squares[cols], leaving_recent * leaving_recent - leaving_reference * leaving_reference]))[1:]
        recent_squares = np.add.accumulate(np.vstack([self._recent_squares[cols], values * values - leaving_recent * leaving_recent]))[1:]
        n_reference = np.minimum(age - window, self.reference)
        ready = n_reference >= self.min_reference
        n_ref = np.maximum(n_reference, 1)
        mean_ref = reference / n_ref
        p = (reference + recent + 0.5) / (n_ref + window + 1.0)
        bernoulli, up = self.bernoulli[cols], self.up[cols]
        var = _variance(bernoulli, self.floored[cols], p, mean_ref, squares, n_ref, recent, recent_squares, window)
        effect = (recent / window - mean_ref) * ready
        statistic = effect / np.sqrt(var * (1.0 / n_ref + 1.0 / window))
        z = np.where(up, statistic, np.abs(statistic))
        big = ready & (np.where(up, effect, np.abs(effect)) >= np.maximum(self.min_effect[cols], self.min_effect_sd[cols] * np.sqrt(var)))
        levels = np.zeros(statistic.shape, dtype=np.int8)
        levels[big & (z >= self.warning_threshold[cols])] = WARNING
        levels[big & (z >= self.threshold[cols])] = DRIFT
        none_ready = ~ready.any(axis=1)
        effect[none_ready] = statistic[none_ready] = 0.0  # as update leaves them when it tests nothing
        return Ahead(values, cols, age, recent, reference, squares, recent_squares, ready, statistic, effect, levels)

    def reference_means_before(self, ahead: Ahead) -> np.ndarray:
        """Row ``k``: :attr:`reference_mean` of ``ahead``'s detectors just before its ``k``-th record."""
        counts = np.minimum(np.maximum(ahead.age - self.window, 0), self.reference)  # after each record
        after = np.divide(ahead.reference, counts, out=np.zeros(ahead.reference.shape), where=counts > 0)
        return np.vstack([self.reference_mean[ahead.columns][None, :], after[:-1]])

    def commit(self, ahead: Ahead, rows: int) -> None:
        """Take the first ``rows`` records of ``ahead`` (a :meth:`look_ahead` of every detector) as :meth:`update` would."""
        if not isinstance(ahead.columns, slice):
            raise ValueError("only a look-ahead of every detector can be committed")
        if rows <= 0:
            return
        size, n = self.window + self.reference, len(self)
        times = self._t + np.arange(rows)
        self._buffer[times % size, :n] = ahead.values[:rows]
        self._t += rows
        last = rows - 1
        self._recent_sum = ahead.recent[last].copy()
        self._reference_sum = ahead.reference[last].copy()
        self._reference_squares = ahead.squares[last].copy()
        self._recent_squares = ahead.recent_squares[last].copy()
        self.ready = ahead.ready[last].copy()
        self.statistic = ahead.statistic[last].copy()
        self.effect = ahead.effect[last].copy()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_buffer"] = self._buffer[:, : len(self)].copy()  # not the room kept for more detectors
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_youngest" not in state:  # pickled before it was kept
            self._youngest = int(self._start.max()) if len(self._start) else -(self.window + self.reference)
        if "floored" not in state:  # pickled before the floored variance: none is, the recent squares from the buffer
            n, size = len(self._start), self.window + self.reference
            self.floored = np.zeros(n, dtype=bool)
            back = np.arange(self.window)
            held = back[:, None] < np.minimum(self._t - self._start, self.window)[None, :]
            recent = self._buffer[(self._t - 1 - back) % size][:, :n] if len(self._buffer) else np.zeros((self.window, n))
            self._recent_squares = (recent * recent * held).sum(axis=0)


def _variance(bernoulli, floored, p, mean_ref, reference_squares, n_ref, recent, recent_squares, window):
    """Each detector's variance of one value: ``p (1 - p)`` for 0/1 values, else the reference's;
    for ``floored`` detectors whose reference holds one value only (a sparse feature absent from
    the whole reference), that of both windows, the spread were there no change: the reference's,
    0, put a feature's first appearance at thousands of standard errors. Elsewhere the reference's
    stays (at least both windows' everywhere delayed the benchmark's feature drifts by a few records)."""
    spread = reference_squares / n_ref - mean_ref * mean_ref
    if floored.any():
        n = n_ref + window
        pooled_mean = (mean_ref * n_ref + recent) / n
        pooled = (reference_squares + recent_squares) / n - pooled_mean * pooled_mean
        spread = np.where(floored & (spread <= 1e-12), pooled, spread)
    return np.where(bernoulli, p * (1.0 - p), np.maximum(spread, 1e-12))


class WindowShift:
    """Mean of the last ``window`` values against the mean of the ``reference`` values before them.

    One detector of a :class:`WindowShiftBank`, for a single stream of values.

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
    direction
        ``"up"``: only increases count; ``"both"``: increases and decreases.
    variance
        ``"bernoulli"`` estimates the variance as ``p (1 - p)`` from the mean of both windows (0/1
        values: the spread were there no change); ``"empirical"`` from the reference values themselves;
        ``"floored"`` as ``"empirical"``, but where the reference holds one value only, from the
        values of both windows (a feature absent from the whole reference is no certainty).
    min_effect_sd
        Smallest difference that counts, in standard deviations of the reference values (for
        values without a natural unit, such as features); the larger of the two minimums applies.

    Examples
    --------
    An error rate of 10% that jumps to 50% at record 1,500:

    >>> import random
    >>> rng = random.Random(3)
    >>> detector = WindowShift(window=100, reference=500, threshold=4.0, min_effect=0.05)
    >>> levels = [detector.update(rng.random() < (0.1 if i < 1500 else 0.5)) for i in range(2000)]
    >>> [i for i, level in enumerate(levels) if level == "drift"][:1]
    [1531]
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
        self._bank = WindowShiftBank(window, reference, min_reference)
        self._bank.add(threshold, warning_threshold, min_effect, min_effect_sd, direction, variance)
        self.window, self.reference, self.min_reference = window, reference, self._bank.min_reference
        self.threshold, self.warning_threshold, self.min_effect = threshold, warning_threshold, min_effect
        self.direction, self.variance, self.min_effect_sd = direction, variance, min_effect_sd

    def update(self, value: float) -> str | None:
        """Add one value; return ``"drift"``, ``"warning"`` or ``None`` for the windows as they are now."""
        return _LEVEL_NAMES[int(self._bank.update([value])[0])]

    def reset(self) -> None:
        """Forget every value: the next ``window + min_reference`` values build new windows."""
        self._bank.reset(0)

    @property
    def statistic(self) -> float:
        """The last tested difference of means in standard errors (signed; 0 while not tested)."""
        return float(self._bank.statistic[0])

    @property
    def effect(self) -> float:
        """The last tested difference of means, recent minus reference."""
        return float(self._bank.effect[0])

    @property
    def n_recent(self) -> int:
        return int(self._bank.n_recent[0])

    @property
    def n_reference(self) -> int:
        return int(self._bank.n_reference[0])

    @property
    def recent_mean(self) -> float:
        return float(self._bank.recent_mean[0])

    @property
    def reference_mean(self) -> float:
        return float(self._bank.reference_mean[0])

    @property
    def ready(self) -> bool:
        """Whether both windows are full enough to be tested."""
        return bool(self._bank.ready[0])

    def __repr__(self) -> str:
        return (
            f"WindowShift(window={self.window}, reference={self.reference}, threshold={self.threshold}, "
            f"min_effect={self.min_effect}, direction={self.direction!r})"
        )
