"""The hosts of a sharded iHOMER: one per root learner, and group hosts that hold label clusters.

A root host holds one of iHOMER's learners over all labels: for every op it answers that root's
probabilities (as they are before it learns the op) and learns. A group host holds some of the
partition's groups, each with its learner, serving choices and error monitor, and runs, for each
op, exactly the per-group steps of :meth:`learners.ihomer.IHOMER.learn_one` and
``predict_proba_one`` on its groups, with the roots' answers as input. Both reuse iHOMER's own
methods (the group host keeps an :class:`~learners.ihomer.IHOMER` holding only its groups), so
the sharded model computes what the unsharded one computes.

What crosses, per batch: the head shares the batch's features and its label list once
(:class:`~learners.sharding.executor.Shared`, one copy for every host); each root answers one
array (a row per op, a column per label of the batch) that every group host reads; a group host
gets, per op, the index of its features and the set of labels on, and takes from both only its
own labels. So a host's work per record grows with its own labels, not with all of them.

Host ops (built by the head, :mod:`learners.sharding.ihomer_head`); ``i`` is the index of the
record's features in the batch's shared list:

- root hosts: ``("predict", i)``, ``("learn", i, y, wanted)`` (``y`` over every known label, in
  the unsharded model's order; ``wanted``: answer the probabilities), ``("masked", i, known, mask)``
- group hosts: ``("predict", i)``; ``("learn", i, on, n, monitor, score, prelude)``: ``on`` the
  labels on, ``n`` the instance count after it, ``monitor``/``score`` whether iHOMER's error
  monitor and serving choices run on it (they need groups before it), ``prelude`` the structure
  changes made between predicting and learning (``("create", groups, order, retired roots)``,
  ``("adopt", group_id, labels)``); ``("masked", i, on, mask, n)``: a partially judged instance
  (``on``: the judged labels on)
"""

from __future__ import annotations

import typing

import numpy as np

from learners.base import DriftEvent, MultiLabelClassifier
from learners.ihomer import IHOMER
from learners.ihomer_groups import forwarded_event
from learners.ihomer_serving import probabilities_of
from learners.sharding.executor import Shared

#: Where an event falls in one instance of iHOMER's learning: serving choices, roots, groups.
SERVING, ROOTS, GROUPS = 0, 1, 2


class RootShard:
    """One root learner of a sharded iHOMER."""

    def __init__(self, root: MultiLabelClassifier, level: str):
        self.root = root
        self.level = level
        self.retired = False  # retired: it answers zeros and learns nothing (iHOMER's retire_roots)
        self._events: list[tuple[int, DriftEvent]] = []

    def apply(self, ops: list, batch: Shared) -> Shared:
        """For each op the root's probabilities before learning it, as one array (a row per op, a
        column per label of ``batch``, 0 where the root has no probability or none was asked for).
        The group hosts take this answer; the head takes the events (:meth:`control`).

        ``batch`` is the head's :class:`~learners.sharding.executor.Shared` ``(features, labels)``.
        """
        root = self.root
        features, labels = batch.value
        answers = np.zeros((len(ops), len(labels)))
        events = self._events = []
        if self.retired:
            return Shared(answers)
        predicted = None  # (features index, row) of a predict not yet followed by learning
        for position, op in enumerate(ops):
            kind, index = op[0], op[1]
            x = features[index]
            if kind == "predict":
                self._answer(answers, position, root.predict_proba_one(x), labels)
                predicted = (index, position)
                continue
            if kind == "learn":
                _, _, y, wanted = op
                if wanted:
                    # A record predicted, then learned: the same answer (iHOMER memoises it too).
                    if predicted is not None and predicted[0] == index:
                        answers[position] = answers[predicted[1]]
                    else:
                        self._answer(answers, position, root.predict_proba_one(x), labels)
                root.learn_one(x, dict(y))
            else:
                _, _, known, mask = op
                if root.supports_partial_labels:  # as IHOMER.learn_one_masked: a label-set root learns whole sets only
                    root.learn_one_masked(x, dict(known), mask)
            predicted = None
            events.extend((position, event) for event in root.pop_events())
        return Shared(answers)

    @staticmethod
    def _answer(answers: np.ndarray, row: int, probabilities: dict, labels: tuple) -> None:
        answers[row] = probabilities_of(probabilities, labels)

    def control(self, command: str, *args):
        """``events``: the root's own events of the last batch, as ``(op position, event)`` (the
        head re-labels them); ``retire``: drop the root's state, answer zeros from now on (what
        the head's iHOMER retired answers nothing, and the answers of a batch it retired in after
        the retirement are not read)."""
        if command == "events":
            events, self._events = self._events, []
            return events
        if command == "retire":  # the head saw it serve nothing for long: its state goes
            self.root, self.retired = self.root.clone(), True
            return None
        raise ValueError(f"a root host takes no command other than 'events' and 'retire', got {command!r}")

    @property
    def model_bytes(self) -> int:
        return self.root.model_bytes

    def describe(self) -> dict:
        return {"level": self.level, "learner": type(self.root).__name__}


class GroupShard:
    """Some groups of a sharded iHOMER's partition, with their learners and serving choices.

    Parameters
    ----------
    model
        A fresh clone of the iHOMER being sharded: its settings and per-group methods are used,
        its groups are this host's (its own roots and label tree stay unused).
    """

    def __init__(self, model: IHOMER):
        self.model = model
        # (features index, own and served probabilities, roots' view, candidate matrices) of the last predict
        self._own_memo: tuple | None = None
        self._batch: tuple | None = None  # the running batch: features, the roots' answers, label -> column
        self._here: list = []  # this host's labels, group by group
        self._columns: np.ndarray | None = None  # their columns in the roots' answers (None: to compute)

    def __getstate__(self) -> dict:
        return {"model": self.model}  # a host's state holds no batch and no record

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])

    @property
    def group_ids(self) -> list[str]:
        return [group.group_id for group in self.model._groups]

    def apply(self, ops: list, first: int, *inputs: Shared) -> tuple[list, list, list[str], dict[int, list[int]]]:
        """Run ``ops``, which start at position ``first`` of the batch. A host's first call of a
        batch brings ``inputs``: the head's shared ``(features, labels)`` and each root host's
        answers to the whole batch; its later calls reuse them.

        Returns each op's result (for a predict: ``[(group id, {label: probability})]``; for a
        learn: the number of wrong labels the error monitor counted, or ``None``), the events as
        ``(op position, phase, group id, event)``, the groups whose own error rose and, with
        ``retire_roots``, for each op scored, the candidate columns serving this host's groups
        after its serving choices (the head decides the roots' retirement on all hosts' columns).
        """
        model = self.model
        if inputs:
            (features, labels), answers = inputs[0].value, [shared.value for shared in inputs[1:]]
            self._batch = (features, answers, dict(zip(labels, range(len(labels)))))
            self._columns = None
        if self._batch is None:
            raise RuntimeError("group host: no root answers for this batch (restarted in the middle of one?)")
        features = self._batch[0]
        results: list = []
        events: list[tuple[int, int, str, DriftEvent]] = []
        serving: dict[int, list[int]] = {}  # op position -> the candidate columns serving after it
        self._own_memo = None
        for position, op in enumerate(ops):
            kind, index = op[0], op[1]
            x = features[index]
            if kind == "predict":
                roots = self._roots(first + position)
                own = {group.group_id: model._own_proba(group, x) for group in model._groups}
                candidates: dict = {}  # the groups' candidate matrices, for the serving choices if it learns next
                served = [
                    (group.group_id, dict(zip(group.labels, model._served(group, roots, own[group.group_id], candidates))))
                    for group in model._groups
                ]
                self._own_memo = (index, own, served, roots, candidates)
                results.append(served)
                continue
            if kind == "learn":
                results.append(self._learn(position, first + position, x, index, *op[2:], events=events, serving=serving))
            else:
                _, _, on, mask, n = op
                model._n = n
                known = self._target(on)
                for group in model._groups:
                    if not group.retired:
                        group.learner.learn_one_masked(x, {label: known[label] for label in group.labels}, mask)
                        self._forward(position, group, n, events)
                results.append(None)
            self._own_memo = None
        self._own_memo = None  # a host's state holds no record
        rose = [group.group_id for group in model._groups if group.error_rose]
        return results, events, rose, serving

    def _roots(self, row: int) -> list[dict]:
        """Each root's probabilities of this host's labels for the batch's op at ``row``."""
        _, answers, column = self._batch
        if self._columns is None:
            self._here = [label for group in self.model._groups for label in group.labels]
            self._columns = np.fromiter(map(column.__getitem__, self._here), np.intp, len(self._here))
        here, columns, retired = self._here, self._columns, self.model._retired_roots
        return [{} if i in retired else dict(zip(here, matrix[row, columns].tolist())) for i, matrix in enumerate(answers)]

    def _target(self, on: typing.AbstractSet) -> dict:
        """The target of this host's labels: those in ``on`` are on."""
        here = [label for group in self.model._groups for label in group.labels]
        return dict(zip(here, map(on.__contains__, here)))

    def _learn(
        self, position: int, row: int, x, index: int, on, n: int, monitor: bool, score: bool, prelude: list, events, serving
    ) -> int | None:
        """iHOMER's ``learn_one`` for this host's groups (see :meth:`IHOMER.learn_one`)."""
        model = self.model
        memo = self._own_memo if self._own_memo is not None and self._own_memo[0] == index else None
        if memo is not None:
            own = memo[1]  # predicted just before, nothing learned since (iHOMER memoises it too)
        elif monitor or score:
            own = {group.group_id: model._own_proba(group, x) for group in model._groups}
        else:
            own = {}
        predicted = {}
        if monitor:
            if memo is not None:
                for _, probabilities in memo[2]:
                    predicted.update(probabilities)
            else:
                roots = self._roots(row)
                for group in model._groups:
                    predicted.update(zip(group.labels, model._served(group, roots, own[group.group_id])))
        model._n = n
        for change in prelude:
            self._change(*change)
        y = self._target(on)
        if score:
            # The roots answered this record's predict and learn alike: their view is the predict's
            # unless the prelude gave this host labels since.
            if memo is not None and not prelude:
                model._score_levels(y, memo[3], own, memo[4])
            else:
                model._score_levels(y, self._roots(row), own)
            events.extend((position, SERVING, event.detail["group"], event) for event in model.pop_events())
            if model._roots_retire:
                serving[position] = sorted(model._serving_columns())
        for group in model._groups:
            if not group.retired:
                group.learner.learn_one(x, {label: y[label] for label in group.labels})
                self._forward(position, group, n, events)
        return model._count_group_errors(predicted, y) if monitor else None

    def _forward(self, position: int, group, n: int, events: list) -> None:
        for event in group.learner.pop_events():
            events.append((position, GROUPS, group.group_id, forwarded_event(event, group.group_id, group.labels, n)))

    def _change(self, kind: str, *args) -> None:
        model = self.model
        if kind == "create":
            groups, order, retired_roots = args
            model._retired_roots = set(retired_roots)
            self._arrange([*model._groups, *groups], order)
        elif kind == "adopt":
            group_id, labels = args
            next(group for group in model._groups if group.group_id == group_id).labels.extend(labels)
            self._columns = None
        else:
            raise ValueError(f"unknown structure change {kind!r}")

    def _arrange(self, groups: list, order: list[str]) -> None:
        """Keep ``groups`` in the partition's order (``order``: every group id, all hosts)."""
        rank = {group_id: i for i, group_id in enumerate(order)}
        self.model._groups = sorted(groups, key=lambda group: rank[group.group_id])
        self.model._group_of = {label: group for group in self.model._groups for label in group.labels}
        self._columns = None

    def control(self, command: str, *args) -> typing.Any:
        """``release(group ids, clear error rise)`` hands back groups (their whole state) and forgets
        them; ``settle(groups, homes, order, retired roots)`` takes groups in, sets homes and the order;
        ``retire_roots(indices)``: these roots have retired (their answers are read as none from now
        on); the label choices that pointed at them move, and their events come back."""
        model = self.model
        if command == "release":
            group_ids, clear_rise = args
            if clear_rise:
                for group in model._groups:
                    group.error_rose = False
            released = [group for group in model._groups if group.group_id in group_ids]
            self._arrange([group for group in model._groups if group.group_id not in group_ids], self.group_ids)
            return released
        if command == "settle":
            groups, homes, order, retired_roots = args
            model._retired_roots = set(retired_roots)
            kept = [group for group in model._groups if group.group_id in order]
            for group in kept:
                group.home = homes[group.group_id]
            self._arrange(kept + list(groups), order)
            return None
        if command == "retire_roots":
            retiring = args[0]
            model._retired_roots.update(retiring)
            model._move_off_retired([model._root_columns[i] for i in retiring])
            return model.pop_events()
        if command == "describe_groups":
            return {entry["id"]: entry for entry in model.describe()["partition"]}
        raise ValueError(f"unknown group host command {command!r}")

    @property
    def model_bytes(self) -> int:
        return sum(group.learner.model_bytes for group in self.model._groups)

    def describe(self) -> dict:
        return {"groups": self.group_ids}
