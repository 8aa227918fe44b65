"""Pruned sets: frequent label sets as classes, infrequent ones mapped to frequent subsets."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river import base

from helpers import assert_resumes_identically
from learners.pruned_sets import PrunedSets
from learners.sparse_gaussian_nb import SparseGaussianNB


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
    assert set(model._classifier.classes) == set(model.labelset_counts)


def test_max_classes_keeps_the_most_frequent_label_sets_as_classes():
    model = PrunedSets(RecordingClassifier(), min_count=2, max_classes=2)
    _learn(model, ["a", "a", "b", "b", "b", "c", "c"])
    # {c} became frequent with both classes taken, seen no more often than the weakest ({a}, 2):
    # it is not a class, and its instance trained nothing (it has no frequent subset).
    assert list(model._trained) == [frozenset("a"), frozenset("b")]
    assert model._classifier.trained[-1] == frozenset("b")
    _learn(model, ["c"])
    # Seen 3 times now, more than {a}: it replaces it, and {a} leaves the classes.
    assert list(model._trained) == [frozenset("b"), frozenset("c")]
    model._classifier.trained.clear()
    _learn(model, ["a", "ac"])
    # {a} is tracked but no longer a class: {a, c} is re-introduced as its class subset {c} only.
    assert model._classifier.trained == [frozenset("c")]


def test_max_classes_bounds_the_naive_bayes_rows():
    rng = random.Random(5)
    model = PrunedSets(max_classes=8)
    for _ in range(600):
        on = frozenset(f"y{i}" for i in range(6) if rng.random() < 0.4)
        model.learn_one({f"f{i}": rng.random() for i in range(20)}, on)
    assert len(model._trained) == 8
    assert len(model._classifier.classes) == 8
    assert model._classifier._sums.shape[0] == 8
    assert set(model._classifier.classes) == set(model._trained)
    counts = model.labelset_counts
    weakest_class = min(counts[s] for s in model._trained)
    assert all(counts[s] <= weakest_class for s in counts if s not in model._trained)


def test_without_max_classes_every_frequent_label_set_is_a_class():
    model = PrunedSets(RecordingClassifier(), min_count=2)
    _learn(model, ["a", "a", "b", "b", "c", "c"])
    assert set(model._trained) == {frozenset("a"), frozenset("b"), frozenset("c")}


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


@pytest.mark.parametrize("max_classes", [None, 2])
def test_pickle_mid_stream_continues_identically(max_classes):
    stream = _stream(400, seed=4)
    assert_resumes_identically(PrunedSets(max_classes=max_classes), stream, 200)


def test_clone_gives_a_fresh_model_with_the_same_parameters():
    model = PrunedSets(min_count=3, max_subsets=1)
    model.learn_one({"x": 1.0}, {"a"})
    fresh = model.clone()
    assert (fresh.min_count, fresh.max_subsets) == (3, 1)
    assert fresh.predict_proba_one({"x": 1.0}) == {}


@pytest.mark.parametrize("param", ["min_count", "max_subsets", "max_tracked", "max_classes"])
def test_invalid_parameters(param):
    with pytest.raises(ValueError, match=param):
        PrunedSets(**{param: 0})


# -- the default base learner ----------------------------------------------------------------------


def test_sparse_gaussian_nb_matches_the_hand_computed_posterior():
    model = SparseGaussianNB(min_variance=0.01)
    for v, c in [(1.0, "p"), (3.0, "p"), (0.0, "q"), (0.0, "q"), (0.0, "q")]:
        model.learn_one({"f": v} if v else {}, c)

    def log_pdf(x, mean, var):
        return -0.5 * math.log(2 * math.pi * var) - (x - mean) ** 2 / (2 * var)

    # p: mean 2, variance 1 + 0.01; q: mean 0, variance 0 + 0.01 (absent means 0). Priors 2/5, 3/5.
    x = 1.5
    joint_p = math.log(2 / 5) + log_pdf(x, 2.0, 1.01)
    joint_q = math.log(3 / 5) + log_pdf(x, 0.0, 0.01)
    expected = math.exp(joint_p) / (math.exp(joint_p) + math.exp(joint_q))
    assert model.predict_proba_one({"f": x})["p"] == pytest.approx(expected)
    # An absent feature is a 0, which q explains best.
    assert model.predict_one({}) == "q"


def test_sparse_gaussian_nb_features_seen_later_count_for_every_class():
    model = SparseGaussianNB()
    for _ in range(5):
        model.learn_one({"a": 1.0}, "A")
    for _ in range(5):
        model.learn_one({"b": 1.0}, "B")
    # Class A never saw "b" non-zero, although "b" only appeared after A stopped learning.
    assert model.predict_one({"b": 1.0}) == "B"
    assert model.predict_one({"a": 1.0}) == "A"


def test_sparse_gaussian_nb_forgets_a_class_and_reuses_its_row():
    model = SparseGaussianNB()
    model.learn_one({"a": 1.0}, "A")
    model.learn_one({"b": 1.0}, "B")
    model.forget("A")
    assert model.classes == ["B"]
    assert set(model.predict_proba_one({"a": 1.0})) == {"B"}
    model.learn_one({"c": 1.0}, "C")
    assert model.classes == ["C", "B"]
    assert model.predict_one({"c": 1.0}) == "C"
    with pytest.raises(ValueError, match="min_variance"):
        SparseGaussianNB(min_variance=0.0)


def test_a_pickle_from_before_the_class_cap_is_refused():
    from learners.base import StaleLearnerState

    model = PrunedSets()
    model.learn_one({"x": 1.0}, {"a"})
    older = PrunedSets.__new__(PrunedSets)
    with pytest.raises(StaleLearnerState, match="PrunedSets"):
        older.__setstate__({**model.__getstate__(), "_state_layout": 1})


def test_sparse_gaussian_nb_pickled_without_its_derived_arrays_predicts_the_same():
    # Pickles from before a and b were kept hold the sums only: loading derives a and b from them.
    rng = random.Random(3)
    model = SparseGaussianNB()
    for _ in range(60):
        x = {f"f{i}": rng.random() for i in range(5) if rng.random() < 0.6}
        model.learn_one(x, rng.choice("ABC"))
    model.forget("B")
    state = {key: value for key, value in model.__dict__.items() if key not in ("_a", "_b")}
    older = SparseGaussianNB.__new__(SparseGaussianNB)
    older.__setstate__(state)
    for _ in range(20):
        x = {f"f{i}": rng.random() for i in range(6) if rng.random() < 0.6}
        assert older.predict_proba_one(x) == model.predict_proba_one(x)


def test_sparse_gaussian_nb_learns_the_features_a_prediction_of_the_same_x_did_not_know():
    # A prediction's encoding is reused for learning only when it named known features only.
    model, twin = SparseGaussianNB(), SparseGaussianNB()
    for learner in (model, twin):
        learner.learn_one({"a": 1.0}, "A")
        learner.learn_one({"a": 0.0}, "B")
    x = {"a": 1.0, "new": 2.0}
    model.predict_proba_one(x)
    model.learn_one(x, "B")
    twin.learn_one(dict(x), "B")
    assert "new" in model._index.features
    for probe in ({"a": 1.0}, {"new": 2.0}, {"a": 1.0, "new": 2.0}):
        assert model.predict_proba_one(probe) == twin.predict_proba_one(probe)


def test_a_pickled_sparse_gaussian_nb_holds_no_record_and_predicts_the_same():
    model = SparseGaussianNB()
    model.learn_one({"a": 1.0}, "A")
    model.learn_one({"a": 0.0}, "B")
    x = {"a": 0.7, "secret": 1.0}
    model.learn_one(x, "A")
    model.predict_proba_one({"a": 0.5})  # the memo now holds this record
    restored = pickle.loads(pickle.dumps(model))
    assert restored._memo is None and model._memo is not None
    for probe in ({"a": 0.5}, {"a": 1.0, "secret": 1.0}):
        assert restored.predict_proba_one(probe) == model.predict_proba_one(probe)
