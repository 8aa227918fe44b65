"""KNNBinaryRelevance: same predictions as a binary relevance of river kNN members, faster."""

from __future__ import annotations

import functools
import pickle
import random

import pytest
from river import neighbors, utils

from learners.binary_relevance import BinaryRelevance
from learners.knn_binary_relevance import KNNBinaryRelevance

LABELS = [f"l{j}" for j in range(6)]


def yeast_like_stream(seed: int, n: int = 300) -> list[tuple[dict, dict]]:
    """Dense-ish instances with some absent features, repeated instances, every label in the first target."""
    rng = random.Random(seed)
    stream = []
    for i in range(n):
        if i > 10 and rng.random() < 0.08:  # an exact repeat: the distance-0 rule must agree
            x = dict(stream[rng.randrange(i)][0])
        else:
            x = {f"f{j}": rng.gauss(0.0, 1.0) for j in range(12) if rng.random() < 0.8}
            if i >= n // 2:  # a feature that only appears halfway
                x["late"] = rng.uniform(-1.0, 1.0)
        y = {label: x.get(f"f{j}", 0.0) + 0.4 * rng.gauss(0.0, 1.0) > 0.3 for j, label in enumerate(LABELS)}
        if i == 0:
            y = dict.fromkeys(LABELS, True) | {"l5": False}
        stream.append((x, y))
    return stream


def _river_br(window_size: int, p: float, weighted: bool) -> BinaryRelevance:
    # warm_up = maxlen keeps SWINN on its exact linear scan for the whole stream (the graph search
    # it switches to after warm-up is approximate) while its window still slides.
    dist_func = None if p == 2 else functools.partial(utils.math.minkowski_distance, p=p)
    engine = neighbors.SWINN(dist_func=dist_func, maxlen=window_size, warm_up=window_size, seed=0)
    return BinaryRelevance(neighbors.KNNClassifier(engine=engine, weighted=weighted), absent_as_zero=False)


@pytest.mark.parametrize(
    "window_size, p, weighted",
    [(500, 2, True), (60, 2, True), (60, 1, False), (60, 3, True)],
)
def test_same_predictions_as_binary_relevance_of_river_knn(window_size, p, weighted):
    ours = KNNBinaryRelevance(window_size=window_size, p=p, weighted=weighted)
    theirs = _river_br(window_size, p, weighted)
    exact_matches = 0
    for i, (x, y) in enumerate(yeast_like_stream(seed=window_size + p)):
        expected = theirs.predict_proba_one(x)
        got = ours.predict_proba_one(x)
        assert ours.predict_one(x) == theirs.predict_one(x), f"instance {i}: {got} vs {expected}"
        assert got == pytest.approx(expected, abs=1e-9), f"instance {i}"
        exact_matches += any(value in (0.0, 1.0) for value in got.values()) and i > 0
        ours.learn_one(x, y)
        theirs.learn_one(x, y)
    assert exact_matches > 0


def test_the_default_preset_agrees_with_river_before_its_graph_search_starts():
    # river's default SWINN scans exactly up to 500 stored instances.
    ours = KNNBinaryRelevance()
    theirs = BinaryRelevance(neighbors.KNNClassifier(), absent_as_zero=False)
    for i, (x, y) in enumerate(yeast_like_stream(seed=1)):
        assert ours.predict_one(x) == theirs.predict_one(x), f"instance {i}"
        ours.learn_one(x, y)
        theirs.learn_one(x, y)


def test_absent_features_count_as_zero():
    model = KNNBinaryRelevance(n_neighbors=1)
    model.learn_one({"a": 3.0}, {"near": True})
    model.learn_one({"a": 0.0, "b": 1.0}, {"near": False})
    # {"b": 0.9} is 0.1 from the second instance and sqrt(9 + 0.81) from the first.
    assert model.predict_one({"b": 0.9}) == {"near": False}
    # "c", which no stored instance has, adds 25 to both squared distances: 0.25 + 25 < 6.25 + 1 + 25.
    assert model.predict_one({"a": 2.5, "c": 5.0}) == {"near": True}


def test_a_feature_seen_only_while_predicting_counts_but_is_not_stored():
    model = KNNBinaryRelevance(n_neighbors=2, weighted=True)
    model.learn_one({"a": 1.0}, {"x": True})
    model.learn_one({"a": -2.0}, {"x": False})
    before = model.predict_proba_one({"a": 0.0, "new": 2.0})
    # distances sqrt(1 + 4) and sqrt(4 + 4): weights 1/sqrt(5) and 1/sqrt(8)
    expected = (1 / 5**0.5) / (1 / 5**0.5 + 1 / 8**0.5)
    assert before["x"] == pytest.approx(expected)
    assert model.predict_proba_one({"a": 0.0, "new": 2.0}) == before
    assert "new" not in model._feature_index


def test_exact_match_returns_the_label_vector_of_the_first_duplicate():
    model = KNNBinaryRelevance(n_neighbors=3)
    model.learn_one({"a": 1.0}, {"x": True, "y": False})
    model.learn_one({"a": 1.0}, {"x": False, "y": True})
    model.learn_one({"a": 1.1}, {"x": False, "y": True})
    assert model.predict_proba_one({"a": 1.0}) == {"x": 1.0, "y": 0.0}


def test_ties_go_to_the_lower_row_of_the_window():
    model = KNNBinaryRelevance(n_neighbors=1, window_size=3)
    model.learn_one({"a": 5.0}, {"x": False})
    model.learn_one({"a": 1.0}, {"x": True})
    model.learn_one({"a": -1.0}, {"x": False})
    assert model.predict_one({"a": 0.0}) == {"x": True}  # rows 1 and 2 tie: the older row 1 wins
    # The window is full, so the next instance overwrites row 0 and wins ties against rows 1 and 2.
    model.learn_one({"a": -1.0}, {"x": False})
    assert model.predict_one({"a": 0.0}) == {"x": False}


def test_the_window_keeps_only_the_last_instances():
    model = KNNBinaryRelevance(n_neighbors=1, window_size=2)
    model.learn_one({"a": 0.0}, {"x": True})
    model.learn_one({"a": 10.0}, {"x": False})
    assert model.predict_one({"a": 0.1}) == {"x": True}
    model.learn_one({"a": 20.0}, {"x": False})
    assert model.predict_one({"a": 0.1}) == {"x": False}


def test_a_label_first_seen_mid_stream_is_off_on_earlier_instances():
    model = KNNBinaryRelevance(n_neighbors=1)
    model.learn_one({"a": 0.0}, {"x": True})
    model.learn_one({"a": 10.0}, {"late"})
    assert model.predict_proba_one({"a": 0.1}) == {"x": 1.0, "late": 0.0}
    assert model.predict_proba_one({"a": 9.0}) == {"x": 0.0, "late": 1.0}


def test_uniform_votes_count_neighbours():
    model = KNNBinaryRelevance(n_neighbors=4, weighted=False)
    for a, on in [(1.0, True), (2.0, True), (3.0, True), (10.0, False), (50.0, True)]:
        model.learn_one({"a": a}, {"x": on})
    assert model.predict_proba_one({"a": 0.0}) == {"x": 0.75}


def test_predicting_before_learning_and_after_empty_targets():
    model = KNNBinaryRelevance()
    assert model.predict_proba_one({"a": 1.0}) == {}
    model.learn_one({"a": 1.0}, set())
    assert model.predict_one({"a": 1.0}) == {}


def test_pickled_mid_stream_continues_identically():
    stream = yeast_like_stream(seed=7, n=240)
    model = KNNBinaryRelevance(window_size=50)
    for x, y in stream[:120]:
        model.learn_one(x, y)
    restored = pickle.loads(pickle.dumps(model))
    for i, (x, y) in enumerate(stream[120:]):
        assert restored.predict_proba_one(x) == model.predict_proba_one(x), f"instance {120 + i}"
        model.learn_one(x, y)
        restored.learn_one(x, y)


def test_model_bytes_grows_with_features_and_labels():
    model = KNNBinaryRelevance(window_size=100)
    empty = model.model_bytes
    model.learn_one({f"f{j}": 1.0 for j in range(50)}, {f"l{j}" for j in range(20)})
    assert isinstance(model.model_bytes, int) and model.model_bytes > empty >= 100 * 8 * 8


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"n_neighbors": 2.5}, "n_neighbors"),
        ({"window_size": 0}, "window_size"),
        ({"p": 0}, "Minkowski"),
        ({"p": float("inf")}, "Minkowski"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        KNNBinaryRelevance(**params)


def test_non_numeric_feature_values_are_refused_by_name():
    model = KNNBinaryRelevance()
    with pytest.raises(TypeError, match="colour"):
        model.learn_one({"a": 1.0, "colour": "red"}, {"x": True})
    model.learn_one({"a": 1.0}, {"x": True})
    with pytest.raises(TypeError, match="colour"):
        model.predict_one({"colour": "red"})
