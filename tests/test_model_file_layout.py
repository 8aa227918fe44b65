"""Learners pickled with an older state layout are refused when loaded, naming the learner.

MLHAT's layout changed in c30107e (split scoring per (feature, class), leaves that start from the
split's class weights): a model pickled before goes on until its next split and fails there. Since
then every learner pickles its class's layout version and a stale one fails at load, in a model
file, in a checkpoint, and in a job, which ``--fresh`` starts from fresh models instead. The old
states here are built from trained models (what a pickle of the old code held that matters), not
stored binaries.
"""

from __future__ import annotations

import io
import itertools
import pickle
import types

import pytest

import jobs.checkpoint
from jobs.checkpoint import CheckpointStore, StaleCheckpoint
from learners.base import MultiLabelClassifier, StaleLearnerState
from learners.mlhat import MLHAT
from learners.mlht import MLHT, tree_leaves
from learners.model_file import ModelFile, ModelFileError, read, save
from learners.multilabel_tree import Branch
from stream.datasets import open_dataset

EMOTIONS = list(itertools.islice(open_dataset("emotions"), 500))


def trained(model: MultiLabelClassifier, instances=EMOTIONS[:400]) -> MultiLabelClassifier:
    for x, y in instances:
        model.predict_proba_one(x)
        model.learn_one(x, y)
    return model


class Unrecorded:
    """Pickles as ``model`` did before learners recorded their layout: its class and a bare state."""

    def __init__(self, model: MultiLabelClassifier, state: dict):
        self.model, self.state = model, state

    def __reduce__(self):
        return object.__new__, (type(self.model),), self.state


def before_split_scoring(model: MLHAT) -> Unrecorded:
    """``model`` as the code before c30107e pickled it: no layout recorded, leaves without class weights."""
    copy = pickle.loads(pickle.dumps(model))
    for leaf in tree_leaves(copy._root):
        del leaf.prior_classes
    return Unrecorded(copy, dict(vars(copy)))


@pytest.fixture(scope="module")
def mlhat() -> MLHAT:
    model = trained(MLHAT(grace_period=50, seed=1))
    assert isinstance(model._root, Branch)  # split at least once: leaves below a branch are checked too
    return model


def test_a_learner_pickles_its_layout_and_goes_on_identically(mlhat):
    state = mlhat.__getstate__()
    assert state["_state_layout"] == MLHAT.STATE_LAYOUT == 2
    assert "_state_layout" not in vars(mlhat)  # recorded in the pickle only
    copy = pickle.loads(pickle.dumps(mlhat))
    assert "_state_layout" not in vars(copy)
    rest = EMOTIONS[400:]
    assert [copy.predict_proba_one(x) for x, _ in rest] == [mlhat.predict_proba_one(x) for x, _ in rest]


def test_mlhat_pickled_before_the_split_scoring_change_is_refused_naming_it(mlhat):
    with pytest.raises(StaleLearnerState) as refused:
        pickle.loads(pickle.dumps(before_split_scoring(mlhat)))
    error = refused.value
    assert (error.learner, error.found, error.expected) == ("MLHAT", 1, 2)
    assert "c30107e" in str(error) and "--fresh" in str(error)


def test_mlhat_pickled_after_the_change_but_before_layouts_were_recorded_loads(mlhat):
    copy = pickle.loads(pickle.dumps(Unrecorded(mlhat, dict(vars(mlhat)))))
    rest = EMOTIONS[400:]
    assert [copy.predict_proba_one(x) for x, _ in rest] == [mlhat.predict_proba_one(x) for x, _ in rest]


def test_a_recorded_older_layout_is_refused_for_any_learner():
    model = trained(MLHT(grace_period=50, seed=1), EMOTIONS[:50])
    older = Unrecorded(model, {**vars(model), "_state_layout": MLHT.STATE_LAYOUT - 1})
    with pytest.raises(StaleLearnerState, match=r"^MLHT was pickled with state layout 0, this version of tagstream reads layout 1"):
        pickle.loads(pickle.dumps(older))
    newer = Unrecorded(model, {**vars(model), "_state_layout": MLHT.STATE_LAYOUT + 1})
    with pytest.raises(StaleLearnerState, match="layout 2, this version of tagstream reads layout 1"):
        pickle.loads(pickle.dumps(newer))


def test_mlht_leaves_pickled_before_they_counted_empty_label_sets_go_on_learning():
    model = trained(MLHT(grace_period=50, seed=1))
    copy = pickle.loads(pickle.dumps(model))
    for leaf in tree_leaves(copy._root):
        del leaf.empty_weight  # as the leaves of MLHT before c30107e
    old = pickle.loads(pickle.dumps(Unrecorded(copy, dict(vars(copy)))))
    assert {leaf.empty_weight for leaf in tree_leaves(old._root)} == {0.0}
    x, _ = EMOTIONS[400]
    old.learn_one(x, {})  # an empty label set: what failed on such leaves
    assert old.predict_proba_one(x).keys() == model.predict_proba_one(x).keys()


def test_a_model_file_with_a_stale_learner_is_refused_naming_it(mlhat, tmp_path):
    path = tmp_path / "old.model"
    save(ModelFile("mlhat", before_split_scoring(mlhat), labels=tuple(mlhat._index.label_names), learned=400), path)
    with pytest.raises(ModelFileError, match=r"holds a 'mlhat' learner this version cannot go on from: MLHAT was pickled "
                       r"with state layout 1, .*reads layout 2 .*c30107e.*without --init-model"):
        read(path)


def _stale_checkpoint_pickle(obj, protocol=None) -> bytes:
    """``pickle.dumps`` that writes every MLHAT as the code before c30107e did."""

    class BeforeSplitScoring(pickle.Pickler):
        def reducer_override(self, value):
            if type(value) is MLHAT:
                return before_split_scoring(value).__reduce__()
            return NotImplemented

    buffer = io.BytesIO()
    BeforeSplitScoring(buffer, protocol).dump(obj)
    return buffer.getvalue()


def write_stale_checkpoint(monkeypatch, store: CheckpointStore, state: dict, epoch: int) -> None:
    """Save ``state`` into ``store`` as a checkpoint written before c30107e (its MLHATs in the old layout)."""
    with monkeypatch.context() as patch:
        patch.setattr(jobs.checkpoint, "pickle", types.SimpleNamespace(dumps=_stale_checkpoint_pickle, HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL))
        store.save(state, epoch)


def test_a_checkpoint_holding_a_stale_learner_is_refused_with_its_place_and_the_way_out(mlhat, tmp_path, monkeypatch):
    store = CheckpointStore(str(tmp_path / "learner-0"))
    write_stale_checkpoint(monkeypatch, store, {"models": {"mlhat": mlhat}}, epoch=4)
    assert store.epochs() == [4]  # intact: the bytes are fine, the learner in them is not
    expected = rf"epoch 4 in {tmp_path}/learner-0 holds a learner .*: MLHAT was pickled with state layout 1.*--fresh"
    with pytest.raises(StaleCheckpoint, match=expected):
        store.load(4)
    with pytest.raises(StaleCheckpoint, match=expected):
        store.load_latest()


@pytest.mark.integration
def test_a_job_refuses_a_checkpoint_with_a_stale_learner_and_starts_fresh_when_told(ray_local, kafka_config, tmp_path, monkeypatch):
    from jobs.config import JobConfig
    from jobs.pipeline.driver import run_pipeline
    from jobs.produce import produce
    from stream.kafka import ensure_topics
    from stream.records import Record

    def records(start: int, count: int) -> list[Record]:
        return [Record(f"r{i}", features={"a": float(i % 7), "b": float(i % 3)}, labels=(f"l{i % 4}",)) for i in range(start, start + count)]

    ensure_topics(kafka_config, partitions=1)
    checkpoints = tmp_path / "ckpt"
    config = JobConfig(
        kafka=kafka_config, learners=["mlhat"], batch_size=20, idle_timeout_s=3.0,
        checkpoint_dir=str(checkpoints), checkpoint_every_s=0.2,
    )
    produce(kafka_config, records(0, 40))
    assert run_pipeline(config).learners["mlhat"]["learned"] == 40
    store = CheckpointStore(str(checkpoints / "learner-0"))
    newest = store.epochs()[-1]
    write_stale_checkpoint(monkeypatch, store, store.load(newest), newest)  # as written before c30107e

    produce(kafka_config, records(40, 10))
    with pytest.raises(StaleCheckpoint, match=rf"epoch {newest} in .*learner-0 holds a learner .*MLHAT was pickled with state layout 1.*--fresh"):
        run_pipeline(config)
    summary = run_pipeline(config.model_copy(update={"fresh": True}))
    assert summary.learners["mlhat"]["learned"] == 10  # fresh models, from the group's committed offset
