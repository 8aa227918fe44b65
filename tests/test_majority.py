"""The majority label set baseline."""

from __future__ import annotations

from learners.majority import MajorityLabelset

X = {"f": 1.0}


def test_before_learning_it_predicts_nothing():
    model = MajorityLabelset()
    assert model.predict_one({}) == {}
    assert model.predict_proba_one(X) == {}


def test_it_predicts_the_most_frequent_label_set_whatever_the_features():
    model = MajorityLabelset()
    for y in [{"a"}, {"a", "b"}, {"c"}, {"a", "b"}, {"a"}, {"a", "b"}]:
        model.learn_one(X, y)
    expected = {"a": True, "b": True, "c": False}
    assert model.predict_one(X) == expected
    assert model.predict_one({"other": -3.0}) == expected
    assert model.predict_proba_one(X) == {"a": 1.0, "b": 1.0, "c": 0.0}


def test_a_tie_keeps_the_label_set_that_reached_the_count_first():
    model = MajorityLabelset()
    for y in [{"a"}, {"b"}, {"b"}, {"a"}]:
        model.learn_one(X, y)
    assert model.predict_one(X) == {"a": False, "b": True}  # {b} reached 2 first
    model.learn_one(X, {"a"})
    assert model.predict_one(X) == {"a": True, "b": False}


def test_the_empty_label_set_can_win():
    model = MajorityLabelset()
    for y in [set(), {"a": False, "b": False}, {"a"}]:
        model.learn_one(X, y)
    assert model.predict_one(X) == {"a": False, "b": False}


def test_dict_and_set_targets_count_as_the_same_label_set():
    model = MajorityLabelset()
    model.learn_one(X, {"a": True, "b": False})
    model.learn_one(X, {"c"})
    model.learn_one(X, {"a"})
    assert model.predict_one(X) == {"a": True, "b": False, "c": False}


def test_labels_seen_only_off_are_known_and_predicted_off():
    model = MajorityLabelset()
    model.learn_one(X, {"rare": False, "common": True})
    assert model.predict_one(X) == {"rare": False, "common": True}
