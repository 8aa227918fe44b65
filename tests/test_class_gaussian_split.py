"""MLHAT's split scoring per (feature, class) against river's GaussianSplitter, which the reference uses."""

import random

import numpy as np
import pytest
from river.tree.splitter import GaussianSplitter

from learners.class_gaussian_split import EMPTY, FIRST_LABEL, TOTAL, ClassGaussianObservers, class_entropy
from learners.mlhat import MLHAT
from learners.multilabel_tree import ColumnIndex


def _stream(n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        u = rng.choice([0.0, 2.0, 2.0, 3.0]) if rng.random() < 0.9 else rng.gauss(1.0, 0.5)
        v = rng.gauss(0.0, 1.0)
        y = {"a": u > 1.5 and rng.random() < 0.8, "b": v > 0.5, "c": rng.random() < 0.1}
        yield {"u": u, "v": v}, y


def _river_splitters(rows):
    """river's splitters fed as the reference feeds them: each label on, 'empty' when none is, 'total'."""
    splitters = {}
    for x, y in rows:
        for feature, value in x.items():
            splitter = splitters.setdefault(feature, GaussianSplitter())
            on = [label for label, value_on in y.items() if value_on]
            for label in on or ["empty"]:
                splitter.update(value, label, 1.0)
            splitter.update(value, "total", 1.0)
    return splitters


def test_children_weights_match_rivers_gaussian_splitter():
    rows = list(_stream(400, seed=3))
    index, observers = ColumnIndex(), ClassGaussianObservers()
    for x, y in rows:
        observers.update(index.encode(x, y), 1.0)
    river_splitters = _river_splitters(rows)
    columns = {"total": TOTAL, "empty": EMPTY, **{label: FIRST_LABEL + c for label, c in index.labels.items()}}
    prior = np.zeros(FIRST_LABEL + len(index.labels))
    for x, y in rows:
        prior[TOTAL] += 1
        on = [index.labels[label] for label, value in y.items() if value]
        prior[[FIRST_LABEL + c for c in on] or [EMPTY]] += 1
    splits = {index.feature_names[s.column]: s for s in observers.best_splits(prior)}
    assert set(splits) == {"u", "v"}
    for feature, split in splits.items():
        left, right = river_splitters[feature]._class_dists_from_binary_split(split.threshold)
        for side, ours in ((left, split.left), (right, split.right)):
            for name, column in columns.items():
                assert ours[column] == pytest.approx(side.get(name, 0.0), rel=1e-9, abs=1e-9), (feature, name)


def test_a_class_outside_the_threshold_range_goes_whole_to_one_side():
    # Label a is only ever on at u = 2; the 5 at u = 0 are label-less. Every threshold lies
    # strictly inside [0, 2]: all of a goes right, all of empty left, and total is split by its own
    # Gaussian, which need not agree with them. Each side holds one class besides total: pure.
    index, observers = ColumnIndex(), ClassGaussianObservers()
    rows = [({"u": 0.0}, {"a": False})] * 5 + [({"u": 2.0}, {"a": True})] * 95
    for x, y in rows:
        observers.update(index.encode(x, y), 1.0)
    [split] = observers.best_splits(np.array([100.0, 5.0, 95.0]))
    assert split.left[FIRST_LABEL] == 0.0 and split.right[FIRST_LABEL] == 95.0
    assert split.left[EMPTY] == 5.0 and split.left[TOTAL] < 1.0  # total's Gaussian disagrees
    assert split.merit == pytest.approx(class_entropy(np.array([100.0, 5.0, 95.0])))


def test_zeros_a_row_carries_count_and_absent_features_do_not():
    index, observers = ColumnIndex(), ClassGaussianObservers()
    observers.update(index.encode({"u": 0.0, "v": 1.0}, {"a": True}), 1.0)
    observers.update(index.encode({"v": 2.0}, {"a": True}), 1.0)
    u, v = index.features["u"], index.features["v"]
    assert observers._moments[u, TOTAL, 0] == 1.0  # the explicit zero
    assert observers._moments[v, TOTAL, 0] == 2.0
    assert observers._low[u, TOTAL] == 0.0 and observers._high[u, TOTAL] == 0.0


def test_entropy_as_the_reference():
    assert class_entropy(np.array([4.0, 0.0, 2.0, 2.0])) == pytest.approx(2.0)
    assert class_entropy(np.array([4.0, 0.0, 2.0])) == 0.0  # one class besides total: pure
    assert class_entropy(np.array([4.0, 0.0, 4.0, 1.0])) == pytest.approx(0.8113, abs=1e-4)


def test_mlhat_splits_where_a_rare_label_leaves_a_side_pure():
    # The reference splits here as well (checked against it when this rule was adopted): label a
    # is on in 1 instance of 100, so a threshold outside a's few values leaves a side of total and
    # empty only.
    rng = random.Random(5)
    model = MLHAT(cardinality_th=100, bootstrap_sampling=False, seed=1)
    for i in range(300):
        model.learn_one({"u": rng.random()}, {"a": i % 100 == 0, "b": False})
    assert model.describe()["root"]["kind"] == "branch"


def test_new_leaves_start_from_the_split_estimate_and_wait_past_it():
    rng = random.Random(5)
    model = MLHAT(cardinality_th=100, bootstrap_sampling=False, seed=1)
    for i in range(300):
        model.learn_one({"u": rng.random()}, {"a": i % 100 == 0, "b": False})
    for child in model._root.children:
        assert child.prior_classes[TOTAL] > 0
        # As the reference: a child tries to split once it has learned its estimate plus the grace period.
        assert child.last_split_attempt == child.prior_classes[TOTAL]
    # The instance that made the root split was learned again by the branch.
    assert model._root.weight == 300 + 1


def test_a_leaf_dominated_by_one_class_stops_trying_to_split():
    rng = random.Random(2)
    model = MLHAT(grace_period=50, bootstrap_sampling=False, seed=1)
    for i in range(300):
        # Label a is on in every instance (100 % > 99 %), b in one: the leaf is not pure.
        model.learn_one({"u": rng.random()}, {"a": True, "b": i == 10})
    root = model.describe()["root"]
    assert root["kind"] == "leaf" and root["active"] is False
