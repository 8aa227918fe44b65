"""iHOMER: partition and routing, warm start, serving choices, drift alerts, introspection, pickling."""

from __future__ import annotations

import json
import pickle
import random

import pytest
from river import linear_model

from helpers import assert_resumes_identically
from learners.base import DriftEvent, LabelMask, MultiLabelClassifier, StaleLearnerState, as_label_dict
from learners.binary_relevance import BinaryRelevance
from learners.ihomer import IHOMER
from learners.registry import UnknownLearnerError
from stream.datasets import open_dataset
from stream.synthetic import DriftingMultiLabelStream

A = ("a0", "a1", "a2")
B = ("b0", "b1", "b2")
C = ("c0", "c1")


class Recorder(MultiLabelClassifier):
    """Answers ``proba`` for every label it knows (``1 - proba`` until it has learned ``wise_after``
    instances), records what it learns and how often it is asked."""

    def __init__(self, proba: float = 0.0, event_every: int = 0, wise_after: int = 0, seed: int | None = None):
        self.proba = proba
        self.event_every = event_every
        self.wise_after = wise_after
        self.seed = seed
        self._reset()

    def _reset(self):
        self.targets: list[dict] = []
        self.known: dict = {}
        self.asked = 0

    def learn_one(self, x, y):
        y = as_label_dict(y, self.known)
        self.known.update(dict.fromkeys(y))
        self.targets.append(dict(y))
        if self.event_every and len(self.targets) % self.event_every == 0:
            self._emit(DriftEvent("recorder", "local", "drift", len(self.targets), (next(iter(y)),), "root/1"))

    def predict_proba_one(self, x):
        self.asked += 1
        return dict.fromkeys(self.known, self.proba if len(self.targets) >= self.wise_after else 1.0 - self.proba)


def blocks(n: int, rng: random.Random, groups: list, rate: float | list[float] = 0.4, flip: float = 0.03):
    """Instances whose label blocks are each on with probability ``rate`` (or one rate per group);
    the labels of one block copy its state (flipped with probability ``flip``). A block given as a
    tuple of blocks shares one state between them (they are correlated)."""
    rates = rate if isinstance(rate, list) else [rate] * len(groups)
    for _ in range(n):
        y = {}
        for group, group_rate in zip(groups, rates):
            on = rng.random() < group_rate
            for block in group if isinstance(group[0], tuple) else (group,):
                y.update({label: on != (rng.random() < flip) for label in block})
        yield {"u": rng.random()}, y


def run(model, stream) -> list[DriftEvent]:
    events = []
    for x, y in stream:
        model.predict_one(x)
        model.learn_one(x, y)
        events.extend(model.pop_events())
    return events


def structure(model: IHOMER) -> dict:
    """``describe()`` without the learners' sizes in bytes, which depend on how objects were allocated."""
    described = model.describe()
    for root in described["root_learners"]:
        del root["bytes"]
    for group in described["partition"]:
        del group["learner_bytes"]
    return described


def br_lr():
    return BinaryRelevance(linear_model.LogisticRegression())


def test_predictions_cover_every_label_exactly_once():
    stream = DriftingMultiLabelStream(1500, 6, 9, drift_points=[750], seed=3, n_groups=3)
    model = IHOMER(base_learner=br_lr(), n_min=50, root_base_learner=None, seed=1)
    for i, (x, y) in enumerate(stream):
        prediction = model.predict_one(x)
        if i:
            assert set(prediction) == set(stream.label_names)
        model.learn_one(x, y)
        if i % 100 == 0:
            labels = [label for group in model.partition() for label in group]
            assert sorted(labels) == sorted(stream.label_names)  # disjoint and complete
    assert len(model.partition()) > 1


def test_labels_given_as_sets_and_labels_that_appear_later():
    rng = random.Random(1)
    model = IHOMER(base_learner=Recorder(), n_min=50, root_base_learner=None, seed=1)
    run(model, blocks(600, rng, [A, B]))
    assert sorted(model.partition()) == [A, B]
    model.learn_one({"u": 0.5}, {"a1", "z"})  # z is new, on with a1
    assert ("a0", "a1", "a2", "z") in model.partition()
    assert model.predict_proba_one({"u": 0.5})["z"] == 0.0
    group = next(g for g in model._groups if "z" in g.labels)
    assert group.learner.targets[-1] == {"a0": False, "a1": True, "a2": False, "z": True}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alerts_follow_each_drift_within_a_bounded_delay_and_none_without_drift(seed):
    drifts, delay = [2000, 4000], 600
    alerts = {}
    for points in (drifts, []):
        stream = DriftingMultiLabelStream(6000, 8, 6, drift_points=points, seed=seed, n_groups=2, drift_kinds="both")
        events = run(IHOMER(base_learner=br_lr(), root_base_learner=None, seed=1), stream)
        alerts[bool(points)] = [e.instance for e in events if e.level == "global" and e.kind in ("drift", "merge")]
    assert alerts[False] == []
    with_drift = alerts[True]
    assert [i for i in with_drift if i < drifts[0]] == []
    for point in drifts:
        assert any(point <= i <= point + delay for i in with_drift), (point, with_drift)


def test_a_drift_alarm_restarts_the_label_statistics_and_keeps_the_learners():
    stream = DriftingMultiLabelStream(3000, 8, 6, drift_points=[1500], seed=2, n_groups=2, drift_kinds="features")
    model = IHOMER(base_learner=br_lr(), root_base_learner=None, seed=1)
    for x, y in stream:
        groups = {g.group_id: g.learner for g in model._groups}
        model.predict_one(x)
        model.learn_one(x, y)
        drift = next((e for e in model.pop_events() if e.kind == "drift"), None)
        if drift is not None:
            break
    assert drift.level == "global" and drift.instance > 1500
    assert drift.detail["error_now"] > drift.detail["error_before"] and drift.detail["groups_error_rose"]
    rose = [g for g in model._groups if g.group_id in drift.detail["groups_error_rose"]]
    assert set(drift.labels) == {label for g in rose for label in g.labels}
    assert {g.group_id: g.learner for g in model._groups} == groups
    assert all(node.born_at == drift.instance and node.relevant == 0 for node in model.tree.root.walk())


def test_a_drift_alarm_keeps_the_root_learners():
    stream = DriftingMultiLabelStream(3000, 8, 6, drift_points=[1500], seed=2, n_groups=2, drift_kinds="features")
    model = IHOMER(base_learner=br_lr(), root_base_learner=(br_lr(), "majority"), seed=1)
    for x, y in stream:
        roots = list(model._roots)
        model.predict_one(x)
        model.learn_one(x, y)
        events = model.pop_events()
        if any(e.kind == "drift" and e.level == "global" for e in events):
            break
    else:
        pytest.fail("no global drift alarm")
    assert model._roots == roots


def test_a_split_rebuilds_only_the_changed_groups_and_warm_starts_them():
    rng = random.Random(5)
    model = IHOMER(base_learner=Recorder(), n_min=50, root_learner=False, seed=1)
    run(model, blocks(600, rng, [A, (B, C)]))
    assert sorted(model.partition()) == [A, B + C]
    group_a = next(g for g in model._groups if g.labels == list(A))
    group_bc = next(g for g in model._groups if g.labels == list(B + C))
    learner_a, learner_bc = group_a.learner, group_bc.learner
    events = run(model, blocks(1500, rng, [A, B, C], rate=0.25))
    assert sorted(model.partition()) == [A, B, C]
    assert model._groups[0] is group_a and group_a.learner is learner_a  # untouched
    group_b = next(g for g in model._groups if g.labels == list(B))
    group_c = next(g for g in model._groups if g.labels == list(C))
    # B+C's learner was itself copied from the first, eight-label learner: too wide for B or C.
    assert group_bc.origin == "warm: from g0 (5/5 labels)"
    for group in (group_b, group_c):
        assert group.origin == f"fresh, mentored by {group_bc.group_id}'s learner (8 labels, over twice as many)"
        assert group.learner is not learner_bc and set(group.learner.targets[-1]) == set(group.labels)
    # Both were mentored by B+C's learner itself, which learned their labels until the handovers.
    handovers = [e for e in events if e.kind == "handover"]
    assert {e.node for e in handovers} == {group_b.group_id, group_c.group_id}
    assert all(e.detail["mentor"] == group_bc.group_id and e.detail["instances"] >= 50 for e in handovers)
    assert group_b.mentor is None and group_c.mentor is None
    assert set(B + C) <= set(learner_bc.targets[-1])
    restructure = [e for e in events if e.kind == "restructure"]
    assert restructure[-1].detail["removed"] == [group_bc.group_id]
    assert set(restructure[-1].labels) == set(B + C)


def test_both_children_of_a_split_start_from_its_learner():
    model = IHOMER(base_learner=Recorder(), n_min=50, root_base_learner=None, seed=1)
    run(model, blocks(300, random.Random(4), [A, B]))
    first, second = model._groups
    assert first.origin == "warm: from g0 (3/3 labels)" and second.origin == "warm: from g0 (3/3 labels)"
    # The last child takes g0's learner, the other a copy with the same past.
    created_at = first.created_at
    assert first.learner is not second.learner
    assert first.learner.targets[: created_at - 1] == second.learner.targets[: created_at - 1]
    assert len(first.learner.targets[created_at - 1 :]) > 0
    assert all(set(target) == set(first.labels) for target in first.learner.targets[created_at:])
    assert all(set(target) == set(second.labels) for target in second.learner.targets[created_at:])


def test_warm_start_off_and_too_wide_sources_give_fresh_learners():
    rng = random.Random(6)
    model = IHOMER(base_learner=Recorder(), n_min=50, warm_start=False, root_base_learner=None, seed=1)
    run(model, blocks(600, rng, [A, B]))
    assert {g.origin for g in model._groups} == {"fresh: warm start off"}
    # Eight labels split 3 / 5: the three-label child would drag an eight-label learner along.
    model = IHOMER(base_learner=Recorder(), n_min=50, root_learner=False, seed=1)
    run(model, blocks(600, random.Random(7), [A, (B, C)]))
    origins = {g.labels[0]: g.origin for g in model._groups}
    assert origins["a0"] == "fresh, mentored by g0's learner (8 labels, over twice as many)"
    assert origins["b0"].startswith("warm: from g0 (5/5 labels)")


def test_a_mentor_predicts_until_the_fresh_learner_catches_up():
    # A is on most of the time: the old learner predicts it on, the fresh one off for 300 instances.
    model = IHOMER(
        base_learner=Recorder(proba=0.9, wise_after=300), n_min=50, handover=400, guard=300, root_learner=False, seed=1
    )
    events = run(model, blocks(400, random.Random(17), [A, (B, C)], rate=[0.8, 0.1]))
    group_a = next(g for g in model._groups if g.labels == list(A))
    assert group_a.origin.startswith("fresh, mentored by g0's learner")
    mentor = group_a.mentor.learner
    assert model.predict_proba_one({"u": 0.0})["a0"] == 0.9
    assert group_a.learner.predict_proba_one({})["a0"] == pytest.approx(0.1)
    assert model.describe()["partition"][0]["mentor"] == "g0"
    events = run(model, blocks(600, random.Random(18), [A, (B, C)], rate=[0.8, 0.1]))
    handover = next(e for e in events if e.kind == "handover" and e.node == group_a.group_id)
    # Its early mistakes keep the fresh learner behind on the whole, so the time limit ends it.
    assert handover.detail["instances"] == 400 and handover.detail["own_wrong"] > handover.detail["mentor_wrong"]
    assert handover.instance == group_a.created_at + 400
    assert group_a.mentor is None and set(mentor.targets[-1]) == set(A)
    assert model.predict_proba_one({"u": 0.0})["a0"] == 0.9  # its own, wise by now


class Width(Recorder):
    """Reads each label's truth from the feature of the same name, and gets it right only when the
    width of its last lesson (labels learned) is at most three (``narrow_is_right``) or above."""

    def __init__(self, narrow_is_right: bool = True, seed: int | None = None):
        self.narrow_is_right = narrow_is_right
        super().__init__(seed=seed)

    def predict_proba_one(self, x):
        right = bool(self.targets) and (len(self.targets[-1]) <= 3) == self.narrow_is_right
        return {label: x.get(label, 0.0) if right else 1.0 - x.get(label, 0.0) for label in self.known}


def truthful(stream):
    """The instances of ``stream`` with the labels' truth among the features."""
    for _, y in stream:
        yield {label: float(on) for label, on in y.items()}, y


def test_a_cluster_learner_better_on_its_labels_takes_over_from_the_root():
    model = IHOMER(
        base_learner=Width(narrow_is_right=True), n_min=50, root_base_learner=None, serving_sets=False, seed=1
    )
    events = run(model, truthful(blocks(800, random.Random(21), [A, B])))
    assert sorted(model.partition()) == [A, B]
    switches = [e for e in events if e.kind == "serving_level"]
    assert sorted(e.labels for e in switches) == [(label,) for label in sorted(A + B)]
    for event in switches:
        group = next(g for g in model._groups if g.group_id == event.detail["group"])
        assert event.level == "global" and event.labels == (event.detail["label"],) and event.node == group.home
        assert event.detail["from"] == "root" and event.detail["to"] == "own"
        # It waited for n_min instances of evidence, and the root was wrong on every label.
        assert event.detail["instances"] >= 50 and event.detail["root_error"] > 0.9
        # Each label kept the root's record from before the split: its new own learner took
        # over as soon as its count fell clearly below the root's (which it started from).
        assert event.instance < group.created_at + 50
        assert event.detail["own_error"] < (1 - model.serving_margin) * event.detail["root_error"]
    described = model.describe()["partition"]
    assert {g["serving"] for g in described} == {"per label"}
    assert all(g["served_by"] == {"own": 3} and g["root_error"] > 0.9 for g in described)
    assert "served by own 3" in model.render_text()
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_one(x) == {**dict.fromkeys(A, True), **dict.fromkeys(B, False)}


@pytest.mark.parametrize("base_learner", [Width(narrow_is_right=False), Recorder(proba=0.7)])
def test_clusters_stay_served_by_the_root_unless_their_learner_is_better(base_learner):
    # A narrow learner that is always wrong, or one exactly as good as the root: ties go to the root.
    model = IHOMER(base_learner=base_learner, n_min=50, root_base_learner=None, seed=1)
    events = run(model, truthful(blocks(800, random.Random(22), [A, B])))
    assert sorted(model.partition()) == [A, B]
    assert not [e for e in events if e.kind == "serving_level"]
    assert [g["served_by"] for g in model.describe()["partition"]] == [{"root": 3}] * 2
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_proba_one(x) == model._roots[0].predict_proba_one(x)
    assert all(not group.learner.targets[-1].keys() - set(group.labels) for group in model._groups)
    assert set(model._roots[0].targets[-1]) == set(A + B)


def test_an_own_learner_that_never_serves_retires_and_the_predictions_stay_the_same():
    # The groups' narrow learners are always wrong: the root serves every label all along.
    stream = list(truthful(blocks(800, random.Random(22), [A, B])))
    settings = {"base_learner": Width(narrow_is_right=False), "n_min": 50, "root_base_learner": None, "seed": 1}
    retiring, keeping = IHOMER(retire_after=100, **settings), IHOMER(retire_after=None, **settings)
    predicted, events, lessons = [], [], {}
    for x, y in stream:
        predicted.append((retiring.predict_proba_one(x), keeping.predict_proba_one(x)))
        retiring.learn_one(x, y)
        keeping.learn_one(x, y)
        for event in retiring.pop_events():
            events.append(event)
            for group in retiring._groups:
                if event.kind == "retire" and group.group_id == event.detail["group"]:
                    lessons[group.group_id] = (len(group.learner.targets), group.learner.asked)
    assert all(mine == theirs for mine, theirs in predicted)
    retired = {e.detail["group"]: e for e in events if e.kind == "retire"}
    assert {g.group_id for g in retiring._groups} <= set(retired)
    for group in retiring._groups:
        event = retired[group.group_id]
        assert event.level == "global" and event.labels == tuple(group.labels) and event.node == group.home
        assert event.instance == event.detail["last_served_at"] + 100 == group.created_at + 100
        # Its state was dropped (an untrained learner of the same kind stands for it), and from
        # then on it neither learns nor predicts.
        assert lessons[group.group_id] == (0, 0)
        assert (len(group.learner.targets), group.learner.asked) == (0, 0)
        assert type(group.learner) is Width and group.learner.narrow_is_right is False
    assert all(g["retired"] and g["served_by"] == {"root": 3} for g in retiring.describe()["partition"])
    assert not any(g.retired for g in keeping._groups)
    assert [e.kind for e in keeping.pop_events()] == [e.kind for e in events if e.kind != "retire"]


def test_an_own_learner_that_serves_does_not_retire():
    model = IHOMER(
        base_learner=Width(narrow_is_right=True), n_min=50, root_base_learner=None, retire_after=100, seed=1
    )
    events = run(model, truthful(blocks(800, random.Random(21), [A, B])))
    # The first group's learner, as wide as the root, was no better and retired; its narrow
    # successors serve their labels and keep learning.
    assert [e.detail["group"] for e in events if e.kind == "retire"] == ["g0"]
    assert all(not g.retired and g.learner.targets for g in model._groups)
    # A retired learner is no warm start: the groups that replaced g0 started fresh.
    assert {g.origin for g in model._groups} == {"fresh: g0's learner had retired"}
    assert all(g["served_by"] == {"own": 3} for g in model.describe()["partition"])


def test_a_root_that_never_serves_retires_and_the_predictions_stay_the_same():
    # The first root (wide, so right) serves every label; the second (wrong when wide) never does.
    stream = list(truthful(blocks(800, random.Random(23), [A, B])))
    roots = (Width(narrow_is_right=False), Width(narrow_is_right=True))
    settings = {"base_learner": Width(), "n_min": 50, "root_base_learner": roots, "retire_after": 100, "seed": 1}
    retiring, keeping = IHOMER(**settings), IHOMER(retire_roots=False, **settings)
    predicted, events = [], []
    for x, y in stream:
        predicted.append((retiring.predict_proba_one(x), keeping.predict_proba_one(x)))
        retiring.learn_one(x, y)
        keeping.learn_one(x, y)
        events.extend(retiring.pop_events())
    assert all(mine == theirs for mine, theirs in predicted)
    roots_retired = [e for e in events if e.kind == "retire" and e.detail["learner"] != "own"]
    retired = [(e.level, e.instance, e.node, e.labels, e.detail) for e in roots_retired]
    detail = {"learner": "root:Width", "last_served_at": 0}
    assert retired == [("global", 100, "root:Width", A + B, detail)]
    # Its state was dropped (an untrained learner of the same kind stands for it), and from then
    # on it neither learns nor predicts; the first root learns on.
    second = retiring._roots[1]
    assert (len(second.targets), second.asked) == (0, 0)
    assert type(second) is Width and second.narrow_is_right is True
    assert len(retiring._roots[0].targets) == len(stream)
    assert [root["retired"] for root in retiring.describe()["root_learners"]] == [False, True]
    assert not keeping._retired_roots and len(keeping._roots[1].targets) == len(stream)
    assert [e.kind for e in keeping.pop_events()] == [e.kind for e in events if e not in roots_retired]


def test_no_label_choice_is_left_on_a_learner_that_retired():
    # A group served whole (the label-set choice) hides its labels' own choices: one of them may
    # point at a learner that retires. It moves to the best open candidate then, with an event,
    # so that the label is never served by a retired learner when the group goes back to them.
    model = IHOMER(seed=1, n_min=50, guard=50, retire_after=60)
    moved = []
    for x, y in open_dataset("emotions").take(593):
        model.predict_one(x)
        model.learn_one(x, y)
        events = model.pop_events()
        retired = [e for e in events if e.kind == "retire"]
        moved += [e for e in events if e.kind == "serving_level" and retired and e.detail.get("from") in ("own", "blend", "root:mlht")]
        for group in model._groups:
            assert not set(group.label_choices.serving.tolist()) & model._barred(group)
    assert moved  # the case happens on this prefix


def test_the_first_root_never_retires_and_a_root_that_serves_does_not():
    # Here the first root is always wrong and the second always right: the second serves.
    roots = (Width(narrow_is_right=True), Width(narrow_is_right=False))
    model = IHOMER(
        base_learner=Width(narrow_is_right=False), n_min=50, root_base_learner=roots, retire_after=300,
        retire_roots=True, seed=1,
    )
    events = run(model, truthful(blocks(800, random.Random(24), [A, B])))
    assert not model._retired_roots
    assert not [e for e in events if e.kind == "retire" and e.node.startswith("root")]
    assert all(g["served_by"] == {"root:Width": 3} for g in model.describe()["partition"])


class SpreadOrBunched(Recorder):
    """Reads the labels' truth from the features; learned wide (more than three labels) it gets one
    label of each block wrong on every instance, a different one each time (``phase``), learned
    narrow it gets all the labels wrong on every other instance (``odd``)."""

    def predict_proba_one(self, x):
        if not self.targets:
            return {}
        if len(self.targets[-1]) > 3:
            wrong = [label for label in self.known if label.endswith(str(int(x.get("phase", 0.0))))]
        else:
            wrong = self.known if x.get("odd") else ()
        return {label: float(x.get(label, 0.0) != (label in wrong)) for label in self.known}


def spread_or_bunched_stream(n: int = 800):
    stream = list(truthful(blocks(n, random.Random(23), [A, B])))
    return [(x | {"odd": float(i % 2), "phase": float(i % 3)}, y) for i, (x, y) in enumerate(stream)]


@pytest.mark.parametrize("serving_sets", [False, True])
def test_a_whole_group_goes_to_the_candidate_with_the_fewest_wrong_label_sets(serving_sets):
    # Per label, the root is wrong a third of the time and a group's own learner half the time: each
    # label's choice keeps the root. But the root's mistakes fall on different labels, so every label
    # set it predicts is wrong, while the own learner's fall together: half its sets are right.
    model = IHOMER(base_learner=SpreadOrBunched(), root_base_learner=None, n_min=50, serving_sets=serving_sets, seed=1)
    events = run(model, spread_or_bunched_stream())
    assert sorted(model.partition()) == [A, B]
    described = model.describe()["partition"]
    for group in described:
        assert group["root_error"] == pytest.approx(1.0 / 3)
        assert group["own_error"] == pytest.approx(0.5, abs=0.01)
    x, y = spread_or_bunched_stream(3)[2]  # phase 2, even: the own learner is right, the root is not
    if not serving_sets:
        assert {g["serving"] for g in described} == {"per label"}
        assert [g["served_by"] for g in described] == [{"root": 3}] * 2
        assert "per_label_set_error" not in described[0]
        assert model.predict_one(x) != y
        return
    switches = [e for e in events if e.kind == "serving_level" and e.detail.get("unit") == "label set"]
    assert sorted(e.detail["group"] for e in switches) == sorted(g.group_id for g in model._groups)
    for event in switches:
        group = next(g for g in model._groups if g.group_id == event.detail["group"])
        assert event.labels == tuple(group.labels) and event.node == group.home
        assert (event.detail["from"], event.detail["to"]) == ("per label", "own")
        assert event.instance > group.created_at and event.detail["instances"] < 50  # see the next test
        assert event.detail["per_label_set_error"] > 0.9 and event.detail["own_set_error"] < 0.6
    assert {g["serving"] for g in described} == {"own"}
    assert [g["served_by"] for g in described] == [{"own": 3}] * 2
    assert all(g["per_label_set_error"] > 0.9 and g["own_set_error"] == pytest.approx(0.5, abs=0.01) for g in described)
    assert model.predict_one(x) == y


@pytest.mark.parametrize("serving_prior", [None, 25.0, 400.0])
def test_the_serving_prior_sets_how_much_evidence_moves_a_choice(serving_prior):
    # Each group's label sets: the per-label choices are always wrong, the own learner half the time.
    # Without a prior the first choice waits n_min instances. With a prior of m instances at the
    # default's rate the own learner takes over once w/2 + m < 0.9 (w + m), w the faded weight of the
    # instances seen: w > m/4, after 7 instances for m = 25; for m = 400 it would take 112 (a
    # 500-instance window), so the decision at n_min comes first.
    model = IHOMER(
        base_learner=SpreadOrBunched(), root_base_learner=None, n_min=50, serving_prior=serving_prior, seed=1
    )
    events = run(model, spread_or_bunched_stream())
    moved_after = [e.detail["instances"] for e in events if e.kind == "serving_level" and e.detail.get("unit") == "label set"]
    assert len(moved_after) == len(model._groups) == 2
    if serving_prior is None:
        assert moved_after == [50, 50]
    else:
        assert all(7 <= n <= 9 for n in moved_after) if serving_prior == 25.0 else moved_after == [50, 50]


def test_the_serving_prior_must_not_be_negative():
    with pytest.raises(ValueError, match="serving_prior"):
        IHOMER(serving_prior=-1.0)


class HalfSure(Recorder):
    """Reads the labels' truth from the features and is sure and right on most labels; learned wide
    (more than three labels) it leans the wrong way (0.4 of the truth) on the first label of each
    block (``a0``, ``b0``), learned narrow on the second (``a1``, ``b1``)."""

    def predict_proba_one(self, x):
        if not self.targets:
            return {}
        unsure = "0" if len(self.targets[-1]) > 3 else "1"
        return {
            label: abs(x.get(label, 0.0) - 0.6) if label.endswith(unsure) else x.get(label, 0.0)
            for label in self.known
        }


def blend_stream(n: int = 800):
    return list(truthful(blocks(n, random.Random(24), [A, B])))


class TakingTurns(Recorder):
    """Reads the labels' truth from the features and is sure and right, except on the first label of
    each block (``a0``, ``b0``), where it leans the wrong way (0.4 of the truth) on every other
    instance: learned wide (more than three labels) on the even ones, learned narrow on the odd ones."""

    def predict_proba_one(self, x):
        if not self.targets:
            return {}
        turn = float(len(self.targets[-1]) <= 3)
        return {
            label: abs(x.get(label, 0.0) - 0.6) if label.endswith("0") and x.get("odd") == turn else x.get(label, 0.0)
            for label in self.known
        }


@pytest.mark.parametrize("serving_blend", [True, False])
def test_the_blend_serves_where_both_levels_are_wrong_on_different_instances(serving_blend):
    # On a0 (b0) the root is wrong on the even instances and a group's own learner on the odd ones,
    # each with 0.4 on the wrong side; their mean is 0.7 on the right side, so the blend makes no
    # mistake where each level makes one half of the time.
    model = IHOMER(
        base_learner=TakingTurns(), root_base_learner=None, n_min=50, serving_blend=serving_blend, serving_sets=False,
        seed=1,
    )
    stream = [(x | {"odd": float(i % 2)}, y) for i, (x, y) in enumerate(blend_stream())]
    events = run(model, stream)
    assert sorted(model.partition()) == [A, B]
    groups = {g.group_id for g in model._groups}
    switches = [e for e in events if e.kind == "serving_level" and e.detail["group"] in groups]
    described = model.describe()["partition"]
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B} | {"odd": 0.0}
    proba = model.predict_proba_one(x)
    if not serving_blend:
        # The two levels tie on a0: the root keeps serving, and its mistakes show.
        assert [g["served_by"] for g in described] == [{"root": 3}] * 2
        assert "blend_error" not in described[0]
        assert proba["a0"] == pytest.approx(0.4) and proba["b0"] == pytest.approx(0.6)
        return
    assert sorted((e.labels, e.detail["from"], e.detail["to"]) for e in switches) == [
        (("a0",), "root", "blend"), (("b0",), "root", "blend")
    ]
    for event in switches:
        # The labels kept the root's record from before the split, and the blend started from it.
        assert event.detail["root_error"] == pytest.approx(0.5, abs=0.05)
        assert event.detail["blend_error"] < (1 - model.serving_margin) * event.detail["root_error"]
    assert [g["served_by"] for g in described] == [{"root": 2, "blend": 1}] * 2
    assert "served by root 2, blend 1" in model.render_text()
    expected = {"a0": 0.7, "a1": 1.0, "a2": 1.0, "b0": 0.3, "b1": 0.0, "b2": 0.0}
    assert proba == pytest.approx(expected)
    assert model.predict_one(x) == {**dict.fromkeys(A, True), **dict.fromkeys(B, False)}


def test_each_label_is_served_by_the_candidate_with_the_fewest_mistakes_on_it():
    # a0 (b0): the root is always wrong, the group's own learner and the blend never (the tie goes
    # to the own learner); a1: the own learner is always wrong; a2: nobody is. Only a0 and b0 move.
    model = IHOMER(base_learner=HalfSure(), n_min=50, root_base_learner=None, serving_sets=False, seed=1)
    events = run(model, blend_stream())
    assert sorted(model.partition()) == [A, B]
    switches = [e for e in events if e.kind == "serving_level"]
    assert sorted((e.labels, e.detail["from"], e.detail["to"]) for e in switches) == [
        (("a0",), "root", "own"), (("b0",), "root", "own")
    ]
    for event in switches:
        # The labels kept the root's record from before the split, and their new own learner and
        # blend started from it: they take over once their faded count falls below the margin.
        assert event.detail["root_error"] == pytest.approx(1.0)
        assert event.detail["own_error"] == event.detail["blend_error"] < 1 - model.serving_margin
    assert [g["served_by"] for g in model.describe()["partition"]] == [{"root": 2, "own": 1}] * 2
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_proba_one(x) == {**dict.fromkeys(A, 1.0), **dict.fromkeys(B, 0.0)}


@pytest.mark.parametrize(
    "base_learner, stream, served_by",
    [(HalfSure(), blend_stream(), {"blend": 3}), (SpreadOrBunched(), spread_or_bunched_stream(), {"own": 3})],
)
def test_a_model_served_by_several_candidates_continues_identically_after_pickling(base_learner, stream, served_by):
    model = IHOMER(base_learner=base_learner, n_min=50, serving_sets=True, root_base_learner=None, seed=1)
    run(model, stream[:500])
    assert [g["served_by"] for g in model.describe()["partition"]] == [served_by] * 2
    clone = assert_resumes_identically(model, stream[500:], 0)
    assert structure(model) == structure(clone)


def test_the_serving_choice_is_the_same_under_the_same_seed():
    # On this stream, the default learners, seeded from 3, give some labels to their blend.
    stream = list(DriftingMultiLabelStream(1500, 6, 6, drift_points=[700], seed=4, n_groups=2))
    first, second = IHOMER(n_min=50, seed=3), IHOMER(n_min=50, seed=3)
    switches = []
    for x, y in stream:
        assert first.predict_proba_one(x) == second.predict_proba_one(x)
        first.learn_one(x, y)
        second.learn_one(x, y)
        events = [e for e in first.pop_events() if e.kind == "serving_level"]
        assert events == [e for e in second.pop_events() if e.kind == "serving_level"]
        switches.extend(events)
    assert "blend" in {event.detail["to"] for event in switches}
    assert structure(first) == structure(second)


def test_every_root_learner_is_a_candidate_for_each_label():
    # Once the labels are split into A and B, the first root and the groups' own learners are
    # always wrong, and so their blend; the second root is right on every label: it serves them
    # all. (Before the split, the single group's own learner was right too, and won the tie.)
    model = IHOMER(
        base_learner=Width(narrow_is_right=False),
        root_base_learner=(Width(narrow_is_right=True), Width(narrow_is_right=False)),
        n_min=50,
        serving_sets=False,
        seed=1,
    )
    assert model._levels == ("root", "own", "blend", "root:Width")
    events = run(model, truthful(blocks(800, random.Random(25), [A, B])))
    assert sorted(model.partition()) == [A, B]
    groups = {g.group_id for g in model._groups}
    switches = [e for e in events if e.kind == "serving_level" and e.detail["group"] in groups]
    assert sorted(e.labels for e in switches) == [(label,) for label in sorted(A + B)]
    # The split removed the learner that served them: each label goes to its best root at once.
    assert {(e.detail["from"], e.detail["to"]) for e in switches} == {("own", "root:Width")}
    assert all(e.instance == model.history[-1]["instance"] for e in switches)
    assert all(e.detail["root:Width_error"] == 0.0 and e.detail["root_error"] > 0.9 for e in switches)
    described = model.describe()
    assert [g["served_by"] for g in described["partition"]] == [{"root:Width": 3}] * 2
    roots = [(root["level"], root["learner"]) for root in described["root_learners"]]
    assert roots == [("root", "Width"), ("root:Width", "Width")]
    assert "root learners Width, Width" in model.render_text()
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_one(x) == {**dict.fromkeys(A, True), **dict.fromkeys(B, False)}
    assert all(set(root.targets[-1]) == set(A + B) for root in model._roots)


class SetWidth(Width):
    """A :class:`Width` that says it predicts whole label sets (as pruned sets does)."""

    @property
    def _predicts_label_sets(self) -> bool:
        return True


@pytest.mark.parametrize("serving_sets", [True, False])
def test_a_root_that_predicts_label_sets_serves_whole_groups_only(serving_sets):
    # Once the labels are split into A and B, only the second root is right, on every label: with
    # label-set choices it takes each group whole, and never a single label; without, each label.
    model = IHOMER(
        base_learner=Width(narrow_is_right=False),
        root_base_learner=(Width(narrow_is_right=True), SetWidth(narrow_is_right=False)),
        n_min=50,
        serving_sets=serving_sets,
        seed=1,
    )
    events = run(model, truthful(blocks(800, random.Random(26), [A, B])))
    assert sorted(model.partition()) == [A, B]
    groups = {g.group_id for g in model._groups}
    switches = [e for e in events if e.kind == "serving_level" and e.detail["group"] in groups]
    per_label = [e for e in switches if e.detail.get("unit") != "label set"]
    described = model.describe()["partition"]
    assert [g["served_by"] for g in described] == [{"root:SetWidth": 3}] * 2
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_one(x) == {**dict.fromkeys(A, True), **dict.fromkeys(B, False)}
    if not serving_sets:
        assert {e.detail["to"] for e in per_label} == {"root:SetWidth"}
        return
    assert all(e.detail["to"] != "root:SetWidth" for e in per_label)
    whole = [e for e in switches if e.detail.get("unit") == "label set"]
    assert sorted(e.detail["group"] for e in whole) == sorted(groups)
    assert all(e.detail["to"] == "root:SetWidth" and e.detail["root:SetWidth_set_error"] == 0.0 for e in whole)
    assert {g["serving"] for g in described} == {"root:SetWidth"}


def test_the_default_roots_are_mlhat_mlht_and_pruned_sets_with_label_set_choices():
    model = IHOMER(seed=1)
    assert model._levels == ("root", "own", "blend", "root:mlht", "root:PrunedSets")
    assert model.serving_sets is True
    assert [root["learner"] for root in model.describe()["root_learners"]] == ["mlhat", "mlht", "PrunedSets"]
    assert [type(root).__name__ for root in model._roots] == ["MLHAT", "MLHT", "PrunedSets"]
    # The label-set root keeps its 64 most frequent label sets as classes: bounded memory.
    assert model._roots[2].max_classes == 64


def test_a_label_set_root_learns_from_fully_judged_instances_only():
    # Pruned sets needs whole label sets: a partial target trains the other roots and the groups.
    model = IHOMER(base_learner=br_lr(), root_base_learner=(br_lr(), "ps"), n_min=50, seed=1)
    assert model.supports_partial_labels
    stream = list(DriftingMultiLabelStream(300, 6, 6, seed=6, n_groups=2))
    for x, y in stream[:200]:
        model.learn_one(x, y)
    ps_before = pickle.dumps(model._roots[1])
    x, y = stream[200]
    model.learn_one_masked(x, y, LabelMask(unknown=frozenset(list(y)[:2])))
    assert pickle.dumps(model._roots[1]) == ps_before
    assert model._n == 201
    model.learn_one_masked(x, y, LabelMask(unknown=frozenset()))
    assert pickle.dumps(model._roots[1]) != ps_before
    only_sets = IHOMER(base_learner=br_lr(), root_base_learner="ps", seed=1)
    assert only_sets.supports_partial_labels is False


def test_repeated_root_learner_kinds_get_numbered_levels():
    model = IHOMER(base_learner="majority", root_base_learner=("majority", "majority", "mlht"), seed=1)
    assert model._levels == ("root", "own", "blend", "root:majority", "root:mlht")
    model = IHOMER(base_learner="majority", root_base_learner=("mlht", "majority", "majority"), serving_blend=False)
    assert model._levels == ("root", "own", "root:majority", "root:majority#3")


def test_without_a_root_learner_each_cluster_is_served_by_its_own():
    model = IHOMER(base_learner=Width(narrow_is_right=False), n_min=50, root_learner=False, seed=1)
    run(model, truthful(blocks(800, random.Random(22), [A, B])))
    assert model._roots == [] and {g["serving"] for g in model.describe()["partition"]} == {"own"}
    x = {label: 1.0 for label in A} | {label: 0.0 for label in B}
    assert model.predict_one(x) == {**dict.fromkeys(A, False), **dict.fromkeys(B, True)}


def test_max_groups_bounds_the_number_of_learners():
    model = IHOMER(base_learner=Recorder(), n_min=50, max_groups=2, root_base_learner=None, seed=1)
    run(model, blocks(1000, random.Random(8), [A, B, C]))
    assert len(model.partition()) == 2 and len(model.tree.leaves()) == 3


def test_restructuring_waits_for_the_warm_up_and_stops_in_the_tail():
    model = IHOMER(base_learner=Recorder(), n_min=50, guard=400, stream_length=1400, root_base_learner=None, seed=1)
    events = run(model, blocks(1000, random.Random(9), [A, B]))
    splits = [e.instance for e in events if e.kind == "split"]
    assert splits and splits[0] < 400
    assert [entry["instance"] for entry in model.history] == [1, 401]
    # From the tail guard on the blocks correlate: the tree merges, the partition stays.
    events = run(model, blocks(1500, random.Random(11), [(A, B)]))
    assert any(e.kind == "merge" for e in events) and all(e.kind != "restructure" for e in events)
    assert sorted(model.partition()) == [A, B]


def test_local_events_are_forwarded_with_their_cluster():
    model = IHOMER(base_learner=Recorder(event_every=100), n_min=50, root_base_learner=None, seed=1)
    events = run(model, blocks(300, random.Random(15), [A, B]))
    local = [e for e in events if e.level == "local"]
    assert local and all(e.learner == "ihomer" and e.kind == "drift" for e in local)
    first = local[0]
    assert first.node == f"{first.detail['cluster']}/root/1" and first.detail["source_learner"] == "recorder"
    # The root learner's events come with the cluster "root", the groups' with their group.
    clusters = {e.detail["cluster"] for e in local}
    created = {entry["id"] for h in model.history for entry in h["created"]}
    assert "root" in clusters and clusters - {"root"} and clusters - {"root"} <= created


@pytest.mark.parametrize("root_base_learner", [None, ("mlhat", "mlht")])
def test_pickle_round_trip_continues_identically(root_base_learner):
    stream = list(DriftingMultiLabelStream(1000, 6, 6, drift_points=[500], seed=4, n_groups=2))
    model = IHOMER(base_learner=br_lr(), n_min=50, root_base_learner=root_base_learner, seed=1)
    clone = assert_resumes_identically(model, stream, 600)
    assert structure(model) == structure(clone)


class StateAsPickled:
    """Pickles as ``model`` with its state recorded at another layout version."""

    def __init__(self, model: IHOMER, layout: int | None):
        self.model, self.layout = model, layout

    def __reduce__(self):
        state = dict(vars(self.model)) | ({"_state_layout": self.layout} if self.layout is not None else {})
        return object.__new__, (IHOMER,), state


@pytest.mark.parametrize("layout", [None, 1, 2, 3, 4, 5])
def test_a_model_pickled_before_the_serving_prior_is_refused_naming_the_change(layout):
    model = IHOMER(base_learner=Recorder(), n_min=50, root_base_learner=None, seed=1)
    run(model, blocks(200, random.Random(17), [A, B]))
    with pytest.raises(StaleLearnerState) as refused:
        pickle.loads(pickle.dumps(StateAsPickled(model, layout)))
    error = refused.value
    assert (error.learner, error.found, error.expected) == ("IHOMER", layout or 1, 6)
    assert "a prior (serving_prior)" in str(error) and "--fresh" in str(error)
    assert pickle.loads(pickle.dumps(model)).describe()["instances"] == 200


def test_learners_given_as_estimators_are_cloned_with_their_parameters():
    # Neither class is in the learner catalogue: they can only be cloned, never looked up by name.
    base, root = Recorder(proba=0.9, wise_after=7), Width(narrow_is_right=True)
    model = IHOMER(base_learner=base, root_base_learner=(root, base), n_min=50, seed=1)
    run(model, blocks(300, random.Random(18), [A, B]))
    learners = [*model._roots, *(group.learner for group in model._groups)]
    assert all(learner is not base and learner is not root for learner in learners)
    assert type(model._roots[0]) is Width and model._roots[0].narrow_is_right is True
    assert all(learner.proba == 0.9 and learner.wise_after == 7 for learner in learners[1:])
    # Each clone got a seed drawn from iHOMER's (a warm-started group's learner is a copy, with the
    # seed of the learner it copies); the given estimators were never trained.
    assert None not in {learner.seed for learner in learners} and model._roots[0].seed != model._roots[1].seed
    assert base.targets == [] and root.targets == []


def test_same_seed_same_model():
    stream = list(DriftingMultiLabelStream(400, 6, 6, seed=5, n_groups=2))
    first, second = IHOMER(n_min=50, seed=3), IHOMER(n_min=50, seed=3)
    for x, y in stream:
        assert first.predict_one(x) == second.predict_one(x)
        first.learn_one(x, y)
        second.learn_one(x, y)
    assert structure(first) == structure(second)


def test_describe_is_json_and_render_text_draws_the_tree():
    model = IHOMER(base_learner=Recorder(), n_min=50, root_base_learner=None, seed=1)
    run(model, blocks(600, random.Random(16), [A, B]))
    described = json.loads(json.dumps(model.describe()))
    assert described["instances"] == 600 and described["labels"] == 6
    assert described["tree"]["id"] == "r" and described["tree"]["active"] is False
    assert {tuple(g["labels"]) for g in described["partition"]} == {A, B}
    assert all(g["learner"] == "Recorder" and g["size"] == 3 and g["learner_bytes"] > 0 for g in described["partition"])
    assert [h["reason"] for h in described["history"]] == ["start", "split"]
    text = model.render_text()
    assert text.startswith("iHOMER: 600 instances, 6 labels, 2 groups")
    assert "r [split at" in text and "├── r.0 [active" in text and "└── r.1 [active" in text
    for group in described["partition"]:
        assert f"-> {group['id']} (3 labels" in text


def test_before_any_data():
    model = IHOMER(base_learner=Recorder(), root_base_learner=None)
    assert model.predict_proba_one({"u": 1.0}) == {}
    assert model.describe()["partition"] == [] and model.render_text().startswith("iHOMER: 0 instances")


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"base_learner": "nope"}, UnknownLearnerError, "unknown learner 'nope'"),
        ({"base_learner": "ihomer"}, ValueError, "cannot be 'ihomer'"),
        ({"base_learner": linear_model.LogisticRegression()}, TypeError, "LogisticRegression"),
        ({"max_groups": 0}, ValueError, "max_groups"),
        ({"drift_delta": 2.0}, ValueError, "drift_delta"),
        ({"guard": -1}, ValueError, "guard"),
        ({"handover": 0}, ValueError, "handover"),
        ({"delta": 1.5}, ValueError, "delta"),
        ({"serving_window": 0}, ValueError, "serving_window"),
        ({"serving_margin": 1.0}, ValueError, "serving_margin"),
        ({"retire_after": 0}, ValueError, "retire_after"),
        ({"root_base_learner": ()}, ValueError, "at least one"),
        ({"root_base_learner": ("mlht", "nope")}, UnknownLearnerError, "unknown learner 'nope'"),
        ({"root_base_learner": "ihomer"}, ValueError, "root_base_learner cannot be 'ihomer'"),
    ],
)
def test_bad_parameters_are_refused(params, error, match):
    with pytest.raises(error, match=match):
        IHOMER(**params)
