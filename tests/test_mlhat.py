"""MLHAT: split criterion, Hoeffding test, leaf-model switching, local drift, persistence, inputs."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from helpers import assert_resumes_identically
from learners.mlhat import MLHAT
from learners.multilabel_tree import Branch, ColumnIndex
from learners.split_criterion import (
    GaussianObservers,
    SplitSuggestion,
    binary_entropy,
    decide_split,
    hoeffding_bound,
    label_entropy,
    merit_range,
)


def _h(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def _observe(rows):
    """Observers, label weights and total weight after learning ``rows`` of (x, set of labels)."""
    index, observers = ColumnIndex(), GaussianObservers()
    label_weights = np.zeros(0)
    for x, on in rows:
        inst = index.encode(x, {label: label in on for label in ("a", "b", "c")})
        observers.update(inst, 1.0)
        label_weights = np.zeros(len(inst.y)) if not len(label_weights) else label_weights
        label_weights[inst.positive] += 1.0
    return index, observers, label_weights, float(len(rows))


def concept_stream(n: int, seed: int, feature: str = "u", start: int = 0):
    """Two noise-free label sets decided by ``feature < 0.5``; both u and v are always present."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = {"u": rng.random(), "v": rng.random(), "w": rng.random()}
        low = x[feature] < 0.5
        out.append((x, {"a": low, "b": low, "c": not low}))
    return out


# -- split criterion ------------------------------------------------------------------------------


def test_entropy_helpers_match_hand_computation():
    assert binary_entropy(np.array([0.25]))[0] == pytest.approx(_h(0.25))
    # Node of 8 instances: a on 2 times, b on 4 times, c on 8 times (constant: no entropy).
    assert label_entropy(np.array([2.0, 4.0, 8.0]), 8.0) == pytest.approx(_h(0.25) + _h(0.5))
    assert label_entropy(np.array([0.0, 0.0]), 0.0) == 0.0


def test_merit_of_a_binary_feature_equals_the_hand_computed_information_gain():
    # f = 0: {a}, {a, b}; f = 1: {b}, {}.  Node: p_a = p_b = 1/2 -> H = 2 bits.
    # Left (f = 0): p_a = 1, p_b = 1/2 -> 1 bit; right: p_a = 0, p_b = 1/2 -> 1 bit.  Merit = 2 - 1 = 1.
    rows = [({"f": 0.0}, {"a"}), ({"f": 0.0}, {"a", "b"}), ({"f": 1.0}, {"b"}), ({"f": 1.0}, set())]
    _, observers, label_weights, weight = _observe(rows * 5)
    [best] = observers.best_splits(weight, label_weights)
    assert best.merit == pytest.approx(1.0)
    assert 0.0 < best.threshold < 1.0
    assert best.left_weight == pytest.approx(10.0)
    left, right = best.children_label_weights(label_weights, weight)
    assert list(left) == pytest.approx([10.0, 5.0, 0.0])
    assert list(right) == pytest.approx([0.0, 5.0, 0.0])


def test_merit_of_a_perfect_numeric_split_equals_the_node_entropy():
    rng = random.Random(0)
    rows = []
    for _ in range(400):
        u = rng.random()
        rows.append(({"u": u, "noise": rng.random()}, {"a"} if u < 0.5 else {"b", "c"}))
    index, observers, label_weights, weight = _observe(rows)
    best, second = observers.best_splits(weight, label_weights)
    expected = sum(_h(w / weight) for w in label_weights)
    assert index.feature_names[best.column] == "u"
    assert best.threshold == pytest.approx(0.5, abs=0.1)
    # One Gaussian per label and one for the node (a mixture in truth) blur the gain of the split.
    assert 0.6 * expected < best.merit <= expected
    assert second.merit < 0.2 * best.merit


def test_split_with_too_little_weight_in_a_branch_is_rejected():
    # The feature is non-zero on 1 instance out of 200: below the 1 % minimum branch weight.
    rows = [({"f": 1.0 if i == 0 else 0.0}, {"a"} if i == 0 else {"b"}) for i in range(200)]
    _, observers, label_weights, weight = _observe(rows)
    assert observers.best_splits(weight, label_weights) == []


# -- Hoeffding test ------------------------------------------------------------------------------


def _suggestion(merit: float) -> SplitSuggestion:
    return SplitSuggestion(0, 0.5, merit, 1.0, 1.0, np.zeros(1, dtype=int), np.zeros(1))


def test_hoeffding_bound_and_merit_range():
    assert hoeffding_bound(1.0, 0.05, 100) == pytest.approx(math.sqrt(math.log(20) / 200))
    assert merit_range(1) == merit_range(2) == 1.0
    assert merit_range(14) == pytest.approx(math.log2(14))


def test_split_decision_follows_the_hoeffding_bound():
    delta, tau = 1e-7, 0.05
    bound_200 = hoeffding_bound(1.0, delta, 200)
    close = [_suggestion(0.5), _suggestion(0.5 - bound_200 / 2)]
    clear = [_suggestion(0.5), _suggestion(0.5 - 2 * bound_200)]
    assert decide_split(close, 2, 200, delta, tau) is None
    assert decide_split(clear, 2, 200, delta, tau) is clear[0]
    # Once the bound is below the tie threshold, the best wins even when the two are tied.
    n_tie = math.log(1 / delta) / (2 * (tau * 0.9) ** 2)
    assert decide_split(close, 2, n_tie, delta, tau) is close[0]
    # More labels widen the range, so the same gap is no longer enough.
    assert decide_split(clear, 200, 200, delta, tau) is None
    # The null split (merit 0) competes: one weak candidate does not split.
    assert decide_split([_suggestion(bound_200 / 2)], 2, 200, delta, tau) is None
    assert decide_split([_suggestion(-1.0)], 2, 200, delta, tau) is None


def test_tree_splits_on_the_feature_that_separates_label_sets():
    model = MLHAT(grace_period=50, seed=1)
    for x, y in concept_stream(800, seed=2):
        model.learn_one(x, y)
    root = model.describe()["root"]
    assert root["kind"] == "branch"
    assert root["feature"] == "u"
    assert root["threshold"] == pytest.approx(0.5, abs=0.1)


def test_no_split_when_features_carry_no_information():
    rng = random.Random(3)
    model = MLHAT(grace_period=50, seed=1)
    for _ in range(1500):
        model.learn_one({"u": rng.random(), "v": rng.random()}, {"a": rng.random() < 0.5, "b": rng.random() < 0.3})
    assert model.describe()["root"]["kind"] == "leaf"


# -- leaf models --------------------------------------------------------------------------------


def _root_model(model) -> str:
    return model.describe()["root"]["model"]


def test_leaf_model_switches_from_knn_to_bagged_regressions_with_weight():
    rng = random.Random(4)
    model = MLHAT(cardinality_th=100, bootstrap_sampling=False, seed=1)
    assert model.describe()["root"] is None
    for i in range(150):
        model.learn_one({"u": rng.random()}, {"a": rng.random() < 0.5, "b": rng.random() < 0.5})
        if i == 98:
            assert _root_model(model) == "label_combination_knn"
    assert _root_model(model) == "bagged_logistic_br"


def test_low_entropy_leaf_keeps_the_knn():
    rng = random.Random(5)
    # No split attempt (grace_period): the root is the leaf that predicts.
    model = MLHAT(grace_period=1000, cardinality_th=100, entropy_th=0.3, bootstrap_sampling=False, seed=1)
    for i in range(300):
        # Label a is on in 1 instance out of 100, none in the others: entropy ~0.16 bits < 0.3.
        model.learn_one({"u": rng.random()}, {"a": i % 100 == 0, "b": False})
    assert model.describe()["root"]["label_entropy"] < 0.3
    assert _root_model(model) == "label_combination_knn"


def test_pure_leaf_predicts_its_only_label_set():
    model = MLHAT(seed=1)
    for i in range(20):
        model.learn_one({"u": float(i)}, {"a": True, "b": False})
    assert _root_model(model) == "labelset"
    assert model.predict_proba_one({"u": 3.5}) == {"a": 1.0, "b": 0.0}


def test_knn_and_regressions_learn_the_concept():
    train = concept_stream(1500, seed=6)
    model = MLHAT(grace_period=10_000, seed=1)  # a single leaf: the leaf models do all the work
    for x, y in train:
        model.learn_one(x, y)
    test = concept_stream(300, seed=7)
    accuracy = sum(model.predict_one(x) == y for x, y in test) / len(test)
    assert _root_model(model) == "bagged_logistic_br"
    assert accuracy > 0.8


# -- local drift --------------------------------------------------------------------------------

DRIFT_PARAMS = {"grace_period": 50, "drift_window_threshold": 100, "seed": 1}


def test_abrupt_change_grows_an_alternate_subtree_and_swaps_it_in():
    model = MLHAT(**DRIFT_PARAMS)
    before = concept_stream(1500, seed=8, feature="u")
    after = concept_stream(3000, seed=9, feature="v")
    for x, y in before:
        model.learn_one(x, y)
    assert model.describe()["root"]["feature"] == "u"
    assert not [e for e in model.pop_events() if e.kind in ("drift", "subtree_swap")]
    for x, y in after:
        model.learn_one(x, y)
    events = model.pop_events()
    kinds = [e.kind for e in events]
    for kind in ("warning", "drift", "alternate_created", "subtree_swap"):
        assert kind in kinds, f"no {kind} event in {kinds}"
    assert kinds.index("alternate_created") < kinds.index("subtree_swap")
    swap = next(e for e in events if e.kind == "subtree_swap")
    assert swap.learner == "mlhat" and swap.level == "local"
    assert swap.node.startswith("root")
    assert len(before) < swap.instance <= len(before) + len(after)
    assert set(swap.labels) <= {"a", "b", "c"} and swap.labels
    assert swap.detail["alternate_error"] < swap.detail["error"]
    json.dumps([e.to_dict() for e in events])
    # The new concept is learned: the tree now splits on v and predicts well.
    described = json.dumps(model.describe())
    assert '"feature": "v"' in described
    test = concept_stream(300, seed=10, feature="v")
    assert sum(model.predict_one(x) == y for x, y in test) / len(test) > 0.9


def test_stationary_stream_has_no_drift_and_no_swap():
    model = MLHAT(**DRIFT_PARAMS)
    rng = random.Random(11)
    for x, y in concept_stream(4000, seed=12):
        # 5 % label noise keeps the error away from 0.
        y = {label: on != (rng.random() < 0.05) for label, on in y.items()}
        model.learn_one(x, y)
    kinds = {e.kind for e in model.pop_events()}
    assert not kinds & {"drift", "subtree_swap"}, kinds


def test_combined_prediction_lets_a_mature_alternate_vote():
    # A switch significance this small keeps the alternate in the background long enough to mature.
    model = MLHAT(**{**DRIFT_PARAMS, "switch_significance": 1e-300})
    for x, y in concept_stream(1500, seed=8, feature="u"):
        model.learn_one(x, y)
    votes_seen = False
    for x, y in concept_stream(3000, seed=9, feature="v"):
        model.learn_one(x, y)
        alternate = getattr(model._root, "alternate", None)
        if alternate is not None and alternate.weight > model.drift_window_threshold:
            alternate_leaf = alternate
            while isinstance(alternate_leaf, Branch):
                alternate_leaf = alternate_leaf.children[alternate_leaf.branch(x)]
            if alternate_leaf.weight <= model.drift_window_threshold:
                continue
            combined = model.predict_proba_one(x)
            model.combined_prediction = False
            main_only = model.predict_proba_one(x)
            model.combined_prediction = True
            votes_seen = votes_seen or combined != main_only
    assert votes_seen


# -- persistence, determinism, inputs ---------------------------------------------------------------


def _drifting(n=1200):
    return concept_stream(n // 2, seed=13, feature="u") + concept_stream(n // 2, seed=14, feature="v")


def test_pickle_mid_stream_continues_identically():
    stream = _drifting()
    model = MLHAT(**DRIFT_PARAMS)
    copy = assert_resumes_identically(model, stream, 700)
    assert model.describe() == copy.describe()
    assert [e.to_dict() for e in model.pop_events()] == [e.to_dict() for e in copy.pop_events()]


def test_same_seed_same_model():
    stream = _drifting()
    first, second = MLHAT(**DRIFT_PARAMS), MLHAT(**DRIFT_PARAMS)
    for x, y in stream:
        assert first.predict_proba_one(x) == second.predict_proba_one(x)
        first.learn_one(x, y)
        second.learn_one(x, y)
    assert first.render_text() == second.render_text()


def test_sparse_inputs_absent_features_are_zero():
    rng = random.Random(15)
    model = MLHAT(grace_period=50, seed=1)
    for _ in range(1500):
        word = rng.randrange(100)
        x = {f"w{word}": 1.0, f"w{rng.randrange(100, 2000)}": 1.0}
        model.learn_one(x, {"low": word < 50, "high": word >= 50})
    x = {"w10": 1.0, "w150": 1.0}
    assert model.predict_proba_one(x) == model.predict_proba_one({**x, "w60": 0.0, "never_seen": 0.0})
    assert model.predict_one({"w10": 1.0}) == {"low": True, "high": False}
    assert model.predict_one({"w70": 1.0}) == {"low": False, "high": True}


def test_label_first_seen_mid_stream_joins_the_statistics():
    rng = random.Random(16)
    model = MLHAT(seed=1)
    for i in range(900):
        u = rng.random()
        y = {"a": u < 0.5}
        if i >= 300:
            y["late"] = u >= 0.5
        if i == 299:
            assert set(model.predict_proba_one({"u": u})) == {"a"}
        model.learn_one({"u": u}, y)
    assert set(model.predict_proba_one({"u": 0.9})) == {"a", "late"}
    assert model.predict_one({"u": 0.9}) == {"a": False, "late": True}
    assert "late" in model.describe()["labels"]


def test_set_targets_are_accepted():
    model = MLHAT(bootstrap_sampling=False, seed=1)
    model.learn_one({"u": 1.0}, {"a": True, "b": False})
    model.learn_one({"u": 2.0}, {"b"})
    assert model.describe()["root"]["label_frequencies"] == {"a": 0.5, "b": 0.5}


def test_bad_feature_values_are_rejected_with_the_feature_name():
    model = MLHAT(seed=1)
    with pytest.raises(TypeError, match="colour"):
        model.learn_one({"u": 1.0, "colour": "red"}, {"a": True})
    with pytest.raises(ValueError, match="'u' is NaN"):
        model.learn_one({"u": float("nan")}, {"a": True})


def test_describe_is_json_and_render_text_shows_the_splits():
    model = MLHAT(grace_period=50, seed=1)
    assert model.render_text() == "(empty tree)"
    for x, y in concept_stream(800, seed=2):
        model.learn_one(x, y)
    desc = json.loads(json.dumps(model.describe()))
    assert desc["n_leaves"] >= 2 and desc["n_nodes"] == desc["n_leaves"] * 2 - 1
    assert {"kind", "feature", "threshold", "weight", "children", "alternate", "background"} <= set(desc["root"])
    text = model.render_text()
    assert text.splitlines()[0].startswith("u <= ")
    assert "model=" in text
    assert model.model_bytes > 0


def test_size_limit_deactivates_leaves_and_stops_growth():
    model = MLHAT(grace_period=50, max_size=0.0001, memory_estimate_period=10, seed=1)
    for x, y in concept_stream(800, seed=2):
        model.learn_one(x, y)
    desc = model.describe()
    assert desc["root"]["kind"] == "leaf" and desc["root"]["active"] is False



def test_predicting_before_learning_does_not_change_what_is_learned():
    # Learning reuses the work of the prediction of the same x; the result must be the same.
    stream = _drifting(1000)
    rng = random.Random(17)
    stream = [({**x, f"new{i}": 1.0} if rng.random() < 0.1 else x, y) for i, (x, y) in enumerate(stream)]
    prequential, learn_only = MLHAT(**DRIFT_PARAMS), MLHAT(**DRIFT_PARAMS)
    for x, y in stream:
        prequential.predict_proba_one(x)
        prequential.learn_one(x, y)
        learn_only.learn_one(x, y)
    assert prequential.describe() == learn_only.describe()
    assert [e.to_dict() for e in prequential.pop_events()] == [e.to_dict() for e in learn_only.pop_events()]


def test_alternate_that_does_worse_is_pruned():
    model = MLHAT(**DRIFT_PARAMS)
    stream = concept_stream(2000, seed=18)
    for x, y in stream[:1000]:
        model.learn_one(x, y)
    root = model._root
    assert isinstance(root, Branch)
    # An alternate started on a false alarm: the subtree keeps predicting the unchanged concept better.
    root.alternate = model._new_leaf(root.depth, background=True)
    root.error_sum, root.error_n, root.alternate_error_sum, root.alternate_error_n = 0.0, 0, 0.0, 0
    model._n_alternates += 1
    model.pop_events()
    for x, y in stream[1000:]:
        model.learn_one(x, y)
    pruned = [e for e in model.pop_events() if e.kind == "alternate_pruned"]
    assert len(pruned) == 1 and pruned[0].node == "root"
    assert pruned[0].detail["alternate_error"] > pruned[0].detail["error"]
    assert root.alternate is None and model.describe()["n_pruned_alternates"] == 1
