"""What iHOMER keeps per label group (learner, mentor, serving choices) and the events it emits."""

from __future__ import annotations

import numpy as np
from river import drift

from learners.base import DriftEvent, Label
from learners.label_clustering import StructureChange


def forwarded_event(event: DriftEvent, cluster: str, labels, instance: int) -> DriftEvent:
    """A part's own event, re-labelled ``local`` to iHOMER with the part (``cluster``) it came from."""
    node = f"{cluster}/{event.node}" if event.node is not None else cluster
    detail = {**event.detail, "cluster": cluster, "source_learner": event.learner, "source_instance": event.instance}
    return DriftEvent("ihomer", "local", event.kind, instance, event.labels or tuple(labels), node, detail)


def change_event(change: StructureChange, instance: int) -> DriftEvent:
    """The event of a split or merge of the label tree."""
    detail = {"reason": change.reason, "children": [list(c) for c in change.children], **change.detail}
    return DriftEvent("ihomer", "global", change.kind, instance, change.labels, change.node, detail)


def drift_event(error: drift.ADWIN, before: float, risen: list[tuple[str, list[Label]]], instance: int) -> DriftEvent:
    """The error monitor's drift: its window error before and now, the groups whose own error rose."""
    detail = {
        "monitor": "adwin_hamming",
        "error_before": before,
        "error_now": error.estimation,
        "window": error.width,
        "groups_error_rose": [group_id for group_id, _ in risen],
    }
    labels = tuple(label for _, group_labels in risen for label in group_labels)
    return DriftEvent("ihomer", "global", "drift", instance, labels=labels, detail=detail)


class _Mentor:
    """A previous group's learner that keeps predicting for the new groups it taught until their
    own learners catch up; it learns the labels of the groups it still mentors."""

    def __init__(self, learner, source: str):
        self.learner = learner
        self.source = source


class _Choices:
    """Serving choices, one row each (a group's, or one per label of a group, in the group's label
    order): each candidate's faded count of mistakes since the row began, the faded weight, the
    instances scored and the index of the candidate that serves (0, the root, at first)."""

    def __init__(self, n_levels: int, rows: int = 0):
        self.wrong = np.zeros((0, n_levels))
        self.weight = np.zeros(0)
        self.scored = np.zeros(0, dtype=np.int64)
        self.serving = np.zeros(0, dtype=np.int64)
        self.grow(rows)

    def grow(self, rows: int) -> None:
        """Fresh rows up to ``rows`` (a group's labels only grow, by adopting new labels)."""
        extra = rows - len(self.weight)
        if extra <= 0:
            return
        self.wrong = np.vstack([self.wrong, np.zeros((extra, self.wrong.shape[1]))])
        self.weight = np.concatenate([self.weight, np.zeros(extra)])
        self.scored = np.concatenate([self.scored, np.zeros(extra, dtype=np.int64)])
        self.serving = np.concatenate([self.serving, np.zeros(extra, dtype=np.int64)])


class _Group:
    """One label cluster of the current partition and the learner that predicts its labels."""

    def __init__(
        self, group_id: str, labels: list[Label], home: str, learner, created_at: int, origin: str, levels: tuple
    ):
        self.group_id = group_id
        self.labels = labels
        self.home = home
        self.learner = learner
        self.created_at = created_at
        self.origin = origin
        # Every label the learner has been trained on, including those of the group it was copied from.
        self.trained: set[Label] = set(labels)
        self.error = drift.ADWIN()
        self.error_rose = False
        # While mentored, the mentor predicts; both are scored on the group's labels until handover.
        self.mentor: _Mentor | None = None
        self.handover = [0, 0, 0]  # instances, own learner's wrong labels, mentor's wrong labels
        # With ``retire_after``: the last instance at which the own learner served (alone or in the
        # blend) and whether it has retired (it neither learns nor predicts any more).
        self.own_served_at = created_at
        self.retired = False
        # With a root learner: each candidate's faded count of wrong labels over the whole group
        # (its window error on the group, never decided on), and the serving choice of each label.
        self.choice = _Choices(len(levels), rows=1)
        self.label_choices = _Choices(len(levels))
        # With ``serving_sets``: one choice for the whole group on wrong label sets, between the
        # per-label choices together (column 0, the default) and each candidate alone.
        self.set_choice = _Choices(1 + len(levels), rows=1)
