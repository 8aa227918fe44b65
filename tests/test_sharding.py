"""Sharded learners under a fixed label split: the head, the hosts, the contract, checkpoints."""

from __future__ import annotations

import functools
import pickle

import pytest
from river import ensemble, linear_model, tree

from learners import registry
from learners.base import DriftEvent, LabelMask, MultiLabelClassifier, as_label_dict
from learners.binary_relevance import BinaryRelevance
from learners.sharding import HostFactory, Learn, LocalExecutor, Predict, ShardedModel, ShardHost
from learners.sharding.label_split import LabelShard
from stream.datasets import open_dataset


@functools.cache
def prefix(name: str, n: int) -> list:
    return list(open_dataset(name).take(n))


def prequential_ops(stream) -> list:
    return [op for x, y in stream for op in (Predict(x), Learn(x, y))]


def unsharded(model, ops) -> list:
    out = []
    for op in ops:
        out.append(model.predict_proba_one(op.x) if isinstance(op, Predict) else op.teach(model))
    return out


def in_batches(model: ShardedModel, ops: list, size: int) -> list:
    return [result for start in range(0, len(ops), size) for result in model.run(ops[start : start + size])]


BINARY_RELEVANCE = {
    "br-ht": lambda: BinaryRelevance(tree.HoeffdingTreeClassifier(grace_period=100), seed=3),
    "br-bagged-logistic": lambda: BinaryRelevance(
        ensemble.BaggingClassifier(linear_model.LogisticRegression(), n_models=3), seed=3, absent_as_zero=False
    ),
}


@pytest.mark.parametrize("n_shards", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(BINARY_RELEVANCE))
def test_binary_relevance_sharded_equals_unsharded_record_for_record(name, n_shards):
    ops = prequential_ops(prefix("emotions", 150))
    expected = unsharded(BINARY_RELEVANCE[name](), ops)
    sharded = ShardedModel(BINARY_RELEVANCE[name](), n_shards, LocalExecutor())
    assert in_batches(sharded, ops, 37) == expected
    labels = [set(shard["labels"]) for shard in sharded.describe()["shards"]]
    assert set().union(*labels) == {str(label) for label in prefix("emotions", 150)[0][1]}
    assert sum(map(len, labels)) == 6 and max(map(len, labels)) - min(map(len, labels)) <= 1


def test_labels_are_dealt_in_order_of_first_appearance_to_the_emptiest_shard():
    model = ShardedModel(BinaryRelevance(linear_model.LogisticRegression()), 3)
    model.run([Learn({"u": 1.0}, {"a": True, "b": False}), Learn({"u": 0.0}, {"c", "d"}), Learn({}, {"e": True})])
    assert [shard["labels"] for shard in model.describe()["shards"]] == [["a", "d"], ["b", "e"], ["c"]]


def test_late_and_partial_labels_and_set_targets_match_the_unsharded_learner():
    stream = prefix("emotions", 120)
    ops = []
    for i, (x, y) in enumerate(stream):
        ops.append(Predict(x))
        if i % 5 == 1:
            continue  # its label comes late, below
        if i % 7 == 0:
            ops.append(Learn(x, {label for label, on in y.items() if on}))
        elif i % 3 == 0:
            ops.append(Learn(x, y, LabelMask(unknown=frozenset(list(y)[:2]))))
        else:
            ops.append(Learn(x, y))
    ops += [Learn(x, y) for i, (x, y) in enumerate(stream) if i % 5 == 1]
    expected = unsharded(BinaryRelevance(linear_model.LogisticRegression(), absent_as_zero=False), ops)
    sharded = ShardedModel(BinaryRelevance(linear_model.LogisticRegression(), absent_as_zero=False), 2)
    assert in_batches(sharded, ops, 50) == expected


def test_a_checkpoint_of_head_and_hosts_resumes_exactly():
    ops = prequential_ops(prefix("emotions", 160))
    reference = ShardedModel(BINARY_RELEVANCE["br-bagged-logistic"](), 3)
    expected = in_batches(reference, ops, 40)
    model = ShardedModel(BINARY_RELEVANCE["br-bagged-logistic"](), 3)
    in_batches(model, ops[:200], 40)
    snapshot = pickle.loads(pickle.dumps(model.state()))
    in_batches(model, ops[200:240], 40)  # learning after the snapshot does not change it
    restored = ShardedModel(BINARY_RELEVANCE["br-bagged-logistic"](), 3)
    restored.load_state(snapshot)
    assert in_batches(restored, ops[200:], 40) == expected[200:]


def test_state_of_another_shape_is_refused():
    model = ShardedModel(registry.make("logistic"), 2)
    state = model.state()
    with pytest.raises(ValueError, match="2 shards, this model has 3"):
        ShardedModel(registry.make("logistic"), 3).load_head_state(state["head"])
    with pytest.raises(ValueError, match="version"):
        model.load_state({**state, "version": 99})
    with pytest.raises(ValueError, match="version"):
        ShardHost(LabelShard(registry.make("logistic"))).load_state({"version": 0})


def test_a_global_learner_is_sharded_by_labels_and_predicts_every_label():
    stream = prefix("yeast", 150)
    model = ShardedModel(registry.make("mlht", seed=1), 2)
    in_batches(model, prequential_ops(stream), 60)
    assert set(model.predict_proba_one(stream[0][0])) == set(stream[0][1])
    assert model.model_bytes == sum(model.host_bytes()) > 0


class Noisy(MultiLabelClassifier):
    """Emits one event per label per learn."""

    def __init__(self):
        self._reset()

    def _reset(self):
        self.n = 0

    def learn_one(self, x, y):
        self.n += 1
        for label in as_label_dict(y):
            self._emit(DriftEvent("noisy", "local", "drift", self.n, (label,)))

    def predict_proba_one(self, x):
        return {}


def test_events_come_back_in_op_order_then_shard_order():
    model = ShardedModel(Noisy(), 2)
    model.run([Learn({}, {"a": True, "b": True}), Learn({}, {"a": False, "b": True, "c": True})])
    assert [(e.instance, e.labels) for e in model.pop_events()] == [
        (1, ("a",)), (1, ("b",)), (2, ("a",)), (2, ("c",)), (2, ("b",))
    ]


def test_bad_ops_and_shard_counts_are_refused():
    with pytest.raises(TypeError, match="op 1 must be a Predict or a Learn"):
        ShardedModel(registry.make("logistic"), 2).run([Predict({}), ({}, {})])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_shards"):
            ShardedModel(registry.make("logistic"), bad)
    with pytest.raises(TypeError, match="MultiLabelClassifier"):
        ShardedModel(tree.HoeffdingTreeClassifier(), 2)


def test_host_factory_builds_independent_hosts_that_survive_pickling():
    factory = pickle.loads(pickle.dumps(HostFactory(LabelShard(registry.make("logistic", seed=1)))))
    first, second = factory(), factory()
    first.apply([Learn({"u": 1.0}, {"a": True})])
    assert second.apply([Predict({"u": 1.0})]) == ([{}], [])
