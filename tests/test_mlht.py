"""MLHT: growth on the multi-label information gain, BR and pruned-sets leaves, persistence, limits."""

from __future__ import annotations

import json
import random

import pytest

from helpers import assert_resumes_identically
from learners.mlht import MLHT
from learners.registry import make


def stream(n: int, seed: int):
    """Label sets decided by thresholds on u; v is noise; w only appears in one instance out of three."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        u = rng.random()
        x = {"u": u, "v": rng.random()}
        if rng.random() < 0.33:
            x["w"] = rng.random()
        out.append((x, {"a": u < 0.3, "b": 0.3 <= u < 0.6, "c": u >= 0.6}))
    return out


@pytest.mark.parametrize("leaf_model", ["br", "ps"])
def test_grows_on_the_informative_feature_and_predicts_well(leaf_model):
    model = MLHT(grace_period=50, leaf_model=leaf_model, seed=1)
    for x, y in stream(1000, seed=2):
        model.learn_one(x, y)
    desc = model.describe()
    assert desc["root"]["feature"] == "u"
    features = json.dumps(desc)
    assert '"feature": "v"' not in features
    test = stream(300, seed=3)
    assert sum(model.predict_one(x) == y for x, y in test) / len(test) > 0.9
    leaf_models = {"br": "br_logistic", "ps": "pruned_sets"}
    assert any(leaf_models[leaf_model] in line or "labelset" in line for line in model.render_text().splitlines())


def test_empty_leaf_predicts_the_label_frequencies_estimated_at_the_split():
    model = MLHT(grace_period=50, seed=1)
    for x, y in stream(1000, seed=4):
        model.learn_one(x, y)
        if model.describe()["root"]["kind"] == "branch":
            break
    desc = model.describe()["root"]
    assert {child["model"] for child in desc["children"]} == {"prior"}
    proba = model.predict_proba_one({"u": 0.05, "v": 0.5})
    assert proba["a"] > 0.5 and proba["c"] < 0.5


def test_pickle_mid_stream_continues_identically():
    data = stream(900, seed=5)
    model = MLHT(grace_period=50, leaf_model="ps", seed=1)
    copy = assert_resumes_identically(model, data, 400)
    assert model.describe() == copy.describe()


def test_same_seed_same_predictions():
    first, second = MLHT(grace_period=50, seed=7), MLHT(grace_period=50, seed=7)
    for x, y in stream(500, seed=6):
        assert first.predict_proba_one(x) == second.predict_proba_one(x)
        first.learn_one(x, y)
        second.learn_one(x, y)


def test_size_limit_deactivates_leaves():
    model = MLHT(grace_period=50, max_size=0.0001, memory_estimate_period=10, seed=1)
    for x, y in stream(600, seed=8):
        model.learn_one(x, y)
    assert model.describe()["root"] == {**model.describe()["root"], "kind": "leaf", "active": False}
    assert "(inactive)" in model.render_text()


def test_catalogue_entries_build_the_right_leaf_models():
    assert make("mlht", seed=1).leaf_model == "br"
    assert make("mlht-ps", seed=1).leaf_model == "ps"
    with pytest.raises(ValueError, match="leaf_model"):
        MLHT(leaf_model="svm")
