"""Binary relevance, its member seeding and drift events, and the ThresholdRegressor member."""

from __future__ import annotations

import random

import pytest
from river import base, ensemble, forest, linear_model, neighbors, preprocessing, rules, tree

from learners.binary_relevance import BinaryRelevance, member_seed, seeded_clone
from learners.threshold_regressor import PureTargetSafeSplitter, ThresholdRegressor


class Abstains(base.Classifier):
    """A member that never answers: predict_proba_one is always empty."""

    def learn_one(self, x, y):
        pass

    def predict_proba_one(self, x):
        return {}


class Recorder(base.Classifier):
    """A member that remembers the targets it was taught."""

    def __init__(self):
        self.targets = []

    def learn_one(self, x, y):
        self.targets.append(y)

    def predict_proba_one(self, x):
        return {True: 0.75, False: 0.25} if self.targets else {}


def _points(n, seed=0):
    rng = random.Random(seed)
    return [{"a": rng.random(), "b": rng.random()} for _ in range(n)]


def test_labels_are_added_when_they_first_appear():
    model = BinaryRelevance(linear_model.LogisticRegression())
    xs = _points(30)
    for x in xs[:10]:
        model.learn_one(x, {"first": x["a"] > 0.5})
    assert list(model.members) == ["first"]
    for x in xs[10:20]:
        model.learn_one(x, {"first": x["a"] > 0.5, "second": x["b"] > 0.5})
    model.learn_one(xs[20], {"third"})
    assert list(model.members) == ["first", "second", "third"]
    assert set(model.predict_one(xs[21])) == {"first", "second", "third"}


def test_a_new_member_has_seen_only_the_instances_since_its_label_appeared():
    model = BinaryRelevance(linear_model.LogisticRegression())
    late_only = linear_model.LogisticRegression()
    xs = _points(60, seed=1)
    for i, x in enumerate(xs):
        y = {"early": x["a"] > 0.5}
        if i >= 40:
            y["late"] = x["b"] > 0.3
            late_only.learn_one(x, y["late"])
        model.learn_one(x, y)
    assert model.members["late"].weights == late_only.weights
    probe = {"a": 0.2, "b": 0.9}
    assert model.predict_proba_one(probe)["late"] == late_only.predict_proba_one(probe)[True]


def test_known_labels_missing_from_a_dict_target_are_off_and_sets_name_the_on_labels():
    model = BinaryRelevance(Recorder())
    model.learn_one({"a": 1.0}, {"x": True, "y": False})
    model.learn_one({"a": 1.0}, {"y": True})  # x omitted: off
    model.learn_one({"a": 1.0}, {"x"})  # set: x on, y off
    model.learn_one({"a": 1.0}, set())
    assert model.members["x"].targets == [True, False, True, False]
    assert model.members["y"].targets == [False, True, False, False]


def test_members_that_do_not_answer_or_never_saw_true_give_zero():
    model = BinaryRelevance(Abstains())
    model.learn_one({"a": 1.0}, {"mute"})
    assert model.predict_proba_one({"a": 1.0}) == {"mute": 0.0}
    assert model.predict_one({"a": 1.0}) == {"mute": False}

    only_off = BinaryRelevance(tree.HoeffdingTreeClassifier())
    for x in _points(5):
        only_off.learn_one(x, {"never": False})
    assert only_off.predict_proba_one({"a": 0.5, "b": 0.5}) == {"never": 0.0}


def test_member_seed_is_stable_across_processes_and_differs_between_labels():
    # A fixed value: a salted hash() would change from one interpreter run to the next.
    assert member_seed(42, "beach") == 41932254
    assert member_seed(42, "beach") != member_seed(42, "sunset")
    assert member_seed(42, "beach") != member_seed(43, "beach")


def test_members_get_derived_seeds_nested_ones_included():
    model = BinaryRelevance(forest.ARFClassifier(n_models=2, seed=5), seed=9)
    model.learn_one({"a": 1.0}, {"p", "q"})
    assert model.members["p"].seed == member_seed(9, "p")
    assert model.members["q"].seed == member_seed(9, "q")

    knn = neighbors.KNNClassifier(engine=neighbors.SWINN(seed=1))
    assert seeded_clone(knn, 77).engine.seed == 77
    pipeline = preprocessing.StandardScaler() | tree.HoeffdingAdaptiveTreeClassifier(seed=1)
    assert seeded_clone(pipeline, 77)["HoeffdingAdaptiveTreeClassifier"].seed == 77


def test_without_a_seed_members_keep_the_classifier_seed():
    model = BinaryRelevance(forest.ARFClassifier(n_models=2, seed=5))
    model.learn_one({"a": 1.0}, {"p"})
    assert model.members["p"].seed == 5


def test_the_prototype_classifier_is_never_trained():
    prototype = Recorder()
    model = BinaryRelevance(prototype)
    model.learn_one({"a": 1.0}, {"p"})
    assert prototype.targets == []


def _flip_stream(n, flip_at, seed):
    """One label that follows feature `a` and, from `flip_at` on, its opposite."""
    rng = random.Random(seed)
    for i in range(n):
        x = {"a": rng.random(), "b": rng.random(), "c": rng.random()}
        on = x["a"] > 0.5
        yield x, {"flip": on if i < flip_at else not on}


def _events_after_flip(model, n=3000, flip_at=1500):
    events = []
    for x, y in _flip_stream(n, flip_at, seed=4):
        model.learn_one(x, y)
        events.extend(model.pop_events())
    return events


def test_hoeffding_adaptive_tree_members_report_drift_on_a_concept_flip():
    model = BinaryRelevance(tree.HoeffdingAdaptiveTreeClassifier(grace_period=50, seed=1))
    events = _events_after_flip(model)
    drifts = [e for e in events if e.kind == "drift"]
    assert drifts, "the flip went unnoticed"
    assert all(e.learner == "br" and e.level == "local" and e.labels == ("flip",) for e in events)
    assert any(e.instance > 1500 for e in drifts)
    assert {e.kind for e in events} <= {"drift", "subtree_swap", "alternate_pruned"}


def test_adaptive_random_forest_members_report_warnings_and_drifts():
    model = BinaryRelevance(forest.ARFClassifier(n_models=3, seed=1))
    events = _events_after_flip(model, n=2400, flip_at=1200)
    kinds = {e.kind for e in events if e.instance > 1200}
    assert {"warning", "drift"} <= kinds
    assert all(e.detail["member"] == "ARFClassifier" for e in events)


@pytest.mark.parametrize("ensemble_cls", [ensemble.ADWINBaggingClassifier, ensemble.ADWINBoostingClassifier])
def test_adwin_ensembles_report_a_member_reset(ensemble_cls):
    model = BinaryRelevance(ensemble_cls(linear_model.LogisticRegression(), n_models=3, seed=1))
    events = _events_after_flip(model)
    assert any(e.kind == "drift" and e.instance > 1500 for e in events)
    assert all(0 <= e.detail["ensemble_member"] < 3 for e in events)


def test_amrules_members_report_rule_drift():
    regressor = rules.AMRules(n_min=50, splitter=PureTargetSafeSplitter())
    model = BinaryRelevance(ThresholdRegressor(regressor))
    events = _events_after_flip(model)
    assert any(e.kind == "drift" and e.instance > 1500 for e in events)
    assert model.members["flip"].regressor.n_drifts_detected == sum(1 for e in events)


def test_members_without_drift_detection_report_nothing():
    model = BinaryRelevance(tree.HoeffdingTreeClassifier(grace_period=50))
    assert _events_after_flip(model, n=1000, flip_at=500) == []


class ConstantRegressor(base.Regressor):
    def __init__(self, output: float):
        self.output = output
        self.targets = []

    def learn_one(self, x, y):
        self.targets.append(y)

    def predict_one(self, x):
        return self.output


@pytest.mark.parametrize(
    "output, threshold, p_true",
    [
        (0.7, 0.5, 0.7),
        (1.4, 0.5, 1.0),
        (-0.2, 0.5, 0.0),
        (0.3, 0.3, 0.5),
        (0.15, 0.3, 0.25),
        (0.65, 0.3, 0.75),
    ],
)
def test_threshold_regressor_probability_is_clipped_and_centred_on_the_threshold(output, threshold, p_true):
    model = ThresholdRegressor(ConstantRegressor(output), threshold=threshold)
    proba = model.predict_proba_one({})
    assert proba[True] == pytest.approx(p_true)
    assert proba[False] == pytest.approx(1.0 - p_true)
    assert model.predict_one({}) is (output >= threshold)
    assert (proba[True] >= 0.5) is model.predict_one({})


def test_threshold_regressor_trains_its_regressor_on_zero_one():
    regressor = ConstantRegressor(0.0)
    model = ThresholdRegressor(regressor)
    for y in (True, False, 1, 0):
        model.learn_one({}, y)
    assert regressor.targets == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 2.0])
def test_threshold_regressor_rejects_thresholds_outside_the_open_unit_interval(threshold):
    with pytest.raises(ValueError, match="threshold"):
        ThresholdRegressor(ConstantRegressor(0.0), threshold=threshold)


def test_amrules_with_the_safe_splitter_survives_a_constant_target_and_still_splits():
    xs = _points(400, seed=2)
    constant = rules.AMRules(n_min=30, splitter=PureTargetSafeSplitter())
    for x in xs:
        constant.learn_one(x, 0.0)
    assert len(constant) == 1  # only the default rule: nothing to split on

    varying = rules.AMRules(n_min=30, splitter=PureTargetSafeSplitter())
    for x in xs:
        varying.learn_one(x, 1.0 if x["a"] > 0.5 else 0.0)
    assert len(varying) > 1


def test_stock_amrules_fails_on_a_constant_target():
    # Why PureTargetSafeSplitter exists; if river fixes this, the guard can go.
    model = rules.AMRules(n_min=30)
    with pytest.raises(ZeroDivisionError):
        for x in _points(400, seed=2):
            model.learn_one(x, 0.0)


class SeesFeatures(base.Classifier):
    """A member that remembers the features it is given, learning and predicting."""

    def __init__(self):
        self.learned = []
        self.asked = []

    def learn_one(self, x, y):
        self.learned.append(dict(x))

    def predict_proba_one(self, x):
        self.asked.append(dict(x))
        return {}


def test_members_get_absent_features_as_zeros():
    model = BinaryRelevance(SeesFeatures())
    model.learn_one({"w1": 1.0, "w2": 2.0}, {"p"})
    model.learn_one({"w3": 3.0}, {"p"})
    model.predict_one({"w2": 5.0, "new": 1.0})
    member = model.members["p"]
    assert member.learned == [{"w1": 1.0, "w2": 2.0}, {"w1": 0.0, "w2": 0.0, "w3": 3.0}]
    # Predicting fills in what was learned from, and passes features never learned from as given.
    assert member.asked == [{"w1": 0.0, "w2": 5.0, "w3": 0.0, "new": 1.0}]
    assert model._zeros.keys() == {"w1", "w2", "w3"}  # predicting taught it nothing


def test_members_get_features_as_given_without_absent_as_zero():
    model = BinaryRelevance(SeesFeatures(), absent_as_zero=False)
    model.learn_one({"w1": 1.0}, {"p"})
    model.learn_one({"w3": 3.0}, {"p"})
    model.predict_one({"w2": 5.0})
    assert model.members["p"].learned == [{"w1": 1.0}, {"w3": 3.0}]
    assert model.members["p"].asked == [{"w2": 5.0}]


def test_absent_as_zero_lets_trees_split_on_sparse_indicators():
    # The label is on exactly when word w0 occurs; w0 is absent otherwise, as in sparse data.
    rng = random.Random(6)
    stream = []
    for _ in range(1500):
        x = {f"w{j}": 1.0 for j in range(20) if rng.random() < 0.3}
        stream.append((x, {"topic": "w0" in x}))
    scores = {}
    for absent_as_zero in (True, False):
        model = BinaryRelevance(tree.HoeffdingTreeClassifier(grace_period=50), absent_as_zero=absent_as_zero)
        hits = 0
        for i, (x, y) in enumerate(stream):
            if i >= 1000:
                hits += model.predict_one(x) == y
            model.learn_one(x, y)
        scores[absent_as_zero] = hits / 500
    assert scores[True] > 0.95
    assert scores[False] < 0.8
