"""iHOMER's restructuring: the groups follow the label tree's repaired partition, keeping the
learners of unchanged groups and warm-starting or mentoring the new ones."""

from __future__ import annotations

import copy
import logging

import numpy as np

from learners.base import DriftEvent, Label
from learners.ihomer_groups import _Group, _Mentor

logger = logging.getLogger(__name__)


class Restructuring:
    """The restructuring part of :class:`~learners.ihomer.IHOMER` (a mixin: it reads the model's
    settings, tree and groups)."""

    def _guarded(self) -> bool:
        if self._n <= self.guard:
            return True
        return self.stream_length is not None and self._n > self.stream_length - self.guard

    def _restructure(self, reasons: list[str]) -> None:
        if self._guarded():
            if self._n <= self.guard:
                self._pending.extend(reasons)
            return
        reasons = self._pending + reasons
        self._pending = []
        if "drift" in reasons:
            self._tree.restart_statistics()
            for group in self._groups:
                group.error_rose = False
        self._rebuild("+".join(dict.fromkeys(reasons)))

    def _rebuild(self, reason: str) -> None:
        """Make the groups follow the tree's repaired partition; keep the learners of unchanged groups."""
        old = {frozenset(group.labels): group for group in self._groups}
        plan = []  # (home, labels, group kept or None, source group or None, how, origin)
        for home, labels in self._tree.partition_homes(self.max_groups):
            group = old.pop(frozenset(labels), None)
            if group is not None:
                plan.append((home, labels, group, None, None, None))
            else:
                plan.append((home, labels, None, *self._learner_source(labels, reason)))
        # A source group always disappears (the new groups are disjoint from the kept ones): the
        # last group copying it takes its learner itself, the others get copies.
        last_copy = {entry[3].group_id: i for i, entry in enumerate(plan) if entry[4] == "copy"}
        mentors: dict[str, _Mentor] = {}
        groups, created = [], []
        for i, (home, labels, group, source, how, origin) in enumerate(plan):
            if group is not None:
                group.home = home
                groups.append(group)
                continue
            if how == "copy":
                # A deep copy keeps the source's structure and its statistics for every label; the
                # group trains and reads only its own labels from now on, the others are masked out.
                handed = last_copy[source.group_id] == i
                learner = source.learner if handed else copy.deepcopy(source.learner)
            else:
                learner = self._fresh_learner()
            group = _Group(f"g{self._next_group}", list(labels), home, learner, self._n, origin, self._levels)
            self._next_group += 1
            if how == "copy":
                group.trained |= source.trained
                group.mentor = source.mentor
            elif how == "mentor":
                group.mentor = source.mentor or mentors.get(source.group_id)
                if group.mentor is None:
                    teacher = copy.deepcopy(source.learner) if source.group_id in last_copy else source.learner
                    group.mentor = mentors[source.group_id] = _Mentor(teacher, source.group_id)
            groups.append(group)
            created.append(group)
        removed = [g for g in self._groups if g not in groups]
        if self._roots:
            self._carry_root_records(removed, created)
        self._groups = groups
        self._group_of = {label: group for group in groups for label in group.labels}
        if not created and not removed:
            return
        entry = {
            "instance": self._n,
            "reason": reason,
            "created": [{"id": g.group_id, "labels": [str(l) for l in g.labels], "origin": g.origin} for g in created],
            "removed": [g.group_id for g in removed],
            "groups": [g.group_id for g in groups],
        }
        self._history.append(entry)
        if reason != "start":
            changed = tuple(label for g in created for label in g.labels)
            self._emit(DriftEvent("ihomer", "global", "restructure", self._n, labels=changed, detail=entry))
        logger.debug(
            "ihomer restructure at %d (%s): %d created, %d removed", self._n, reason, len(created), len(removed)
        )

    def _carry_root_records(self, removed: list[_Group], created: list[_Group]) -> None:
        """A restructuring changes the groups' own learners, not the roots: each label of a new
        group keeps its roots' faded counts of mistakes, and the root that served it (or, if its
        old group's own learner or blend did, the root with the fewest mistakes). Its new own
        learner and blend start from that root's count: they take over by the serving margin."""
        root_columns = self._root_columns
        retired = set(self._retired_root_columns())
        servable = [column for column in root_columns if column not in self._set_only_columns and column not in retired]
        records = {}
        for group in removed:
            choices = group.label_choices
            for row, label in enumerate(group.labels[: len(choices.serving)]):
                records[label] = (choices, row)
        for group in created:
            choices = group.label_choices
            choices.grow(len(group.labels))
            for row, label in enumerate(group.labels):
                if label not in records:
                    continue
                old, old_row = records[label]
                wrong = old.wrong[old_row]
                left = serving = int(old.serving[old_row])
                if serving not in servable:
                    serving = servable[int(np.argmin(wrong[servable]))]
                choices.wrong[row] = wrong[serving]
                choices.wrong[row, root_columns] = wrong[root_columns]
                choices.weight[row] = old.weight[old_row]
                choices.scored[row] = old.scored[old_row]
                choices.serving[row] = serving
                if serving != left:
                    self._emit_serving(group, choices, row, [label], left)

    def _learner_source(
        self, labels: tuple[Label, ...], reason: str
    ) -> tuple[_Group | None, str | None, str]:
        """Where a new group's learner comes from: ``(source group, how, origin)`` with ``how`` one of
        ``None`` (fresh), ``"copy"`` (warm start) or ``"mentor"`` (fresh, taught by the source's learner)."""
        if reason == "start":
            return None, None, "fresh: first group"
        if not self.warm_start:
            return None, None, "fresh: warm start off"
        wanted = set(labels)
        source = max(self._groups, key=lambda g: (len(wanted & set(g.labels)), -len(g.labels)), default=None)
        overlap = len(wanted & set(source.labels)) if source is not None else 0
        if overlap == 0:
            return None, None, "fresh: no previous learner shares a label"
        if source.retired:
            return None, None, f"fresh: {source.group_id}'s learner had retired"
        if 2 * len(labels) < len(source.trained) and self._roots:
            # The root serves the group until its fresh learner is better: no mentor needed.
            return None, None, (
                f"fresh, served by the root ({source.group_id}'s learner had {len(source.trained)} labels)"
            )
        if 2 * len(labels) < len(source.trained):
            # A copy would keep computing every label it was trained on; past half of them wasted,
            # the group gets a fresh learner and the source's learner predicts until it catches up.
            return source, "mentor", (
                f"fresh, mentored by {source.group_id}'s learner ({len(source.trained)} labels, over twice as many)"
            )
        return source, "copy", f"warm: from {source.group_id} ({overlap}/{len(labels)} labels)"
