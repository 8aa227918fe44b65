"""iHOMER's serving choices: which candidate (a root, a group's own learner, their blend) predicts
each label, from each candidate's faded count of mistakes."""

from __future__ import annotations

import itertools
import typing

import numpy as np

from learners.base import DriftEvent, Label, LabelDict
from learners.ihomer_groups import _Choices, _Group

#: The name of a group's per-label choices among the candidates of its label-set choice.
PER_LABEL = "per label"


def probabilities_of(probabilities: dict[Label, float], labels: typing.Sequence[Label]) -> np.ndarray:
    """The probabilities of ``labels``, in their order, as an array (0 for a label not predicted)."""
    return np.fromiter(map(probabilities.get, labels, itertools.repeat(0.0)), float, len(labels))


class ServingChoices:
    """The serving-choice part of :class:`~learners.ihomer.IHOMER` (a mixin: it reads the model's
    settings, groups and levels)."""

    def _score_levels(
        self,
        y: LabelDict,
        roots: list[dict[Label, float]],
        own: dict[str, dict[Label, float]],
        candidates: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Fade and count each candidate's wrong labels on each group and on each of its labels
        (and, with ``serving_sets``, its wrong label sets on the group); move a serving choice to
        the best other candidate when it has been clearly better (see ``serving_margin``).
        ``candidates``: the matrices the prediction of this instance built (see :meth:`_served`)."""
        fading = 1.0 - 1.0 / self.serving_window
        own_columns = self._own_columns()
        retired_roots = self._retired_root_columns()
        for group in self._groups:
            proba = own.get(group.group_id)
            if proba is None:  # created while learning the instance predicted
                continue
            labels = group.labels
            truth = np.fromiter(map(y.__getitem__, labels), bool, len(labels))
            wrong = (self._group_candidates(group, roots, proba, candidates) >= 0.5) != truth[:, None]
            counts = wrong.sum(axis=0, dtype=float)
            retired = (own_columns if group.retired else []) + retired_roots
            if self.serving_sets:
                # Scored before the per-label choices move: the prediction these choices made.
                per_label = wrong[np.arange(len(labels)), self._label_columns(group)].any()
                set_wrong = np.concatenate(([per_label], wrong.any(axis=0)))[None, :]
                barred = [1 + column for column in retired]
                for _, left in self._fade(group.set_choice, set_wrong.astype(float), fading, decide=True, barred=barred):
                    self._emit_set_serving(group, left)
            self._fade(group.choice, counts[None, :], fading, decide=False)
            group.label_choices.grow(len(labels))
            barred = self._set_only_columns + retired
            for row, left in self._fade(group.label_choices, wrong, fading, decide=True, barred=barred):
                self._emit_serving(group, group.label_choices, row, [labels[row]], left)
            if self.retire_after is not None and not group.retired:
                self._retire_if_idle(group, own_columns)

    @property
    def _roots_retire(self) -> bool:
        """Whether roots other than the first retire when idle (``retire_roots`` with ``retire_after``)."""
        return self.retire_roots and self.retire_after is not None

    def _retired_root_columns(self) -> list[int]:
        """The candidate columns of the retired roots."""
        return [self._root_columns[i] for i in sorted(self._retired_roots)]

    def _retire_idle_roots(self) -> None:
        """Note which roots serve a label or a group's label sets now (after this instance's
        choices); retire each root but the first that has not for ``retire_after`` instances."""
        self._retire_roots_unless(self._serving_columns(), self._n, tuple(self._labels))

    def _serving_columns(self) -> set[int]:
        """The candidate columns that serve a label or a label set of one of the groups."""
        served: set[int] = set()
        for group in self._groups:
            served.update(self._served_columns(group).tolist())
        return served

    def _root_retirement_due(self) -> bool:
        """Whether a root could retire at this instance (none served since ``retire_after`` ago)."""
        return any(
            self._n - self._root_served_at[i] >= self.retire_after
            for i in range(1, len(self._roots))
            if i not in self._retired_roots
        )

    def _retire_roots_unless(self, served: set[int], n: int, labels: tuple) -> list[int]:
        """The root retirement step of instance ``n`` (``labels``: those known then), given the
        candidate columns that serve after its choices; the roots it retires."""
        retiring = []
        for i in range(1, len(self._roots)):
            if i in self._retired_roots:
                continue
            if self._root_columns[i] in served:
                self._root_served_at[i] = n
            elif n - self._root_served_at[i] >= self.retire_after:
                retiring.append(i)
                self._retire_root(i, n, labels)
        if retiring:
            self._move_off_retired([self._root_columns[i] for i in retiring])
        return retiring

    def _move_off_retired(self, columns: list[int]) -> None:
        """Every group's label choices that point at ``columns`` (learners that just retired) move
        to their best open candidate. A retired learner served nothing, but a label's own choice
        under its group's label-set choice does not serve: it would serve again, from a retired
        learner, when the group's label sets go back to its per-label choices."""
        for group in self._groups:
            if hasattr(group, "label_choices"):  # a sharded head's stand-ins hold no choices
                self._move_off(group, columns)

    def _move_off(self, group: _Group, columns) -> None:
        """Move the group's label choices that serve one of ``columns`` to the open candidate
        with the fewest faded mistakes (the first of equals), each with a ``serving_level`` event."""
        choices = group.label_choices
        rows = np.flatnonzero(np.isin(choices.serving, columns))
        if not len(rows):
            return
        open_columns = np.array([column for column in range(len(self._levels)) if column not in self._barred(group)])
        for row in rows.tolist():
            left = int(choices.serving[row])
            choices.serving[row] = open_columns[int(np.argmin(choices.wrong[row, open_columns]))]
            self._emit_serving(group, choices, row, [group.labels[row]], left)

    def _barred(self, group: _Group) -> set[int]:
        """The candidates no label choice of the group may move to: the roots that serve whole
        groups only, the retired roots, and the group's own learner and blend once it retired."""
        barred = set(self._set_only_columns) | set(self._retired_root_columns())
        return barred | set(self._own_columns()) if group.retired else barred

    def _retire_root(self, i: int, n: int, labels: tuple) -> None:
        """Root ``i`` stops learning and predicting; an untrained clone stands for its state."""
        self._retired_roots.add(i)
        self._roots[i] = self._roots[i].clone()
        level = self._root_levels[i]
        detail = {"learner": level, "last_served_at": self._root_served_at[i]}
        self._emit(DriftEvent("ihomer", "global", "retire", n, labels, level, detail))

    def _own_columns(self) -> list[int]:
        """The candidates that need the group's own learner: itself and the blend."""
        return [column for column, level in enumerate(self._levels) if level in ("own", "blend")]

    def _retire_if_idle(self, group: _Group, own_columns: list[int]) -> None:
        """Note whether the group's own learner serves (alone or in the blend, a label or the label
        sets); retire it when it has not for ``retire_after`` instances, and drop its state."""
        served = set(self._served_columns(group).tolist())
        if not served.isdisjoint(own_columns):
            group.own_served_at = self._n
            return
        if self._n - group.own_served_at < self.retire_after:
            return
        group.retired = True
        # Its state goes: it would only ever serve again as a new group's warm start, and a stale
        # learner that lost for so long is no better start than a fresh one (see _learner_source).
        # An untrained clone keeps the group's record of what its learner is.
        group.learner = group.learner.clone()
        detail = {
            "group": group.group_id,
            "learner": "own",
            "last_served_at": group.own_served_at,
            "created_at": group.created_at,
        }
        self._emit(DriftEvent("ihomer", "global", "retire", self._n, tuple(group.labels), group.home, detail))
        self._move_off(group, own_columns)

    def _fade(
        self, choices: _Choices, wrong: np.ndarray, fading: float, decide: bool, barred: list[int] = ()
    ) -> list[tuple[int, int]]:
        """Add one instance's mistakes (a row per choice, a column per candidate); with ``decide``,
        move each choice to its best other candidate (not one of the ``barred`` columns) where the
        margin rule allows. Returns the ``(row, index of the candidate it left)`` of each move."""
        counts = choices.wrong
        counts *= fading
        counts += wrong
        choices.weight = choices.weight * fading + 1.0
        choices.scored += 1
        if not decide or self._frozen(choices, barred):
            return []
        scored = choices.scored
        prior = self.serving_prior
        ready = scored >= (self.n_min if prior is None else 1)
        if not ready.any():
            return []
        rows = np.arange(len(scored))
        serving = choices.serving
        if prior is None:
            others = counts.copy()
        else:
            # As if every candidate had also served ``prior`` instances at the default's rate.
            others = counts + prior * counts[:, :1] / choices.weight[:, None]
        current = others[rows, serving]
        others[rows, serving] = np.inf
        if len(barred):
            others[:, barred] = np.inf
        # The decision at n_min replaces a default, not a candidate that earned its place: no margin
        # then (the margin is relative, so on wrong label sets, near 1 for every candidate, it would
        # hold the default for good).
        bar = np.where(scored == self.n_min, current, (1.0 - self.serving_margin) * current)
        moving = np.flatnonzero(ready & (others.min(axis=1) < bar))
        if not len(moving):
            return []
        best = others[moving].argmin(axis=1)  # the first of equals: the root, then the group's own learner
        left = serving[moving].tolist()
        serving[moving] = best
        return list(zip(moving.tolist(), left))

    @staticmethod
    def _frozen(choices: _Choices, barred) -> bool:
        """Whether no choice can move: one candidate is left open (the others retired or serve
        whole groups only) and every row serves it (rows move off a learner when it retires)."""
        open_columns = set(range(choices.wrong.shape[1])).difference(barred)
        return len(open_columns) == 1 and bool((choices.serving == open_columns.pop()).all())

    def _emit_serving(self, group: _Group, choices: _Choices, row: int, labels: list[Label], left: int) -> None:
        detail = {
            "group": group.group_id,
            "label": str(labels[0]),
            "from": self._levels[left],
            "to": self._levels[choices.serving[row]],
            **self._window_errors(choices, row, len(labels)),
            "instances": int(choices.scored[row]),
        }
        self._emit(DriftEvent("ihomer", "global", "serving_level", self._n, tuple(labels), group.home, detail))

    def _emit_set_serving(self, group: _Group, left: int) -> None:
        choices = group.set_choice
        names = self._set_levels()
        detail = {
            "group": group.group_id,
            "unit": "label set",
            "from": names[left],
            "to": names[choices.serving[0]],
            **self._set_errors(group),
            "instances": int(choices.scored[0]),
        }
        self._emit(DriftEvent("ihomer", "global", "serving_level", self._n, tuple(group.labels), group.home, detail))

    def _set_levels(self) -> tuple[str, ...]:
        """The candidates of a group's label-set choice: its per-label choices, then each level alone."""
        return (PER_LABEL, *self._levels)

    def _candidates(self, labels: list[Label], roots: list[dict[Label, float]], own: dict[Label, float]) -> np.ndarray:
        """Each candidate's probability of each label: a row per label, a column per serving level."""
        root_p = [probabilities_of(root, labels) for root in roots]
        own_p = probabilities_of(own, labels)
        columns = [root_p[0], own_p]
        if self.serving_blend:
            columns.append((root_p[0] + own_p) / 2.0)
        return np.column_stack(columns + root_p[1:])

    def _group_candidates(
        self,
        group: _Group,
        roots: list[dict[Label, float]],
        own: dict[Label, float],
        memo: dict[str, np.ndarray] | None,
    ) -> np.ndarray:
        """The group's :meth:`_candidates`, taken from (or kept in) ``memo``, the matrices built for
        one instance with these very ``roots`` and ``own`` (a label adopted since: built again)."""
        if memo is None:
            return self._candidates(group.labels, roots, own)
        candidates = memo.get(group.group_id)
        if candidates is None or len(candidates) != len(group.labels):
            candidates = memo[group.group_id] = self._candidates(group.labels, roots, own)
        return candidates

    def _served(
        self,
        group: _Group,
        roots: list[dict[Label, float]],
        own: dict[Label, float],
        candidates: dict[str, np.ndarray] | None = None,
    ) -> list[float]:
        """The probability of each of the group's labels from the candidate that serves it
        (``candidates``: a memo of the instance's candidate matrices, see :meth:`_group_candidates`)."""
        matrix = self._group_candidates(group, roots, own, candidates)
        return matrix[np.arange(len(group.labels)), self._served_columns(group)].tolist()

    def _served_columns(self, group: _Group) -> np.ndarray:
        """The index of the candidate serving each of the group's labels, in its label order: the
        candidate that serves the whole group's label sets, or each label's own choice."""
        whole = int(group.set_choice.serving[0]) if self.serving_sets else 0
        if whole:
            return np.full(len(group.labels), whole - 1)
        return self._label_columns(group)

    def _label_columns(self, group: _Group) -> np.ndarray:
        """The index of the candidate each of the group's labels chose on its own, in its label
        order (a label adopted since the last instance scored is served as the group is)."""
        rows = group.label_choices.serving
        if len(rows) < len(group.labels):
            return np.concatenate([rows, np.zeros(len(group.labels) - len(rows), dtype=rows.dtype)])
        return rows

    def _served_levels(self, group: _Group) -> list[str]:
        """The name of the candidate serving each of the group's labels, in its label order."""
        return [self._levels[i] for i in self._served_columns(group).tolist()]

    def _window_errors(self, choices: _Choices, row: int, width: int) -> dict[str, float | None]:
        """Each candidate's faded rate of wrong labels on the ``width`` labels of a serving choice."""
        scale = choices.weight[row] * width
        return {
            f"{level}_error": float(choices.wrong[row, i] / scale) if scale else None
            for i, level in enumerate(self._levels)
        }

    def _set_errors(self, group: _Group) -> dict[str, float | None]:
        """Each candidate's faded rate of wrong label sets on the group (``<level>_set_error``)."""
        choices = group.set_choice
        scale = choices.weight[0]
        return {
            f"{name.replace(' ', '_')}_set_error": float(choices.wrong[0, i] / scale) if scale else None
            for i, name in enumerate(self._set_levels())
        }
