import random

import pytest

from helpers import assert_predicting_keeps_state, assert_resumes_identically, prequential_probas
from learners import registry
from learners.isoup_tree import ISOUPTree


def _stream(n, seed=3):
    rng = random.Random(seed)
    for _ in range(n):
        x = {"a": rng.random(), "b": rng.random(), "c": rng.gauss(0, 1)}
        y = {"low_a": x["a"] < 0.4, "lower_a": x["a"] < 0.3, "high_b": x["b"] > 0.6}
        yield x, y



def test_learns_a_separable_concept_better_than_the_label_frequencies():
    model = ISOUPTree(grace_period=50, seed=1)
    stream = list(_stream(3000))
    prequential_probas(model, stream[:2000])
    errors = sum(model.predict_one(x) != y for x, y in stream[2000:])
    # Always predicting the most frequent value of each label gets every instance with a
    # positive label wrong (about 64 % of them).
    assert errors < 0.3 * 1000
    assert model.n_leaves > 1


def test_label_first_seen_mid_stream_counts_earlier_instances_as_off():
    # learning_rate=0 keeps the linear models at 0, so the leaf mean is what is predicted.
    model = ISOUPTree(grace_period=10_000, learning_rate=0.0)
    for _ in range(100):
        model.learn_one({"x": 1.0}, {"a": True})
    for _ in range(20):
        model.learn_one({"x": 1.0}, {"a": True, "b": True})
    proba = model.predict_proba_one({"x": 1.0})
    assert proba["a"] == pytest.approx(1.0)
    # river's ISOUPTreeRegressor would average "b" over the 20 instances since it appeared (1.0).
    assert proba["b"] == pytest.approx(20 / 120)


def test_labels_given_as_a_set_are_on_and_known_labels_absent_from_it_are_off():
    from_sets, from_dicts = ISOUPTree(grace_period=30, seed=1), ISOUPTree(grace_period=30, seed=1)
    known = set()
    for x, y in _stream(300):
        on = {label for label, value in y.items() if value}
        known |= set(y)
        from_sets.learn_one(x, on)
        from_dicts.learn_one(x, {label: label in on for label in sorted(known, key=list(y).index)})
    probe = {"a": 0.2, "b": 0.9, "c": 0.0}
    assert from_sets.predict_proba_one(probe) == pytest.approx(from_dicts.predict_proba_one(probe))


def test_absent_features_mean_zero():
    rng = random.Random(5)
    dense, sparse = ISOUPTree(grace_period=40, seed=2), ISOUPTree(grace_period=40, seed=2)
    for _ in range(600):
        word = rng.random() < 0.5
        noise = rng.random()
        y = {"spam": word}
        dense.learn_one({"noise": noise, "word": 1.0 if word else 0.0}, y)
        sparse.learn_one({"noise": noise, **({"word": 1.0} if word else {})}, y)
    for probe in ({"noise": 0.3}, {"noise": 0.3, "word": 1.0}):
        assert dense.predict_proba_one(probe) == pytest.approx(sparse.predict_proba_one(probe))
    assert sparse.predict_one({"noise": 0.7}) == {"spam": False}
    assert sparse.predict_one({"noise": 0.7, "word": 1.0}) == {"spam": True}


def test_features_appearing_late_are_used():
    model = ISOUPTree(grace_period=30, seed=0)
    rng = random.Random(9)
    for i in range(800):
        x = {"old": rng.random()}
        if i >= 200:
            x["new"] = rng.random()
        model.learn_one(x, {"on": x.get("new", 0.0) > 0.5})
    events = model.pop_events()
    assert any(e.kind == "split" and e.detail["feature"] == "new" for e in events)
    assert model.predict_one({"old": 0.5, "new": 0.9}) == {"on": True}
    assert model.predict_one({"old": 0.5, "new": 0.1}) == {"on": False}


def test_same_seed_same_predictions_also_through_the_reservoir():
    stream = list(_stream(1500, seed=11))
    params = {"grace_period": 25, "max_leaf_samples": 40, "seed": 4}
    assert prequential_probas(ISOUPTree(**params), stream) == prequential_probas(ISOUPTree(**params), stream)


def test_pickle_mid_stream_continues_identically():
    stream = list(_stream(1200, seed=12))
    assert_resumes_identically(ISOUPTree(grace_period=25, max_leaf_samples=60, seed=8), stream, 600)


def test_predicting_does_not_change_state():
    model = ISOUPTree(grace_period=20, seed=1)
    prequential_probas(model, _stream(300))
    assert_predicting_keeps_state(model, {"a": 0.1, "unseen": 3.0})


def test_before_learning_predicts_nothing_and_probabilities_stay_in_range():
    model = ISOUPTree(grace_period=20)
    assert model.predict_one({"a": 1.0}) == {}
    for proba in prequential_probas(model, _stream(400)):
        assert all(0.0 <= p <= 1.0 for p in proba.values())


@pytest.mark.parametrize(
    "params", [{"grace_period": 0}, {"delta": 1.5}, {"max_leaf_samples": 4, "min_samples_split": 5}]
)
def test_bad_parameters_are_rejected(params):
    with pytest.raises(ValueError):
        ISOUPTree(**params)


def test_clone_has_same_parameters_and_fresh_state():
    model = ISOUPTree(grace_period=20, seed=3)
    prequential_probas(model, _stream(100))
    fresh = model.clone()
    assert fresh.grace_period == 20 and fresh.seed == 3
    assert fresh.predict_proba_one({"a": 0.5}) == {}


def test_registry_builds_it():
    assert isinstance(registry.make("isoupt", seed=1), ISOUPTree)
