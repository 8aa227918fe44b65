"""The vectorised online logistic learners: thresholds, empty answers, chain links, pickling, iHOMER."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from learners.ihomer import IHOMER
from learners.logistic import LogisticChain, OnlineLogistic, micro_f1_thresholds
from learners.metrics import MetricSuite

from helpers import assert_predicting_keeps_state, assert_resumes_identically


def _embedding_stream(n: int, seed: int = 3, dims: int = 16, rare: float = 0.08):
    """Dense unit-norm features; 'common' and 'rare' are linear in them, 'rare' seldom on."""
    rng = np.random.default_rng(seed)
    w_common, w_rare = rng.normal(size=dims), rng.normal(size=dims)
    cut = np.quantile(rng.normal(size=(5000, dims)) @ w_rare, 1 - rare)
    stream = []
    for _ in range(n):
        v = rng.normal(size=dims)
        x = {f"emb{i}": float(value) for i, value in enumerate(v / np.linalg.norm(v))}
        raw = v
        stream.append((x, {"common": bool(raw @ w_common > 0), "rare": bool(raw @ w_rare > cut)}))
    return stream


def _micro_f1(scores, truth, valid, thresholds):
    on = valid & (scores >= thresholds[:, None])
    return 2 * (on & truth).sum() / max(on.sum() + (truth & valid).sum(), 1)


def test_each_threshold_is_the_best_for_the_micro_f1_given_the_others():
    rng = np.random.default_rng(0)
    scores = rng.random((5, 60))
    truth = rng.random((5, 60)) < scores**3  # informative, some labels rare
    valid = rng.random((5, 60)) < 0.9
    current = rng.uniform(0.2, 0.8, size=5)
    cuts = micro_f1_thresholds(scores, truth, valid, current, sweeps=1)
    for label in range(5):
        candidates = [*scores[label][valid[label]], 1.0]  # every cut, and switched off
        def with_cut(c):
            t = current.copy()
            t[label] = c
            return _micro_f1(scores, truth, valid, t)
        best = max(with_cut(c) for c in candidates)
        assert with_cut(cuts[label]) == pytest.approx(best)


def test_more_sweeps_never_lower_the_window_micro_f1_much_and_beat_one_half():
    rng = np.random.default_rng(4)
    scores = rng.random((8, 200))
    truth = rng.random((8, 200)) < scores**4
    valid = np.ones_like(truth)
    start = np.full(8, 0.5)
    tuned = micro_f1_thresholds(scores, truth, valid, start, sweeps=3)
    assert _micro_f1(scores, truth, valid, tuned) > _micro_f1(scores, truth, valid, start)


def test_learns_a_linear_stream_and_tunes_a_rare_label_below_one_half():
    stream = _embedding_stream(3000)
    model = OnlineLogistic()
    scores = MetricSuite()
    for x, y in stream:
        scores.update(y, model.predict_one(x))
        model.learn_one(x, y)
    assert scores.get()["micro_f1"] > 0.8
    assert model.thresholds["rare"] < 0.5
    per_label = scores.per_label_f1()
    assert per_label["rare"] > 0.5


def test_probabilities_are_rescaled_so_the_tuned_threshold_sits_at_one_half():
    stream = _embedding_stream(1500)
    model = OnlineLogistic()
    for x, y in stream:
        model.learn_one(x, y)
    x = stream[0][0]
    proba = model.predict_proba_one(x)
    assert set(proba) == {"common", "rare"}
    assert all(0.0 <= p <= 1.0 for p in proba.values())
    # Thresholding the served score at 0.5 is predict_one (no empty answer to fill here: two labels on or off).
    raw = model._probabilities(model._logits(*model._encode(x, learn=False)))
    for (label, threshold), p in zip(model.thresholds.items(), raw):
        assert (proba[label] >= 0.5) == (p >= threshold)


def test_an_empty_answer_is_filled_only_while_empty_targets_are_rare():
    always_labelled = [({"a": float(i % 3)}, {"x": i % 2 == 0, "y": i % 2 == 1}) for i in range(200)]
    model = OnlineLogistic()
    for x, y in always_labelled:
        model.learn_one(x, y)
    assert any(model.predict_one({"a": 1.0}).values())

    # A third of the targets are empty (a = 1): an empty answer there is right, not filled.
    third_empty = [({"a": float(i % 3)}, {"x": i % 3 == 0, "y": i % 3 == 2}) for i in range(600)]
    model, filling = OnlineLogistic(), OnlineLogistic(max_empty_rate=1.0)
    for x, y in third_empty:
        model.learn_one(x, y)
        filling.learn_one(x, y)
    assert model.predict_one({"a": 1.0}) == {"x": False, "y": False}
    assert sum(filling.predict_one({"a": 1.0}).values()) == 1
    assert model.predict_one({"a": 0.0}) == {"x": True, "y": False}
    assert not OnlineLogistic(max_empty_rate=0.0)._fill_empty()


def test_chain_reads_the_labels_before_it():
    # 'b' is exactly 'a' or 'c'; 'a' and 'c' come from the features. The chain can use a and c.
    rng = np.random.default_rng(1)
    stream = []
    for _ in range(3000):
        f = rng.normal(size=2)
        a, c = bool(f[0] > 0.5), bool(f[1] > 0.5)
        stream.append(({"f0": float(f[0]), "f1": float(f[1])}, {"a": a, "c": c, "b": a or c}))
    chain = LogisticChain()
    for x, y in stream:
        chain.learn_one(x, y)
    n = len(chain._labels)
    b, a, c = chain._labels["b"], chain._labels["a"], chain._labels["c"]
    assert n == 3 and chain._chain[b, a] > 1.0 and chain._chain[b, c] > 1.0
    assert chain._chain[a, b] == 0.0  # strictly lower triangular: a comes before b
    assert chain.predict_one({"f0": 2.0, "f1": -2.0}) == {"a": True, "c": False, "b": True}


@pytest.mark.parametrize("cls", [OnlineLogistic, LogisticChain])
def test_pickled_mid_stream_goes_on_identically_and_predicting_keeps_state(cls):
    stream = _embedding_stream(400)
    stream = stream[:200] + [({**x, "late": 1.0}, {**y, "new": True}) for x, y in stream[200:]]
    model = cls(threshold_every=7)
    copy = assert_resumes_identically(model, stream, split=250)
    assert_predicting_keeps_state(copy, {"emb0": 0.3, "unseen": 5.0})


def test_sparse_features_only_touch_their_columns():
    model = OnlineLogistic()
    model.learn_one({"w1": 1.0}, {"t": True})
    model.learn_one({"w2": 3.0}, {"t": False})
    assert model._weights[0, 0] > 0 and model._weights[0, 1] < 0
    assert model._scale[:2].tolist() == [1.0, 3.0]


def test_ihomer_takes_it_as_a_root_candidate():
    stream = _embedding_stream(800, dims=8)
    model = IHOMER(base_learner="logistic", root_base_learner=("logistic", "majority"), n_min=50, seed=1)
    scores = MetricSuite()
    for x, y in stream:
        scores.update(y, model.predict_one(x))
        model.learn_one(x, y)
    assert [type(root).__name__ for root in model._roots] == ["OnlineLogistic", "MajorityLabelset"]
    assert scores.get()["micro_f1"] > 0.6


def test_invalid_parameters_are_refused():
    for params in ({"learning_rate": 0}, {"l2": -1}, {"threshold_window": 0}, {"max_empty_rate": 2}):
        with pytest.raises(ValueError):
            OnlineLogistic(**params)


def test_unit_test_params_build():
    for params in itertools.chain(OnlineLogistic._unit_test_params(), LogisticChain._unit_test_params()):
        OnlineLogistic(**params)
