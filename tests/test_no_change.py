"""The no-change baseline: the label set of the previous instance, whatever the features."""

from learners.base import LabelMask
from learners.evaluate import Prequential, shuffled
from learners.no_change import NoChange
from learners.registry import make


def test_before_learning_it_predicts_nothing():
    assert NoChange().predict_one({"x": 1.0}) == {}


def test_it_predicts_the_previous_label_set_whatever_the_features():
    model = NoChange()
    model.learn_one({"x": 1.0}, {"a", "b"})
    assert model.predict_one({"x": -5.0}) == {"a": True, "b": True}
    model.learn_one({"x": 2.0}, {"c": True, "a": False})
    assert model.predict_one({}) == {"a": False, "b": False, "c": True}
    assert model.predict_proba_one({}) == {"a": 0.0, "b": 0.0, "c": 1.0}


def test_the_empty_label_set_is_repeated_too():
    model = NoChange()
    model.learn_one({}, {"a"})
    model.learn_one({}, set())
    assert model.predict_one({}) == {"a": False}


def test_predicting_does_not_change_it():
    model = NoChange()
    model.learn_one({}, {"a"})
    model.predict_one({})
    assert model.predict_one({}) == {"a": True}


def test_partial_feedback_replaces_only_the_judged_labels():
    model = NoChange()
    model.learn_one({}, {"a", "b"})
    model.learn_one_masked({}, {"c"}, LabelMask(unknown=frozenset({"b"})))
    assert model.predict_one({}) == {"a": False, "b": True, "c": True}
    model.learn_one_masked({}, {"a": True}, LabelMask(known=frozenset({"a"})))
    assert model.predict_one({}) == {"a": True, "b": True, "c": True}


def test_a_stream_sorted_by_label_set_flatters_it_and_a_shuffle_does_not():
    # Runs of 50 equal label sets: no-change misses once per run in file order.
    stream = [({"i": float(i)}, {f"l{i // 50}": True}) for i in range(200)]
    in_order = Prequential({"no-change": make("no-change")}).run(stream)["no-change"]
    mixed = Prequential({"no-change": make("no-change")}).run(shuffled(stream, seed=1))["no-change"]
    assert in_order.cumulative["subset_accuracy"] == 196 / 200
    assert mixed.cumulative["subset_accuracy"] < 0.4
