"""Sharded iHOMER answers as the unsharded one, record for record: restructures, drift, checkpoints."""

from __future__ import annotations

import functools
import pickle

import pytest
from river import drift, linear_model

from learners.base import LabelMask
from learners.binary_relevance import BinaryRelevance
from learners.ihomer import IHOMER
from learners.sharding import Learn, LocalExecutor, Predict, ShardedModel
from learners.sharding.executor import LocalFuture
from learners.sharding.ihomer_parts import GroupShard
from stream.datasets import open_dataset
from stream.synthetic import DriftingMultiLabelStream

# retire_after, retire_roots: own learners and roots that serve nothing retire within these short prefixes too.
SETTINGS = {"seed": 1, "n_min": 50, "guard": 50, "retire_after": 60, "retire_roots": True}


@functools.cache
def prefix(name: str, n: int) -> list:
    return list(open_dataset(name).take(n))


def prequential_ops(stream) -> list:
    return [op for x, y in stream for op in (Predict(x), Learn(x, y))]


def unsharded(model, ops) -> tuple[list, list]:
    out = []
    for op in ops:
        out.append(model.predict_proba_one(op.x) if isinstance(op, Predict) else op.teach(model))
    return out, model.pop_events()


def sharded(model: ShardedModel, ops: list, batch: int) -> tuple[list, list]:
    out = [result for start in range(0, len(ops), batch) for result in model.run(ops[start : start + batch])]
    return out, model.pop_events()


@functools.cache
def reference(name: str, n: int) -> tuple[list, list, list]:
    """The unsharded model's answers, events and final partition."""
    model = IHOMER(**SETTINGS)
    results, events = unsharded(model, prequential_ops(prefix(name, n)))
    return results, events, model.partition()


@pytest.mark.parametrize("n_shards", [1, 2, 3])
@pytest.mark.parametrize(("name", "n"), [("yeast", 200), ("emotions", 200), ("enron", 160)])
def test_sharded_ihomer_predicts_and_reports_what_the_unsharded_one_does(name, n, n_shards):
    expected, expected_events, partition = reference(name, n)
    model = ShardedModel(IHOMER(**SETTINGS), n_shards, LocalExecutor())
    results, events = sharded(model, prequential_ops(prefix(name, n)), 64)
    assert results == expected
    assert events == expected_events
    assert any(event.kind == "restructure" for event in events)
    assert any(event.kind == "retire" for event in events)
    described = model.describe()
    assert [tuple(group["labels"]) for group in described["partition"]] == [tuple(map(str, g)) for g in partition]
    assert {group["shard"] for group in described["partition"]} <= set(range(n_shards))


def br_lr() -> BinaryRelevance:
    return BinaryRelevance(linear_model.LogisticRegression(), absent_as_zero=False)


def _drifting_ihomer() -> IHOMER:
    return IHOMER(base_learner=br_lr(), root_base_learner=(br_lr(), "majority"), seed=1)


@functools.cache
def drifting_ops() -> list:
    stream = DriftingMultiLabelStream(1700, 8, 6, drift_points=[1500], seed=2, n_groups=2, drift_kinds="features")
    return prequential_ops(stream)


@functools.cache
def drifting_reference() -> tuple[list, list]:
    return unsharded(_drifting_ihomer(), drifting_ops())


@pytest.mark.parametrize("n_shards", [2, 3])
def test_a_drift_and_the_restructure_it_causes_happen_as_unsharded(n_shards):
    expected, expected_events = drifting_reference()
    assert [event.kind for event in expected_events if event.kind == "drift"] == ["drift"]
    assert sharded(ShardedModel(_drifting_ihomer(), n_shards), drifting_ops(), 100) == (expected, expected_events)


def test_late_and_partial_labels_follow_the_unsharded_model():
    stream = prefix("yeast", 240)
    ops = []
    for i, (x, y) in enumerate(stream):
        ops.append(Predict(x))
        if i % 6 == 5:
            continue  # learned late, below
        mask = LabelMask(unknown=frozenset(list(y)[:3])) if i % 4 == 3 else None
        ops.append(Learn(x, y, mask))
    ops += [Learn(x, y) for i, (x, y) in enumerate(stream) if i % 6 == 5]
    settings = {**SETTINGS, "base_learner": br_lr(), "root_base_learner": (br_lr(), "mlht")}
    expected = unsharded(IHOMER(**settings), ops)
    assert any(event.kind == "restructure" for event in expected[1])
    assert sharded(ShardedModel(IHOMER(**settings), 2), ops, 50) == expected


def test_a_checkpoint_of_head_and_hosts_resumes_exactly():
    ops = prequential_ops(prefix("yeast", 200))
    expected, _, _ = reference("yeast", 200)
    model = ShardedModel(IHOMER(**SETTINGS), 3)
    sharded(model, ops[:260], 64)  # past the first restructure
    snapshot = pickle.loads(pickle.dumps(model.state()))
    sharded(model, ops[260:300], 64)  # learning after the snapshot does not change it
    restored = ShardedModel(IHOMER(**SETTINGS), 3)
    restored.load_state(snapshot)
    assert sharded(restored, ops[260:], 64)[0] == expected[260:]


def test_groups_are_balanced_over_the_shards_and_roots_have_hosts_of_their_own():
    model = ShardedModel(IHOMER(**SETTINGS), 2)
    sharded(model, prequential_ops(prefix("enron", 160)), 64)
    described = model.describe()
    load = [0, 0]
    for group in described["partition"]:
        load[group["shard"]] += group["size"]
    assert sum(load) == 53 and max(load) - min(load) <= max(group["size"] for group in described["partition"])
    roots = len(IHOMER(**SETTINGS)._root_bases())  # a host each, after the two group hosts
    assert [root["host"] for root in described["root_learners"]] == list(range(2, 2 + roots))
    assert len(model.handles) == 2 + roots
    assert model.model_bytes == sum(model.host_bytes()) > 0


def test_without_root_learners_sharding_is_refused():
    with pytest.raises(ValueError, match="root_learner=True"):
        ShardedModel(IHOMER(root_learner=False), 2)


def test_river_adwin_tests_for_drift_only_on_its_clock():
    """The head relies on it to cut batches only where the error monitor can find drift."""
    detector = drift.ADWIN()
    since_reset, found = 0, 0
    for i in range(6000):
        if detector.drift_detected:
            since_reset = 0
        since_reset += 1
        detector.update(float(i % 7 == 0) if i < 3000 else float(i % 2 == 0))
        if detector.drift_detected:
            found += 1
            assert since_reset % detector.clock == 0
    assert found


def test_a_group_host_without_the_roots_answers_to_its_batch_says_so():
    host = GroupShard(IHOMER(**SETTINGS))
    with pytest.raises(RuntimeError, match="no root answers"):
        host.apply([("predict", 0)], 0)


class CopyingExecutor(LocalExecutor):
    """Hosts in this process, but every argument and result crosses as a copy (as between Ray
    processes): nothing may rely on an object shared between the head and a host."""

    def call(self, handle, method: str, *args):
        args = tuple(arg.value if isinstance(arg, LocalFuture) else arg for arg in args)
        future = super().call(handle, method, *pickle.loads(pickle.dumps(args)))
        return LocalFuture(pickle.loads(pickle.dumps(future.value)))


def test_hosts_that_get_copies_answer_the_same():
    expected, expected_events, _ = reference("yeast", 200)
    model = ShardedModel(IHOMER(**SETTINGS), 2, CopyingExecutor())
    assert sharded(model, prequential_ops(prefix("yeast", 200)), 64) == (expected, expected_events)


class IdleCallRecorder(LocalExecutor):
    """Hosts in this process; records every call of a group host that holds no group and is given none."""

    def __init__(self):
        self.idle_calls: list[str] = []
        self.shared = 0

    def share(self, value):
        self.shared += 1
        return super().share(value)

    def call(self, handle, method: str, *args):
        if isinstance(handle._part, GroupShard) and not handle.describe()["groups"]:
            creates = method == "apply" and any(op[0] == "learn" and any(c[0] == "create" for c in op[6]) for op in args[0])
            given = method == "control" and args[0] == "settle" and args[1]
            if not (creates or given or method in ("state", "model_bytes") or args[:1] == ("describe_groups",)):
                self.idle_calls.append(method)
        return super().call(handle, method, *args)


def test_more_shards_than_groups_leave_the_idle_hosts_uncalled():
    expected, expected_events, _ = reference("yeast", 200)
    executor = IdleCallRecorder()
    model = ShardedModel(IHOMER(**SETTINGS), 6, executor)
    assert sharded(model, prequential_ops(prefix("yeast", 200)), 64) == (expected, expected_events)
    assert executor.idle_calls == []
    assert executor.shared == -(-400 // 64)  # the features crossed once per batch
    assert len({group["shard"] for group in model.describe()["partition"]}) < 6
