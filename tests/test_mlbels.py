import math
import random

import pytest

from helpers import assert_predicting_keeps_state, assert_resumes_identically, prequential_probas
from learners import registry
from learners.mlbels import MLBELS


def _stream(n, seed=5, flip_at=None):
    rng = random.Random(seed)
    for i in range(n):
        x = {"a": rng.random(), "b": rng.random(), "c": rng.random()}
        y = {"low_a": x["a"] < 0.5, "high_b": x["b"] > 0.5, "a_plus_b": x["a"] + x["b"] > 1.0}
        if flip_at is not None and i >= flip_at:
            y = {label: not on for label, on in y.items()}
        yield x, y



def _label_accuracy(model, stream):
    hits = total = 0
    for x, y in stream:
        predicted = model.predict_one(x)
        hits += sum(predicted.get(label, False) == on for label, on in y.items())
        total += len(y)
        model.learn_one(x, y)
    return hits / total


def test_learns_a_simple_concept():
    model = MLBELS(chunk_size=25, seed=1)
    stream = list(_stream(2000))
    _label_accuracy(model, stream[:1000])
    assert _label_accuracy(model, stream[1000:]) > 0.8


def test_learns_only_at_chunk_boundaries():
    model = MLBELS(chunk_size=20, seed=1)
    stream = list(_stream(60))
    probe = {"a": 0.2, "b": 0.8, "c": 0.5}
    for x, y in stream[:19]:
        model.learn_one(x, y)
    assert model.predict_proba_one(probe) == {"low_a": 0.0, "high_b": 0.0, "a_plus_b": 0.0}
    model.learn_one(*stream[19])
    after_first_chunk = model.predict_proba_one(probe)
    assert any(p > 0.0 for p in after_first_chunk.values())
    for x, y in stream[20:39]:
        model.learn_one(x, y)
    assert model.predict_proba_one(probe) == after_first_chunk
    model.learn_one(*stream[39])
    assert model.predict_proba_one(probe) != after_first_chunk


def test_recovers_from_an_abrupt_drift_and_reports_member_replacements():
    model = MLBELS(chunk_size=25, seed=2)
    stream = list(_stream(3000, seed=8, flip_at=1500))
    _label_accuracy(model, stream[:1500])
    model.pop_events()
    _label_accuracy(model, stream[1500:2500])
    events = model.pop_events()
    assert any(e.kind == "replace" and e.level == "local" and e.detail["removed"] >= 1 for e in events)
    assert _label_accuracy(model, stream[2500:]) > 0.85


def test_some_label_is_always_predicted_once_trained():
    model = MLBELS(chunk_size=25, seed=3)
    predictions = prequential_probas(model, _stream(500))
    assert all(max(p.values()) >= 0.5 for p in predictions[25:])
    assert all(0.0 <= v <= 1.0 for p in predictions for v in p.values())


def test_label_first_seen_mid_stream_is_predicted_after_the_next_chunk():
    model = MLBELS(chunk_size=20, seed=4)
    rng = random.Random(1)
    for i in range(200):
        x = {"a": rng.random(), "b": rng.random()}
        y = {"low_a": x["a"] < 0.5}
        if i >= 100:
            y["high_b"] = x["b"] > 0.5
        model.learn_one(x, y)
        if i == 100:
            assert model.predict_proba_one(x)["high_b"] == 0.0
    assert set(model.predict_proba_one({"a": 0.1, "b": 0.9})) == {"low_a", "high_b"}
    on = [model.predict_one({"a": 0.7, "b": b})["high_b"] for b in (0.05, 0.95)]
    assert on == [False, True]


def test_absent_features_mean_zero():
    rng = random.Random(6)
    dense, sparse = MLBELS(chunk_size=20, seed=5), MLBELS(chunk_size=20, seed=5)
    for i in range(300):
        word = i == 0 or rng.random() < 0.5
        x = {"noise": rng.random(), "other": rng.random()}
        y = {"spam": word, "noisy": x["noise"] > 0.5}
        dense.learn_one({**x, "word": 1.0 if word else 0.0}, y)
        sparse.learn_one({**x, **({"word": 1.0} if word else {})}, y)
    for probe in ({"noise": 0.3, "other": 0.5}, {"noise": 0.3, "other": 0.5, "word": 1.0}):
        assert dense.predict_proba_one(probe) == pytest.approx(sparse.predict_proba_one(probe))


def test_same_seed_same_predictions():
    stream = list(_stream(400, seed=9))
    assert prequential_probas(MLBELS(chunk_size=15, seed=7), stream) == prequential_probas(MLBELS(chunk_size=15, seed=7), stream)


def test_pickle_mid_chunk_continues_identically():
    stream = list(_stream(600, seed=10))
    assert_resumes_identically(MLBELS(chunk_size=40, seed=8), stream, 310)


def test_predicting_does_not_change_state():
    model = MLBELS(chunk_size=20, seed=1)
    prequential_probas(model, _stream(130))
    assert_predicting_keeps_state(model, {"a": 0.4, "unseen": 2.0})


def test_cardinality_trigger_switches_the_joint_weighting():
    stream = list(_stream(300, seed=12))
    weighted = prequential_probas(MLBELS(chunk_size=25, seed=1, cardinality_trigger=0.0), stream)
    plain = prequential_probas(MLBELS(chunk_size=25, seed=1, cardinality_trigger=math.inf), stream)
    assert weighted[:25] == plain[:25]
    assert weighted[25:] != plain[25:]


def test_instance_standardisation_learns_from_the_shape_of_wide_inputs():
    rng = random.Random(13)
    model = MLBELS(chunk_size=25, seed=1, standardise="instance")
    stream = []
    for _ in range(1500):
        x = {f"f{i}": rng.random() for i in range(20)}
        top = max(range(3), key=lambda i: x[f"f{i}"])
        stream.append((x, {f"top{i}": i == top for i in range(3)}))
    _label_accuracy(model, stream[:1000])
    assert _label_accuracy(model, stream[1000:]) > 0.7


@pytest.mark.parametrize(
    "params", [{"chunk_size": 0}, {"max_learners": 0}, {"n_feature_nodes": 0}, {"standardise": "column"}]
)
def test_bad_parameters_are_rejected(params):
    with pytest.raises(ValueError):
        MLBELS(**params)


def test_registry_builds_it():
    assert isinstance(registry.make("mlbels", seed=1), MLBELS)
