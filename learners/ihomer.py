"""iHOMER: a hierarchy of multi-label learners over an online partition of the label space."""

from __future__ import annotations

import collections
import copy
import logging
import random
import typing

import numpy as np
from river import drift

from learners import registry
from learners.base import DriftEvent, Features, Label, LabelDict, LabelMask, MultiLabelClassifier, as_label_dict
from learners.label_clustering import ClusterNode, LabelClusterTree, StructureChange

__all__ = ["IHOMER"]

logger = logging.getLogger(__name__)

#: How a level's mistakes on a group's labels are counted for the serving choice.

#: What one serving choice covers: all the labels of a group, or each label on its own.
SERVING_UNITS = ("group", "label")

#: The candidates that can serve a group's labels with a root learner, in the order that breaks ties
#: between challengers: the (first) root's probabilities, the group's own learner's, and their mean.
#: Further roots follow as ``root:<learner>``.
SERVING_LEVELS = ("root", "own", "blend")

#: Partition changes kept in :attr:`IHOMER.history` (older ones are dropped so memory stays bounded).
HISTORY_SIZE = 1000


def _check_learner(parameter: str, learner) -> None:
    if isinstance(learner, str):
        if learner not in registry.LEARNERS:
            raise registry.UnknownLearnerError(learner)
        if learner == "ihomer":
            raise ValueError(f"IHOMER: {parameter} cannot be 'ihomer' itself")
    elif not isinstance(learner, MultiLabelClassifier):
        raise TypeError(
            f"IHOMER: {parameter} must be a catalogue name or a MultiLabelClassifier, got {type(learner).__name__}"
        )


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
        # With a root learner: the serving choice over all the group's labels (it also gives each
        # candidate's window error on the group), and with ``serving_unit="label"`` one per label.
        self.choice = _Choices(len(levels), rows=1)
        self.label_choices = _Choices(len(levels))


class IHOMER(MultiLabelClassifier):
    """Incremental Hierarchy Of Multi-label ClassifiERs over online label clusters.

    A :class:`~learners.label_clustering.LabelClusterTree` partitions the labels into groups of
    labels that are on together (Jaccard co-occurrence, ODAC splits and merges). Each group has its
    own multi-label learner, trained on every instance with that group's labels only. Above them,
    root learners cover all labels and learn every instance (with ``root_learner``, the default):
    by default an MLHAT and an MLHT (``root_base_learner``), which no restructuring touches. Each
    label is predicted by whichever candidate has made fewer mistakes on it over a faded window
    (``serving_unit="group"``: on all the group's labels together): a root, its group's own
    learner, or the mean of the first root's and the own learner's probabilities
    (``serving_blend``). A label is served by the first root until the first choice, after
    ``n_min`` instances; later another candidate takes over only once it is better by a margin.
    A restructuring keeps each label's record of the roots, and never replaces the learner that
    predicts a label by an untrained one, which is what cost the partitioned model against the
    base learner alone (each restructuring restarted some group, and on sparse label sets the
    clusters carry little co-occurrence structure to make up for it); where a group's own learner
    is better (it splits on features that matter for its labels only), it serves. Every candidate
    predicts every instance anyway (the choice scores them), so the blend costs nothing more: it
    is an ensemble of two learners trained differently (other seeds, other label sets). Roots of
    different kinds differ more than that: each is better on some labels of some streams. The
    price is the root learners' work, about one base learner each.

    Drift is handled at two levels. Locally, each group's learner adapts itself (MLHAT's ADWIN per
    node); its drift events are forwarded with the group's identifier. Globally, a split or merge
    of the label tree changes the partition, and an ADWIN on the Hamming error of the whole
    prediction restarts the tree's statistics, so that the partition is re-estimated on the data
    after the change (the roots and the group learners adapt by themselves). Only groups whose label set changed get a new learner; a new
    group starts from the old learner that covered most of its labels, or is mentored by it (see
    ``warm_start``). Every change goes out as a :class:`~learners.base.DriftEvent`: ``split`` and
    ``merge`` of the label tree (with the statistics of the test), ``drift`` (the error monitor),
    ``restructure`` (groups created and removed, and where each new learner came
    from), ``serving_level`` (a label, or a group's labels, move between the candidates, with each
    one's window error), ``handover`` (a mentor steps back, only without root learners) and the
    learners' own events, re-labelled ``local`` with their group (``root``, ``root:mlht``... for
    the root learners).

    :meth:`describe` gives a JSON-able snapshot (tree, partition, learners, history) and
    :meth:`render_text` draws the tree; :attr:`history` lists the partition changes.

    Partial feedback (:meth:`learn_one_masked`): the label tree, the serving choices, the mentors
    and the drift monitor count whole label sets, so they learn from fully judged instances only;
    an instance with labels not judged trains the root learners and each group's learner on its
    judged labels (they must support partial labels themselves). A label first named by such an
    instance becomes known with the first fully judged instance that names it.

    Parameters
    ----------
    base_learner
        The learner of each group: a name in the learner catalogue (built with a seed drawn from
        ``seed``) or a :class:`MultiLabelClassifier` whose fresh clones are used.
    n_min
        Label sets between two rounds of split and merge tests of the label tree.
    delta
        Confidence of the tree's split test (0.9 in the reference code: a loose bound).
    tau
        Tie threshold of the split test.
    merge_delta
        Confidence of the tree's merge tests.
    drift_delta
        Confidence of the ADWIN on the Hamming error; ``None`` turns global error monitoring off.
    warm_start
        Start a new group's learner from the previous learner with the largest label overlap. If
        that learner was trained on at most twice as many labels as the group has, the group gets
        it (or a copy, when several groups start from it), masked to the group's labels: learners
        have no way to forget a label, so it keeps its statistics of the others and reads only the
        group's. If it covers more, copying it would waste most of its work: the group gets a fresh
        learner, and the old one, as the group's *mentor*, keeps learning the group's labels and
        predicts them until the fresh learner has made no more mistakes than it over at least
        ``n_min`` instances, or for ``handover`` instances at most. Off, or when no previous
        learner shares a label, the learner starts fresh.
    handover
        Longest time, in instances, that a mentor predicts for a new group.
    max_groups
        At most this many groups: after the size repair the smallest groups keep merging with
        their nearest relatives in the tree. Each group costs one learner update and prediction
        per instance, so this bounds the cost per instance at ``max_groups`` learners whatever
        the number of labels. ``None``: no bound (the paper's setting).
    guard
        No restructuring during the first ``guard`` instances, nor during the last ``guard`` when
        ``stream_length`` is given (a new learner would not have time to learn).
    stream_length
        Expected number of instances, for the tail guard; ``None`` when the stream is unbounded.
    root_learner
        Keep learners over all labels at the root of the hierarchy (see ``root_base_learner``).
        No restructuring replaces them, and each label is predicted
        by whichever candidate, a root, its group's own learner or their blend, has made fewer
        mistakes on it lately (see ``serving_unit``, ``serving_window`` and ``serving_margin``).
        A new group's labels keep the roots that served them until another candidate is
        measurably better, so mentors are not needed: a source learner covering over twice the
        group's labels gives a fresh one. Off, every group is always predicted by its own learner
        (or its mentor).
    root_base_learner
        What the root learners are: a catalogue name or a :class:`MultiLabelClassifier` (one root),
        or a sequence of them (one root each); ``None``: one root, ``base_learner``. The first root
        serves every label at first; each further root is one more candidate of every serving
        choice (its level is ``root:<learner>``); the blend stays the mean of the first root's
        and the group's own probabilities. By default the roots are MLHAT and MLHT: a root of
        another kind than the groups' learners makes the candidates differ in how they learn,
        not only in what they were trained on, which is what a per-label choice can gain from
        (MLHT's single logistic regression per leaf and label, against MLHAT's bagged ones and
        its kNN label powerset, is the better predictor on some labels of some streams, MLHAT on
        others), and MLHAT first keeps the model safe where MLHT is weak.
    serving_blend
        Let the mean of the (first) root's and the group's own probabilities serve too, as one
        more candidate of each serving choice, scored like the others. Off, the choice is between
        the roots and the group's own learner only.
    serving_unit
        ``"label"``: each label has its own serving choice, on its own mistakes, so the labels of
        one group can be served by different candidates (a group's own learner can be better on
        some of its labels only). ``"group"``: one choice for all the labels of a group.
    serving_window
        Window, in instances, of the exponentially faded counts of wrong labels (fading factor
        ``1 - 1 / serving_window``) that choose the serving level of each group or label.
    serving_margin
        A serving choice is first made after ``n_min`` instances of the group (or label): the
        candidate with the fewest faded wrong labels (on a tie the root, then the group's own
        learner) replaces the first root, which served by default. From then on it changes only
        when another candidate's count is below ``1 - serving_margin`` times the serving one's,
        so the choice does not flap; ties stay with the level that serves.
    seed
        Seed of the seeds given to the group learners.

    Examples
    --------
    >>> import random
    >>> from learners.majority import MajorityLabelset
    >>> rng = random.Random(7)
    >>> model = IHOMER(base_learner=MajorityLabelset(), n_min=50, seed=1)
    >>> for i in range(400):
    ...     ab, cd = rng.random() < 0.7, rng.random() < 0.3
    ...     x, y = {"u": float(ab)}, {"a": ab, "b": ab, "c": cd, "d": cd}
    ...     prediction = model.predict_one(x)
    ...     model.learn_one(x, y)
    >>> [group["labels"] for group in model.describe()["partition"]]
    [['a', 'b'], ['c', 'd']]
    >>> model.predict_one({"u": 1.0})
    {'a': True, 'b': True, 'c': False, 'd': False}

    References
    ----------
    Neves, Lourenço, Cano, Marreiros, "Online hierarchical partitioning of the output space in extreme
    multi-label data streams", ECAI 2025, arXiv:2507.20894.
    Tsoumakas, Katakis & Vlahavas, "Effective and efficient multilabel classification in domains with
    large number of labels", ECML PKDD 2008 MMD workshop (HOMER).

    Notes
    -----
    Where this differs from the paper's released code: the released demo trains one model over
    all labels and aggregates the final prediction to the single top-voted label, and scores a
    short tail window; here there is one learner per cluster, every label is predicted, and the
    evaluators score the whole stream. The label tree differences are listed in
    :mod:`learners.label_clustering`. The warm start, the root learners and the global ADWIN are
    not in the released code (the paper leaves them open).

    """

    def __init__(
        self,
        base_learner: str | MultiLabelClassifier = "mlhat",
        n_min: int = 100,
        delta: float = 0.9,
        tau: float = 0.1,
        merge_delta: float = 1e-3,
        drift_delta: float | None = 0.002,
        warm_start: bool = True,
        max_groups: int | None = 4,
        handover: int = 1000,
        guard: int = 100,
        stream_length: int | None = None,
        root_learner: bool = True,
        root_base_learner: str | MultiLabelClassifier | typing.Sequence[str | MultiLabelClassifier] | None = (
            "mlhat",
            "mlht",
        ),
        serving_window: int = 500,
        serving_margin: float = 0.1,
        serving_blend: bool = True,
        serving_unit: str = "label",
        seed: int | None = None,
    ):
        _check_learner("base_learner", base_learner)
        if isinstance(root_base_learner, (list, tuple)):
            if not root_base_learner:
                raise ValueError("IHOMER: root_base_learner must name at least one learner")
            for learner in root_base_learner:
                _check_learner("root_base_learner", learner)
        elif root_base_learner is not None:
            _check_learner("root_base_learner", root_base_learner)
        if drift_delta is not None and not 0.0 < drift_delta < 1.0:
            raise ValueError(f"IHOMER: drift_delta must be in (0, 1) or None, got {drift_delta!r}")
        if max_groups is not None and max_groups < 1:
            raise ValueError(f"IHOMER: max_groups must be >= 1 or None, got {max_groups!r}")
        if handover < 1:
            raise ValueError(f"IHOMER: handover must be >= 1, got {handover!r}")
        if guard < 0:
            raise ValueError(f"IHOMER: guard must be >= 0, got {guard!r}")
        if serving_window < 1:
            raise ValueError(f"IHOMER: serving_window must be >= 1, got {serving_window!r}")
        if not 0.0 <= serving_margin < 1.0:
            raise ValueError(f"IHOMER: serving_margin must be in [0, 1), got {serving_margin!r}")
        if serving_unit not in SERVING_UNITS:
            raise ValueError(f"IHOMER: serving_unit must be one of {SERVING_UNITS}, got {serving_unit!r}")
        self.base_learner = base_learner
        self.n_min = n_min
        self.delta = delta
        self.tau = tau
        self.merge_delta = merge_delta
        self.drift_delta = drift_delta
        self.warm_start = warm_start
        self.max_groups = max_groups
        self.handover = handover
        self.guard = guard
        self.stream_length = stream_length
        self.root_learner = root_learner
        self.root_base_learner = root_base_learner
        self.serving_window = serving_window
        self.serving_margin = serving_margin
        self.serving_blend = serving_blend
        self.serving_unit = serving_unit
        self.seed = seed
        self._reset()

    def _reset(self):
        self._tree = LabelClusterTree(delta=self.delta, tau=self.tau, n_min=self.n_min, merge_delta=self.merge_delta)
        self._rng = random.Random(self.seed)
        self._labels: dict[Label, None] = {}  # insertion-ordered set of known labels
        self._groups: list[_Group] = []
        self._group_of: dict[Label, _Group] = {}
        self._n = 0
        self._next_group = 0
        self._pending: list[str] = []  # reasons of restructurings held back by the warm-up guard
        self._error = drift.ADWIN(delta=self.drift_delta) if self.drift_delta is not None else None
        self._history: collections.deque = collections.deque(maxlen=HISTORY_SIZE)
        self._memo: tuple | None = None  # (x, instance count, prediction) of the last prediction
        self._roots: list[MultiLabelClassifier] = (
            [self._fresh_learner(base) for base in self._root_bases()] if self.root_learner else []
        )
        # The serving level of each root, in the order of ``_roots``; the first is SERVING_LEVELS[0].
        self._root_levels = self._name_root_levels() if self.root_learner else ()
        self._levels = (SERVING_LEVELS if self.serving_blend else SERVING_LEVELS[:2]) + self._root_levels[1:]
        # Where the roots' columns are among the candidates (a restructuring keeps their records).
        self._root_columns = [self._levels.index(level) for level in self._root_levels]
        # (x, instance count, roots' probabilities, groups' own probabilities) of the last prediction
        self._level_memo: tuple | None = None

    @classmethod
    def _unit_test_params(cls):
        yield {"base_learner": "majority", "n_min": 20, "guard": 10, "root_base_learner": None}
        yield {"base_learner": "majority", "n_min": 20, "guard": 10, "root_base_learner": ("majority", "mlht")}

    # ------------------------------------------------------------------ public views

    @property
    def tree(self) -> LabelClusterTree:
        return self._tree

    @property
    def history(self) -> list[dict]:
        """Partition changes, oldest first: instance, reason, groups created and removed."""
        return list(self._history)

    def partition(self) -> list[tuple[Label, ...]]:
        """The label groups currently predicted by one learner each."""
        return [tuple(group.labels) for group in self._groups]

    # ------------------------------------------------------------------ learning

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        y = as_label_dict(y, known=self._labels)
        for label in y:
            self._labels.setdefault(label, None)
        for label in self._labels:
            y.setdefault(label, False)
        predicted = self._prediction_for(x) if self._error is not None and self._groups else None
        levels = self._levels_for(x) if self._roots and self._groups else None
        changes = self._tree.learn_one(y)
        self._n += 1
        if not self._groups:
            self._rebuild("start")
        if len(self._group_of) < len(self._labels):
            self._adopt_new_labels()
        if levels is not None:
            self._score_levels(y, *levels)
        mentored = [group for group in self._groups if group.mentor is not None]
        if mentored:
            self._score_handover(x, y, mentored)
        for level, root in zip(self._root_levels, self._roots):
            root.learn_one(x, dict(y))
            self._forward(root, level, tuple(self._labels))
        for group in self._groups:
            group.learner.learn_one(x, {label: y[label] for label in group.labels})
            self._forward(group.learner, group.group_id, group.labels)
        if mentored:
            self._teach(x, y, mentored)
        reasons = [change.kind for change in changes]
        for change in changes:
            self._emit_change(change)
        if predicted is not None and self._monitor(predicted, y):
            reasons.append("drift")
        if reasons or self._pending:
            self._restructure(reasons)

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        if mask.judges_all:
            self.learn_one(x, y)
            return
        y = as_label_dict(y, known=self._labels)
        known = {label: bool(y.get(label, False)) for label in self._labels}
        self._n += 1
        for level, root in zip(self._root_levels, self._roots):
            root.learn_one_masked(x, dict(known), mask)
            self._forward(root, level, tuple(self._labels))
        for group in self._groups:
            group.learner.learn_one_masked(x, {label: known[label] for label in group.labels}, mask)
            self._forward(group.learner, group.group_id, group.labels)

    @property
    def supports_partial_labels(self) -> bool:
        base = self.base_learner
        group_learner = registry.make(base) if isinstance(base, str) else base
        return all(learner.supports_partial_labels for learner in (*self._roots, group_learner))

    def _score_handover(self, x: Features, y: LabelDict, mentored: list[_Group]) -> None:
        mentor_proba: dict[int, dict] = {}
        for group in mentored:
            key = id(group.mentor)
            if key not in mentor_proba:
                mentor_proba[key] = group.mentor.learner.predict_proba_one(x)
            theirs, own = mentor_proba[key], group.learner.predict_proba_one(x)
            score = group.handover
            score[0] += 1
            for label in group.labels:
                score[1] += (own.get(label, 0.0) >= 0.5) != y[label]
                score[2] += (theirs.get(label, 0.0) >= 0.5) != y[label]

    def _score_levels(self, y: LabelDict, roots: list[dict[Label, float]], own: dict[str, dict[Label, float]]) -> None:
        """Fade and count each candidate's wrong labels on each group (and, with
        ``serving_unit="label"``, on each of its labels); move a serving choice to the best other
        candidate when it has been clearly better (see ``serving_margin``)."""
        fading = 1.0 - 1.0 / self.serving_window
        for group in self._groups:
            proba = own.get(group.group_id)
            if proba is None:  # created while learning the instance predicted
                continue
            labels = group.labels
            truth = np.fromiter((y[label] for label in labels), bool, len(labels))
            wrong = (self._candidates(labels, roots, proba) >= 0.5) != truth[:, None]
            counts = wrong.sum(axis=0, dtype=float)
            for _, left in self._fade(group.choice, counts[None, :], fading, decide=self.serving_unit == "group"):
                self._emit_serving(group, group.choice, 0, labels, left)
            if self.serving_unit == "label":
                group.label_choices.grow(len(labels))
                for row, left in self._fade(group.label_choices, wrong, fading, decide=True):
                    self._emit_serving(group, group.label_choices, row, [labels[row]], left)

    def _fade(self, choices: _Choices, wrong: np.ndarray, fading: float, decide: bool) -> list[tuple[int, int]]:
        """Add one instance's mistakes (a row per choice, a column per candidate); with ``decide``,
        move each choice to its best other candidate where the margin rule allows. Returns the
        ``(row, index of the candidate it left)`` of each move."""
        choices.wrong *= fading
        choices.wrong += wrong
        choices.weight = choices.weight * fading + 1.0
        choices.scored += 1
        ready = choices.scored >= self.n_min
        if not decide or not ready.any():
            return []
        rows = np.arange(len(choices.serving))
        serving = choices.wrong[rows, choices.serving]
        others = choices.wrong.copy()
        others[rows, choices.serving] = np.inf
        best = others.argmin(axis=1)  # the first of equals: the root, then the group's own learner
        # The first decision replaces a default, not a candidate that earned its place: no margin then.
        margin = np.where(choices.scored == self.n_min, 0.0, self.serving_margin)
        moving = np.flatnonzero(ready & (others[rows, best] < (1.0 - margin) * serving))
        left = choices.serving[moving].tolist()
        choices.serving[moving] = best[moving]
        return list(zip(moving.tolist(), left))

    def _emit_serving(self, group: _Group, choices: _Choices, row: int, labels: list[Label], left: int) -> None:
        detail = {
            "group": group.group_id,
            **({"label": str(labels[0])} if choices is group.label_choices else {}),
            "from": self._levels[left],
            "to": self._levels[choices.serving[row]],
            **self._window_errors(choices, row, len(labels)),
            "instances": int(choices.scored[row]),
        }
        self._emit(DriftEvent("ihomer", "global", "serving_level", self._n, tuple(labels), group.home, detail))

    def _candidates(self, labels: list[Label], roots: list[dict[Label, float]], own: dict[Label, float]) -> np.ndarray:
        """Each candidate's probability of each label: a row per label, a column per serving level."""
        root_p = [np.fromiter((root.get(label, 0.0) for label in labels), float, len(labels)) for root in roots]
        own_p = np.fromiter((own.get(label, 0.0) for label in labels), float, len(labels))
        columns = [root_p[0], own_p]
        if self.serving_blend:
            columns.append((root_p[0] + own_p) / 2.0)
        return np.column_stack(columns + root_p[1:])

    def _served(self, group: _Group, roots: list[dict[Label, float]], own: dict[Label, float]) -> list[float]:
        """The probability of each of the group's labels from the candidate that serves it."""
        candidates = self._candidates(group.labels, roots, own)
        return candidates[np.arange(len(group.labels)), self._served_columns(group)].tolist()

    def _served_columns(self, group: _Group) -> np.ndarray:
        """The index of the candidate serving each of the group's labels, in its label order (a
        label adopted since the last instance scored is served as the group is)."""
        rows = group.label_choices.serving
        if self.serving_unit == "group" or len(rows) < len(group.labels):
            default = np.full(len(group.labels), group.choice.serving[0])
            if self.serving_unit == "label":
                default[: len(rows)] = rows
            return default
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

    def _teach(self, x: Features, y: LabelDict, mentored: list[_Group]) -> None:
        """Train each mentor on the labels of its groups, then end the mentoring of the groups
        whose own learner now predicts as well as the mentor (or whose time is up)."""
        serving: dict[int, tuple[_Mentor, list[Label]]] = {}
        for group in mentored:
            serving.setdefault(id(group.mentor), (group.mentor, []))[1].extend(group.labels)
        for mentor, labels in serving.values():
            mentor.learner.learn_one(x, {label: y[label] for label in labels})
            self._forward(mentor.learner, f"mentor:{mentor.source}", labels)
        for group in mentored:
            seen, own_wrong, mentor_wrong = group.handover
            if (seen >= self.n_min and own_wrong <= mentor_wrong) or seen >= self.handover:
                detail = {
                    "mentor": group.mentor.source,
                    "instances": seen,
                    "own_wrong": own_wrong,
                    "mentor_wrong": mentor_wrong,
                }
                event = DriftEvent("ihomer", "local", "handover", self._n, tuple(group.labels), group.group_id, detail)
                self._emit(event)
                group.mentor = None

    def _prediction_for(self, x: Features) -> dict[Label, float]:
        # The evaluator predicted this very x just before learning: reuse it instead of paying twice.
        if self._memo is not None and self._memo[0] is x and self._memo[1] == self._n:
            return self._memo[2]
        return self.predict_proba_one(x)

    def _levels_for(
        self, x: Features
    ) -> tuple[list[dict[Label, float]], dict[str, dict[Label, float]]]:
        """Each root's probabilities and each group's own learner's."""
        if self._level_memo is not None and self._level_memo[0] is x and self._level_memo[1] == self._n:
            return self._level_memo[2:]
        roots = [root.predict_proba_one(x) for root in self._roots]
        own = {group.group_id: group.learner.predict_proba_one(x) for group in self._groups}
        self._level_memo = (x, self._n, roots, own)
        return roots, own

    def _adopt_new_labels(self) -> None:
        for label in self._tree.labels:
            if label in self._group_of:
                continue
            leaf_mates = [other for other in self._tree.leaf(label).labels if other in self._group_of]
            group = self._group_of[leaf_mates[0]] if leaf_mates else max(self._groups, key=lambda g: len(g.labels))
            group.labels.append(label)
            self._group_of[label] = group

    def _forward(self, learner: MultiLabelClassifier, cluster: str, labels) -> None:
        for event in learner.pop_events():
            self._emit(forwarded_event(event, cluster, labels, self._n))

    def _emit_change(self, change: StructureChange) -> None:
        self._emit(change_event(change, self._n))

    def _monitor(self, predicted: dict[Label, float], y: LabelDict) -> bool:
        errors = self._count_group_errors(predicted, y)
        before = self._error.estimation
        self._error.update(errors / len(self._labels))
        if not (self._error.drift_detected and self._error.estimation > before):
            return False
        risen = [(group.group_id, group.labels) for group in self._groups if group.error_rose]
        self._emit(drift_event(self._error, before, risen, self._n))
        return True

    def _count_group_errors(self, predicted: dict[Label, float], y: LabelDict) -> int:
        """Feed each group's error monitor its share of wrong labels; the wrong labels of all groups."""
        errors = 0
        for group in self._groups:
            wrong = sum((predicted.get(label, 0.0) >= 0.5) != y[label] for label in group.labels)
            errors += wrong
            before = group.error.estimation
            group.error.update(wrong / len(group.labels))
            if group.error.drift_detected and group.error.estimation > before:
                group.error_rose = True
        return errors

    # ------------------------------------------------------------------ restructuring

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
        if self._roots and self.serving_unit == "label":
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
                if serving not in root_columns:
                    serving = root_columns[int(np.argmin(wrong[root_columns]))]
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

    def _root_bases(self) -> tuple[str | MultiLabelClassifier, ...]:
        if self.root_base_learner is None:
            return (self.base_learner,)
        if isinstance(self.root_base_learner, (list, tuple)):
            return tuple(self.root_base_learner)
        return (self.root_base_learner,)

    def _name_root_levels(self) -> tuple[str, ...]:
        """``root`` for the first root, ``root:<learner>`` for the others (numbered if repeated)."""
        levels = [SERVING_LEVELS[0]]
        for i, base in enumerate(self._root_bases()[1:], start=2):
            level = f"root:{self._learner_name(base)}"
            levels.append(level if level not in levels else f"{level}#{i}")
        return tuple(levels)

    def _fresh_learner(self, base: str | MultiLabelClassifier | None = None) -> MultiLabelClassifier:
        """A new learner of kind ``base`` (the groups' ``base_learner`` by default), seeded from ``seed``."""
        base = self.base_learner if base is None else base
        seed = self._rng.randrange(2**31)
        if isinstance(base, str):
            return registry.make(base, seed=seed)
        if "seed" in base._get_params():
            return base.clone({"seed": seed})
        return base.clone()

    # ------------------------------------------------------------------ prediction

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        """Each group's labels come from the candidate that serves it (the root learner, the group's
        own or their mean; without a root learner its own or its mentor)."""
        out: dict[Label, float] = {}
        if self._roots and self._groups:
            roots, own = self._levels_for(x)
            for group in self._groups:
                out.update(zip(group.labels, self._served(group, roots, own[group.group_id])))
            for label in self._labels:
                out.setdefault(label, 0.0)
            self._memo = (x, self._n, out)
            return out
        mentor_proba: dict[int, dict] = {}
        for group in self._groups:
            if group.mentor is None:
                proba = group.learner.predict_proba_one(x)
            else:
                key = id(group.mentor)
                if key not in mentor_proba:
                    mentor_proba[key] = group.mentor.learner.predict_proba_one(x)
                proba = mentor_proba[key]
            for label in group.labels:
                out[label] = proba.get(label, 0.0)
        for label in self._labels:
            out.setdefault(label, 0.0)
        self._memo = (x, self._n, out)
        return out

    # ------------------------------------------------------------------ introspection

    @staticmethod
    def _learner_name(base: str | MultiLabelClassifier) -> str:
        return base if isinstance(base, str) else type(base).__name__

    def describe(self) -> dict:
        """JSON-able snapshot: the label tree, the partition and its learners, recent history.

        Measuring each group learner's size walks its objects (about 20 ms for a few MB): call
        :meth:`partition` where only the groups are needed.
        """
        return {
            "learner": "ihomer",
            "instances": self._n,
            "labels": len(self._labels),
            "base_learner": self._learner_name(self.base_learner),
            "min_size": self._tree.min_size,
            "hamming_error": self._error.estimation if self._error is not None else None,
            "root_learners": [
                {"level": level, "learner": self._learner_name(base), "bytes": root.model_bytes}
                for level, base, root in zip(self._root_levels, self._root_bases(), self._roots)
            ],
            "tree": self._tree.describe()["root"],
            "partition": [
                {
                    "id": group.group_id,
                    "labels": [str(label) for label in group.labels],
                    "home": group.home,
                    "size": len(group.labels),
                    "learner": self._learner_name(self.base_learner),
                    "learner_bytes": group.learner.model_bytes,
                    "origin": group.origin,
                    "created_at": group.created_at,
                    "error": group.error.estimation,
                    "mentor": group.mentor.source if group.mentor is not None else None,
                    "mentored_for": group.handover[0],
                    "serving": self._group_serving(group),
                    "served_by": self._served_by(group),
                    **self._window_errors(group.choice, 0, len(group.labels)),
                }
                for group in self._groups
            ],
            "history": self.history,
        }

    def _group_serving(self, group: _Group) -> str:
        """``"own"`` without a root learner, the level of the group's choice, or ``"per label"``."""
        if not self._roots:
            return "own"
        return self._levels[group.choice.serving[0]] if self.serving_unit == "group" else "per label"

    def _served_by(self, group: _Group) -> dict[str, int]:
        """How many of the group's labels each candidate serves (empty without a root learner)."""
        if not self._roots:
            return {}
        counts = collections.Counter(self._served_levels(group))
        return {level: counts[level] for level in self._levels if counts[level]}

    def render_text(self) -> str:
        """The label tree as indented text, with each group's learner next to its home node."""
        lines = [
            f"iHOMER: {self._n} instances, {len(self._labels)} labels, {len(self._groups)} groups "
            f"(min size {self._tree.min_size}), base learner {self._learner_name(self.base_learner)}"
            + (
                f", root learners {', '.join(self._learner_name(base) for base in self._root_bases())} over all labels"
                if self._roots
                else ""
            )
        ]
        homes = collections.defaultdict(list)
        for group in self._groups:
            homes[group.home].append(group)
        root = self._tree.root
        if root is not None:
            self._render(root, "", True, homes, lines, is_root=True)
        return "\n".join(lines)

    def _render(
        self, node: ClusterNode, prefix: str, last: bool, homes, lines: list[str], is_root: bool = False
    ) -> None:
        check = node.last_check
        stats = f" d1={check['d1']:.3f} eps={check['eps']:.3f}" if check else ""
        if node.active:
            labels = ", ".join(map(str, node.labels))
            head = f"{node.node_id} [active n={node.n(self._tree.n_seen)}{stats}] {{{labels}}}"
        else:
            head = f"{node.node_id} [split at {node.split_info['instance']}{stats}]"
        for group in homes.get(node.node_id, ()):
            served = self._served_by(group)
            served = ", served by " + ", ".join(f"{level} {n}" for level, n in served.items()) if served else ""
            head += f" -> {group.group_id} ({len(group.labels)} labels, {group.origin}{served})"
        branch = "" if is_root else ("└── " if last else "├── ")
        lines.append(prefix + branch + head)
        child_prefix = prefix + ("" if is_root else ("    " if last else "│   "))
        for i, child in enumerate(node.children):
            self._render(child, child_prefix, i == len(node.children) - 1, homes, lines)
