"""iHOMER: a hierarchy of multi-label learners over an online partition of the label space."""

from __future__ import annotations

import collections
import random
import typing

import numpy as np

from river import drift

from learners import registry
from learners.base import DriftEvent, Features, Label, LabelDict, LabelMask, MultiLabelClassifier, as_label_dict
from learners.ihomer_groups import _Choices, _Group, _Mentor, change_event, drift_event, forwarded_event
from learners.ihomer_restructure import Restructuring
from learners.ihomer_serving import ServingChoices, probabilities_of
from learners.ihomer_views import Views
from learners.label_clustering import LabelClusterTree, StructureChange
from learners.pruned_sets import PrunedSets

__all__ = ["IHOMER", "change_event", "drift_event", "forwarded_event"]

# _Choices, _Group and _Mentor are imported here too: models pickled before the split name them here.

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


class IHOMER(ServingChoices, Restructuring, Views, MultiLabelClassifier):
    """Incremental Hierarchy Of Multi-label ClassifiERs over online label clusters.

    A :class:`~learners.label_clustering.LabelClusterTree` partitions the labels into groups of
    labels that are on together (Jaccard co-occurrence, ODAC splits and merges). Each group has its
    own multi-label learner, trained on every instance with that group's labels only. Above them,
    root learners cover all labels and learn every instance (with ``root_learner``, the default):
    by default an MLHAT, an MLHT and pruned sets (``root_base_learner``), which no restructuring
    touches. Every candidate predicts every instance, and the prediction is chosen from them on
    their recent mistakes, at two levels:

    - *each label* is predicted by whichever candidate has made the fewest mistakes on it over a
      faded window: a root, its group's own learner, or the mean of the first root's and the own
      learner's probabilities (``serving_blend``). A label is served by the first root until
      another candidate has been better by ``serving_margin``, its mistakes weighed against a
      prior of ``serving_prior`` instances at the first root's rate (a clear difference moves the
      choice within tens of instances), or until the first full decision, after ``n_min``
      instances, gives it to the candidate with the fewest mistakes.
    - *each group* (``serving_sets``) can instead be served whole by one candidate, when that
      candidate has made clearly fewer wrong label sets on the group's labels than the per-label
      choices together (same window, margin, prior and first decision, the per-label choices as
      default). Per-label
      choices count wrong labels, so they mix candidates and favour the Hamming loss; a label-set
      learner such as pruned sets predicts sets that are right as a whole, which is what subset
      accuracy counts and what small groups of co-occurring labels make tractable (HOMER's idea).
      A root that predicts label sets serves whole groups only.

    A group's own learner that has served nothing (no label, alone or in the blend, and not the
    group's label sets) for ``retire_after`` instances retires: it stops learning and predicting,
    its state is dropped, and the roots serve the group (its cost was that of a root, for no
    prediction). So does a root other than the first that has served no label and no label set of
    any group for as long (``retire_roots``): it stops costing a learner's work per instance.

    A restructuring keeps each label's record of the roots (a new group's own learner and blend
    start from the count of the root that served the label), and never replaces the learner that
    predicts a label by an untrained one. Roots of different kinds make the candidates differ in
    how they learn, not only in what they were trained on: each is better on some labels or label
    sets of some streams. The price is the root learners' work, about one learner over all labels
    each.

    Drift is handled at two levels. Locally, each group's learner adapts itself (MLHAT's ADWIN per
    node); its drift events are forwarded with the group's identifier. Globally, a split or merge
    of the label tree changes the partition, and an ADWIN on the Hamming error of the whole
    prediction restarts the tree's statistics, so that the partition is re-estimated on the data
    after the change (the roots and the group learners adapt by themselves). Only groups whose
    label set changed get a new learner; a new group starts from the old learner that covered most of its labels, or is mentored by it (see
    ``warm_start``). Every change goes out as a :class:`~learners.base.DriftEvent`: ``split`` and
    ``merge`` of the label tree (with the statistics of the test), ``drift`` (the error monitor),
    ``retire`` (a group's own learner retires),
    ``restructure`` (groups created and removed, and where each new learner came
    from), ``serving_level`` (a label moves between the candidates, with each one's window error;
    or a group's label sets, with ``"unit": "label set"``), ``handover`` (a mentor steps back, only without root learners) and the
    learners' own events, re-labelled ``local`` with their group (``root``, ``root:mlht``... for
    the root learners).

    :meth:`describe` gives a JSON-able snapshot (tree, partition, learners, history) and
    :meth:`render_text` draws the tree; :attr:`history` lists the partition changes.

    Partial feedback (:meth:`learn_one_masked`): the label tree, the serving choices, the mentors
    and the drift monitor count whole label sets, so they learn from fully judged instances only;
    an instance with labels not judged trains each group's learner and the roots that learn from
    partial labels on its judged labels (a label-set root, such as pruned sets, learns from fully
    judged instances only). A label first named by such an
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
        Keep learners over all labels at the root of the hierarchy (see ``root_base_learner``) as
        candidates of the serving choices; no restructuring replaces them. A new group's labels
        keep the roots that served them until another candidate is measurably better, so mentors
        are not needed: a source learner covering over twice the group's labels gives a fresh one.
        Off, every group is always predicted by its own learner (or its mentor).
    root_base_learner
        What the root learners are: a catalogue name or a :class:`MultiLabelClassifier` (one root),
        or a sequence of them (one root each); ``None``: one root, ``base_learner``. The first root
        serves every label at first; each further root is one more candidate of every serving
        choice (its level is ``root:<learner>``); the blend stays the mean of the first root's
        and the group's own probabilities. The default, MLHAT, MLHT and pruned sets over the 64
        most frequent label sets (level ``root:PrunedSets``), gives three kinds of learner: MLHAT (bagged regressions behind a kNN label powerset in each leaf,
        drift adaptation) first keeps the model safe where the others are weak; MLHT (one
        logistic regression per leaf and label) is better on some labels of some streams; pruned
        sets (a label-set learner) predicts whole label sets. Its cap on label sets bounds its
        memory and its cost per prediction (naive Bayes over label sets x features): with every
        frequent set as a class it was 35 of iHOMER's 52 MiB on a 1,001-feature stream (imdb).
        A root that cannot learn from partial labels (pruned sets) learns from fully judged
        instances only.
    serving_blend
        Let the mean of the (first) root's and the group's own probabilities serve too, as one
        more candidate of each serving choice, scored like the others. Off, the choice is between
        the roots and the group's own learner only.
    serving_sets
        Give each group a second choice, on wrong label sets: between its per-label choices
        together (the default) and each candidate serving all the group's labels. A root that
        predicts whole label sets (pruned sets) is then a candidate of this choice only: its
        probability of a single label is a sum over the label sets it predicts, which makes few
        wrong labels where it predicts little (on rare labels, on streams of unique label sets)
        and so would win per-label choices while losing labels that are on.
    retire_after
        With root learners, a group's own learner that has served none of the group's labels
        (alone or in the blend), nor its label sets, for this many instances retires: it no
        longer learns or predicts, its state is dropped (a new group never starts from it), and
        the group is served by the roots from then on. A group
        learner costs about as much per instance as a root; where the roots serve a group
        (label-set learners on small groups, MLHT on some streams) it is work that pays for
        nothing. The decision is the group's own, so a sharded model makes it at the same
        instance. A label's own choice that still names a retiring learner (a group served whole
        by one candidate hides its labels' own choices, which do not serve) moves at once to the
        candidate with the fewest faded mistakes among those left, with a ``serving_level``
        event, so that no retired learner serves when the group goes back to them. ``None``:
        never.
    retire_roots
        With ``retire_after``, a root other than the first that has served no label and no
        label set of any group for ``retire_after`` instances retires too: it no longer learns or
        predicts (its column of the serving choices is barred), its state is dropped, and a
        ``retire`` event names its level. The first root never retires: every label starts on it,
        the blend is its mean with a group's own learner, and a restructuring falls back on it.
        On the 12 baseline datasets (27 streams with the shuffles) every score was the same as
        without it; the MLHT root retired on yeast and the pruned-sets root on bibtex, for
        example. A sharded model retires a root at the same instance (its head decides on every
        group host's serving columns). Label choices that name it move as for a group's learner.
        Off: roots never retire.
    serving_window
        Window, in instances, of the exponentially faded counts of mistakes (fading factor
        ``1 - 1 / serving_window``) that the serving choices compare.
    serving_margin
        A serving choice moves only when another candidate's count of mistakes is below
        ``1 - serving_margin`` times the serving one's (on a tie the first root, then the group's
        own learner), so the choice does not flap; ties stay with the candidate that serves. The
        one exception is the decision after ``n_min`` instances of the label (or group): the
        candidate with the fewest faded mistakes then replaces the default without margin.
    serving_prior
        The evidence a serving choice asks for before its decision at ``n_min``, in instances:
        every candidate's faded count of mistakes is compared as if the candidate had also served
        ``serving_prior`` instances at the default's rate (the first root's for a label, the
        per-label choices' for a group's label sets). So a choice can move from its first
        instance, but a difference of rates counts in proportion to the instances that show it: a
        candidate that is right where the default is often wrong (a label the first root never
        predicts, a new group on a short stream) serves within tens of instances; a close one waits
        for the decision at ``n_min``. ``None``: no prior; no choice moves before ``n_min``.
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

    STATE_LAYOUT = 6
    STATE_LAYOUT_CHANGE = (
        "iHOMER changed on 2026-12-03: its pruned-sets root keeps the 64 most frequent label sets "
        "as classes (level root:PrunedSets), a group's own learner that serves nothing retires, "
        "and so does a root other than the first (retire_roots); its serving choices weigh their "
        "evidence against a prior (serving_prior) instead of waiting n_min instances"
    )

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
            PrunedSets(max_classes=64),
        ),
        serving_window: int = 500,
        serving_margin: float = 0.1,
        serving_blend: bool = True,
        serving_sets: bool = True,
        serving_prior: float | None = 25.0,
        retire_after: int | None = 1000,
        retire_roots: bool = True,
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
        if retire_after is not None and retire_after < 1:
            raise ValueError(f"IHOMER: retire_after must be >= 1 or None, got {retire_after!r}")
        if serving_window < 1:
            raise ValueError(f"IHOMER: serving_window must be >= 1, got {serving_window!r}")
        if not 0.0 <= serving_margin < 1.0:
            raise ValueError(f"IHOMER: serving_margin must be in [0, 1), got {serving_margin!r}")
        if serving_prior is not None and serving_prior < 0:
            raise ValueError(f"IHOMER: serving_prior must be >= 0 or None, got {serving_prior!r}")
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
        self.serving_sets = serving_sets
        self.serving_prior = serving_prior
        self.retire_after = retire_after
        self.retire_roots = retire_roots
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
        # With label-set choices, the roots that predict whole label sets serve whole groups only
        # (the first root serves every label by default, so it is never one of them).
        self._set_only_columns = [
            column
            for column, root in zip(self._root_columns[1:], self._roots[1:])
            if self.serving_sets and getattr(root, "_predicts_label_sets", False)
        ]
        # (x, instance count, roots' probabilities, groups' own probabilities) of the last prediction
        self._level_memo: tuple | None = None
        # With ``retire_roots``: the last instance at which each root served, and the retired roots
        # (their indices in ``_roots``).
        self._root_served_at = [0] * len(self._roots)
        self._retired_roots: set[int] = set()

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
            if self._roots_retire:
                self._retire_idle_roots()
        mentored = [group for group in self._groups if group.mentor is not None]
        if mentored:
            self._score_handover(x, y, mentored)
        for i, (level, root) in enumerate(zip(self._root_levels, self._roots)):
            if i not in self._retired_roots:
                root.learn_one(x, dict(y))
                self._forward(root, level, tuple(self._labels))
        for group in self._groups:
            if not group.retired:
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
        for i, (level, root) in enumerate(zip(self._root_levels, self._roots)):
            if i in self._retired_roots:
                continue
            if root.supports_partial_labels:  # a label-set root learns from whole label sets only
                root.learn_one_masked(x, dict(known), mask)
                self._forward(root, level, tuple(self._labels))
        for group in self._groups:
            if not group.retired:
                group.learner.learn_one_masked(x, {label: known[label] for label in group.labels}, mask)
                self._forward(group.learner, group.group_id, group.labels)

    @property
    def supports_partial_labels(self) -> bool:
        """Whether the groups' learners and at least one root (or, without roots, the groups'
        learners alone) learn from partial labels; the roots that cannot learn from whole label
        sets only."""
        base = self.base_learner
        group_learner = registry.make(base) if isinstance(base, str) else base
        roots = not self._roots or any(root.supports_partial_labels for root in self._roots)
        return group_learner.supports_partial_labels and roots

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
    ) -> tuple[list[dict[Label, float]], dict[str, dict[Label, float]], dict[str, np.ndarray]]:
        """Each root's probabilities, each group's own learner's, and a memo of the groups'
        candidate matrices built from them (filled by the serving steps of this instance)."""
        if self._level_memo is not None and self._level_memo[0] is x and self._level_memo[1] == self._n:
            return self._level_memo[2:]
        retired = self._retired_roots
        roots = [{} if i in retired else root.predict_proba_one(x) for i, root in enumerate(self._roots)]
        own = {group.group_id: self._own_proba(group, x) for group in self._groups}
        self._level_memo = (x, self._n, roots, own, {})
        return self._level_memo[2:]

    @staticmethod
    def _own_proba(group: _Group, x: Features) -> dict[Label, float]:
        """The group's own learner's probabilities; none once it has retired."""
        return {} if group.retired else group.learner.predict_proba_one(x)

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
            labels = group.labels
            served = probabilities_of(predicted, labels) >= 0.5
            wrong = int((served != np.fromiter(map(y.__getitem__, labels), bool, len(labels))).sum())
            errors += wrong
            before = group.error.estimation
            group.error.update(wrong / len(group.labels))
            if group.error.drift_detected and group.error.estimation > before:
                group.error_rose = True
        return errors

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
            roots, own, candidates = self._levels_for(x)
            for group in self._groups:
                out.update(zip(group.labels, self._served(group, roots, own[group.group_id], candidates)))
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
