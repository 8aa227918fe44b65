"""Pruned sets: frequent label sets as classes, infrequent ones mapped to frequent subsets."""

from __future__ import annotations

import pickle
import random

import pytest
from river import base

from learners.pruned_sets import PrunedSets


class RecordingClassifier(base.Classifier):
    """A multiclass classifier that remembers what it was trained on and predicts fixed probabilities."""

    def __init__(self, proba: dict | None = None):
        self.proba = proba
        self.trained: list = []

    def learn_one(self, x, y):
        self.trained.append(y)

    def predict_proba_one(self, x):
        return dict(self.proba or {})


def _learn(model, labelsets):
    for labels in labelsets:
        model.learn_one({"x": 1.0}, set(labels))


def test_frequent_label_sets_train_as_themselves():
    model = PrunedSets(RecordingClassifier(), min_count=2)
    _learn(model, ["ab", "ab", "ab"])
    # The first occurrence is not yet frequent and has no frequent subset: it is not trained on.
    assert model._classifier.trained == [frozenset("ab")] * 2


def test_infrequent_label_set_is_mapped_to_its_largest_frequent_subsets():
    model = PrunedSets(RecordingClassifier(), min_count=2, max_subsets=2)
    _learn(model, ["a", "a", "a", "ab", "ab", "bc", "bc", "d", "d"])
    model._classifier.trained.clear()
    _learn(model, ["abc"])
    # Frequent subsets of {a, b, c}: {a, b} and {b, c} (size 2) before {a} (size 1); b = 2 keeps two.
    assert sorted(map(sorted, model._classifier.trained)) == [["a", "b"], ["b", "c"]]
    model._classifier.trained.clear()
    _learn(model, ["ad"])
    # {a} (count 3) before {d} (count 2): ties on size go to the more frequent set.
    assert model._classifier.trained == [frozenset("a"), frozenset("d")]


def test_max_subsets_limits_the_reintroduced_subsets():
    model = PrunedSets(RecordingClassifier(), min_count=2, max_subsets=1)
    _learn(model, ["a", "a", "ab", "ab"])
    model._classifier.trained.clear()
    _learn(model, ["abc"])
    assert model._classifier.trained == [frozenset("ab")]


def test_label_set_without_frequent_subset_is_not_trained_on():
    model = PrunedSets(RecordingClassifier(), min_count=3)
    _learn(model, ["a", "a", "b"])
    assert model._classifier.trained == []
    assert model.labelset_counts == {frozenset("a"): 2, frozenset("b"): 1}


def test_tracked_label_sets_stay_bounded_and_forgotten_classes_leave_the_base_learner():
    model = PrunedSets(min_count=1, max_tracked=3)
    for i, labels in enumerate(["a", "b", "c", "a", "d", "e"]):
        model.learn_one({"x": float(i)}, set(labels))
        assert len(model.labelset_counts) <= 3
    # a (count 2) survives; the least counted, oldest sets were forgotten, in the base learner too.
    assert frozenset("a") in model.labelset_counts
    assert set(model._classifier.class_counts) == set(model.labelset_counts)


def test_probability_of_a_label_is_the_mass_of_the_label_sets_holding_it():
    proba = {frozenset("ab"): 0.5, frozenset("a"): 0.3, frozenset(): 0.2}
    model = PrunedSets(RecordingClassifier(proba), min_count=1)
    _learn(model, ["ab", "a", "", "c"])
    out = model.predict_proba_one({"x": 1.0})
    assert out == pytest.approx({"a": 0.8, "b": 0.5, "c": 0.0})


def test_predicts_nothing_on_before_learning_and_every_known_label_after():
    model = PrunedSets()
    assert model.predict_proba_one({"x": 1.0}) == {}
    model.learn_one({"x": 1.0}, {"a": True, "b": False})
    assert set(model.predict_proba_one({"x": 1.0})) == {"a", "b"}


def _stream(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        u = rng.random()
        out.append(({"u": u, "noise": rng.random()}, {"a": u < 0.4, "b": u < 0.7, "c": u >= 0.7}))
    return out


def test_learns_a_label_set_concept():
    model = PrunedSets()
    for x, y in _stream(600, seed=1):
        model.learn_one(x, y)
    test = _stream(200, seed=2)
    assert sum(model.predict_one(x) == y for x, y in test) / len(test) > 0.85


def test_label_first_seen_mid_stream():
    model = PrunedSets()
    for i, (x, y) in enumerate(_stream(600, seed=3)):
        if i < 100:
            y = {label: on for label, on in y.items() if label != "c"}
        model.learn_one(x, y)
    x = {"u": 0.9, "noise": 0.5}
    assert set(model.predict_proba_one(x)) == {"a", "b", "c"}
    assert model.predict_one(x)["c"]


def test_pickle_mid_stream_continues_identically():
    stream = _stream(400, seed=4)
    model = PrunedSets()
    for x, y in stream[:200]:
        model.learn_one(x, y)
    copy = pickle.loads(pickle.dumps(model))
    for x, y in stream[200:]:
        assert model.predict_proba_one(x) == copy.predict_proba_one(x)
        model.learn_one(x, y)
        copy.learn_one(x, y)


def test_clone_gives_a_fresh_model_with_the_same_parameters():
    model = PrunedSets(min_count=3, max_subsets=1)
    model.learn_one({"x": 1.0}, {"a"})
    fresh = model.clone()
    assert (fresh.min_count, fresh.max_subsets) == (3, 1)
    assert fresh.predict_proba_one({"x": 1.0}) == {}


@pytest.mark.parametrize("param", ["min_count", "max_subsets", "max_tracked"])
def test_invalid_parameters(param):
    with pytest.raises(ValueError, match=param):
        PrunedSets(**{param: 0})
