"""Classifier chain: link order, what each link sees when learning and predicting, scaling, seeding."""

from __future__ import annotations

import random

import pytest
from river import base, forest, linear_model

from learners.binary_relevance import member_seed
from learners.classifier_chain import ClassifierChain


class Recorder(base.Classifier):
    """A link that records what it sees and answers a fixed probability of True."""

    def __init__(self, p_true: float = 0.9):
        self.p_true = p_true
        self.learned = []
        self.asked = []

    def learn_one(self, x, y):
        self.learned.append((dict(x), y))

    def predict_proba_one(self, x):
        self.asked.append(dict(x))
        return {True: self.p_true, False: 1.0 - self.p_true}


def test_links_follow_the_order_of_appearance_and_new_labels_go_last():
    chain = ClassifierChain(Recorder())
    chain.learn_one({"f": 1.0}, {"b": True, "a": False})
    chain.learn_one({"f": 1.0}, {"c"})
    chain.learn_one({"f": 1.0}, {"a": True, "d": False})
    assert chain.order_of_links == ["b", "a", "c", "d"]
    assert list(chain.predict_proba_one({"f": 1.0})) == ["b", "a", "c", "d"]


def test_a_given_order_creates_links_up_front_and_unlisted_labels_are_appended():
    chain = ClassifierChain(Recorder(), order=["z", "y"])
    assert chain.order_of_links == ["z", "y"]
    assert set(chain.predict_one({"f": 1.0})) == {"z", "y"}
    chain.learn_one({"f": 1.0}, {"a", "y"})
    assert chain.order_of_links == ["z", "y", "a"]
    assert [y for _, y in chain._links["z"].learned] == [False]


def test_order_must_not_repeat_a_label():
    with pytest.raises(ValueError, match="repeat"):
        ClassifierChain(order=["a", "b", "a"])


def test_learning_feeds_each_link_the_true_values_of_the_labels_before_it():
    chain = ClassifierChain(Recorder(), order=["a", "b", "c"])
    chain.learn_one({"f": 2.0}, {"a": True, "b": False, "c": True})
    seen = {label: chain._links[label].learned[0][0] for label in "abc"}
    assert seen["a"] == {"f": 2.0}
    assert seen["b"] == {"f": 2.0, ("chain", "a"): 1.0}
    assert seen["c"] == {"f": 2.0, ("chain", "a"): 1.0}  # b is off: absent, as in sparse data


def test_predicting_feeds_each_link_the_predicted_values_not_the_true_ones():
    chain = ClassifierChain(Recorder(p_true=0.9), order=["a", "b"])
    chain.learn_one({"f": 1.0}, {"a": False, "b": False})
    chain._links["a"].p_true = 0.8  # predicts a on, though a was off when learning
    proba = chain.predict_proba_one({"f": 1.0})
    assert proba == {"a": 0.8, "b": 0.9}
    assert chain._links["b"].asked[-1] == {"f": 1.0, ("chain", "a"): 1.0}

    chain._links["a"].p_true = 0.2
    chain.predict_proba_one({"f": 1.0})
    assert chain._links["b"].asked[-1] == {"f": 1.0}


def test_learning_and_predicting_leave_the_callers_features_alone():
    chain = ClassifierChain(Recorder(), order=["a", "b"])
    x = {"f": 1.0}
    chain.learn_one(x, {"a"})
    chain.predict_one(x)
    assert x == {"f": 1.0}


def test_links_learn_to_use_the_labels_before_them():
    # b copies a, which itself depends on f0: b's link leans on a's value more than on f0.
    rng = random.Random(0)
    chain = ClassifierChain(seed=0)
    agree = 0
    for i in range(2000):
        x = {"f0": rng.gauss(0, 1), "f1": rng.gauss(0, 1)}
        a = x["f0"] > 0
        predicted = chain.predict_one(x)
        if i >= 1000:
            agree += predicted["a"] == predicted["b"]
        chain.learn_one(x, {"a": a, "b": a})
    assert agree >= 990
    link_b = chain._links["b"]
    neutral = chain._scaler.transform({"f0": 0.0, "f1": 0.0})
    assert link_b.predict_one({**neutral, ("chain", "a"): 1.0}) is True
    assert link_b.predict_one(neutral) is False


def test_default_scaling_standardises_dense_features_and_only_rescales_sparse_ones():
    chain = ClassifierChain()
    rng = random.Random(1)
    for i in range(500):
        x = {"dense": rng.gauss(100.0, 10.0)}
        if i % 4 == 0:
            x["word"] = 3.0
        chain.learn_one(x, {"label": x["dense"] > 100.0})
    scaled = chain._scaler.transform({"dense": 110.0, "word": 3.0, "never_seen": 5.0})
    assert scaled["dense"] == pytest.approx(1.0, abs=0.15)
    assert scaled["word"] == 1.0
    assert "never_seen" not in scaled
    assert chain._scaler.transform({"dense": 110.0}).keys() == {"dense"}  # absent stays absent


def test_a_given_classifier_sees_the_features_unscaled():
    chain = ClassifierChain(Recorder(), order=["a"])
    chain.learn_one({"f": 250.0}, {"a"})
    assert chain._links["a"].learned[0][0] == {"f": 250.0}


def test_links_get_seeds_derived_from_the_chain_seed():
    chain = ClassifierChain(forest.ARFClassifier(n_models=2, seed=3), order=["a", "b"], seed=8)
    assert chain._links["a"].seed == member_seed(8, "a")
    assert chain._links["b"].seed == member_seed(8, "b")


def test_default_links_are_logistic_regressions():
    chain = ClassifierChain(order=["a"])
    assert isinstance(chain._links["a"], linear_model.LogisticRegression)


def test_default_scaling_is_stable_for_features_with_a_large_offset():
    chain = ClassifierChain()
    rng = random.Random(2)
    for _ in range(1000):
        chain.learn_one({"timestamp": 1e9 + rng.gauss(0.0, 1.0)}, set())
    assert chain._scaler.transform({"timestamp": 1e9 + 1.0})["timestamp"] == pytest.approx(1.0, abs=0.1)
