"""Champion/challenger: which of the learners run side by side serves the predictions.

All learners are scored prequentially on the same records. After each micro-batch the selector
compares their windowed scores; a challenger takes over only when it beats the champion by a margin
and at least ``min_window`` labelled records were scored since the last switch, so two learners
of about the same quality do not flap. Floor learners (the catalogue's ``baseline`` family, such
as ``majority``) are never promoted unless asked: a floor that wins means the real learners have
not learned yet, and serving it would freeze every answer to one label set.
"""

from __future__ import annotations

import typing

from learners import registry
from learners.metrics.suite import SCORES


def is_floor(name: str) -> bool:
    """Whether ``name`` is a floor learner: the catalogue's ``baseline`` family.

    >>> is_floor("majority"), is_floor("mlhat"), is_floor("not-registered")
    (True, False, False)

    """
    entry = registry.LEARNERS.get(name)
    return entry is not None and entry.family == "baseline"


class ChampionSelector:
    """Keeps the serving learner and decides switches.

    Parameters
    ----------
    learners
        The learners side by side; the first one serves until a switch.
    metric
        Windowed score compared (a name of :data:`learners.metrics.suite.SCORES`).
    margin
        How much better (in the metric's units) a challenger must be to take over.
    min_window
        Labelled records scored since the start or the last switch before a switch is allowed.
    promote_floors
        Let floor learners (:func:`is_floor`) take over too; by default they are only scored.

    Examples
    --------
    >>> selector = ChampionSelector(["a", "b"], metric="micro_f1", margin=0.05, min_window=100)
    >>> selector.observe({"a": {"micro_f1": 0.5}, "b": {"micro_f1": 0.9}}, scored=50) is None
    True
    >>> selector.observe({"a": {"micro_f1": 0.5}, "b": {"micro_f1": 0.9}}, scored=50)
    {'from': 'a', 'to': 'b', 'metric': 'micro_f1', 'from_score': 0.5, 'to_score': 0.9, 'scored': 100}
    >>> selector.serving
    'b'

    """

    def __init__(
        self,
        learners: typing.Sequence[str],
        metric: str = "micro_f1",
        margin: float = 0.02,
        min_window: int = 500,
        promote_floors: bool = False,
    ):
        if not learners:
            raise ValueError("at least one learner is needed")
        if metric not in SCORES:
            raise ValueError(f"unknown champion metric {metric!r}; choose one of {sorted(SCORES)}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if min_window < 1:
            raise ValueError(f"min_window must be at least 1, got {min_window}")
        self.learners = list(learners)
        self.metric = metric
        self.margin = margin
        self.min_window = min_window
        self.promote_floors = promote_floors
        self._reset()

    def _reset(self) -> None:
        self._serving = self.learners[0]
        self._since_switch = 0
        self._switches = 0

    def state(self) -> dict:
        """What a restarted job needs to go on choosing as before (for checkpoints)."""
        return {"learners": self.learners, "serving": self._serving, "since_switch": self._since_switch, "switches": self._switches}

    def restore(self, state: dict) -> None:
        """Go on from :meth:`state` of a selector over the same learners (metric, margin and window may differ)."""
        if state["learners"] != self.learners:
            raise ValueError(f"the saved selector chose among {state['learners']}, this one among {self.learners}")
        self._serving, self._since_switch, self._switches = state["serving"], state["since_switch"], state["switches"]

    @property
    def serving(self) -> str:
        return self._serving

    @property
    def switches(self) -> int:
        return self._switches

    def observe(self, windows: typing.Mapping[str, typing.Mapping[str, float]], scored: int) -> dict | None:
        """Windowed scores of every learner after a batch with ``scored`` labelled records.

        Returns the switch (``from``, ``to``, the two scores, records scored since the previous
        switch) when the serving learner changes, else ``None``.
        """
        self._since_switch += scored
        if len(self.learners) < 2 or self._since_switch < self.min_window:
            return None
        sign = 1.0 if SCORES[self.metric] else -1.0
        score = {name: sign * windows[name][self.metric] for name in self.learners if self.metric in windows.get(name, {})}
        if self._serving not in score:
            return None
        candidates = [name for name in score if self.promote_floors or not is_floor(name) or name == self._serving]
        best = max(candidates, key=lambda name: (score[name], -self.learners.index(name)))
        if best == self._serving or score[best] - score[self._serving] <= self.margin:
            return None
        switch = {
            "from": self._serving,
            "to": best,
            "metric": self.metric,
            "from_score": sign * score[self._serving],
            "to_score": sign * score[best],
            "scored": self._since_switch,
        }
        self._serving = best
        self._since_switch = 0
        self._switches += 1
        return switch
