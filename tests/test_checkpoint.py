"""Checkpoints: atomic, verified files (the newest intact one wins), and stages restored from them."""

from __future__ import annotations

import hashlib
import itertools
import pickle

import pytest

from jobs.checkpoint import _HEADER, MAGIC, CheckpointError, CheckpointStore, read_key
from jobs.config import ExtractorConfig
from jobs.produce import dataset_records
from jobs.stages.base import StageRestarted
from jobs.stages.extractor import FeatureStage
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch


def test_the_newest_checkpoint_is_loaded_and_old_ones_are_pruned(tmp_path):
    store = CheckpointStore(str(tmp_path), keep=2)
    for step in range(5):
        store.save({"step": step})
    assert store.load_latest() == {"step": 4}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ckpt-000000000003.bin", "ckpt-000000000004.bin"]


def test_a_torn_checkpoint_falls_back_to_the_previous_one(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.save({"step": 1})
    newest = tmp_path / store.save({"step": 2, "big": list(range(1000))}).rsplit("/", 1)[-1]
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated, as by a crash in the middle of a copy
    assert store.load_latest() == {"step": 1}
    assert store.torn == 1


def test_a_corrupt_payload_is_detected(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.save({"step": 1})
    newest = tmp_path / store.save({"step": 2}).rsplit("/", 1)[-1]
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert store.load_latest() == {"step": 1}


def test_no_temporary_file_is_left_and_empty_folders_have_no_state(tmp_path):
    store = CheckpointStore(str(tmp_path / "nested" / "learner-0"))
    assert store.load_latest() is None
    store.save({"x": 1})
    assert [path.name for path in (tmp_path / "nested" / "learner-0").iterdir()] == ["ckpt-000000000000.bin"]


def test_fsspec_uris_work():
    store = CheckpointStore("memory://tagstream-test/learner-0")
    store.save({"offsets": {("t", 0): 3}})
    assert CheckpointStore("memory://tagstream-test/learner-0").load_latest() == {"offsets": {("t", 0): 3}}


def test_keeping_fewer_than_two_is_refused(tmp_path):
    with pytest.raises(ValueError, match="keep must be at least 2"):
        CheckpointStore(str(tmp_path), keep=1)


# -- a learner stage's checkpoints (no Ray) ---------------------------------------------------------



def _positioned(records, start):
    return Batch(list(records), [0.0] * len(records), 0.0, [("in", 0, start + i) for i in range(len(records))])


def _stage(uri, learners=("mlhat",)):
    return LearnerStage(list(learners), seed=1, window=50, model_size_every=10**6, checkpoint_uri=uri)


def test_a_restored_stage_goes_on_exactly_like_the_uninterrupted_one(tmp_path):
    records = list(itertools.islice(dataset_records("yeast"), 300))
    uninterrupted = LearnerStage(["mlhat"], seed=1, window=50, model_size_every=10**6)
    uninterrupted.process(_positioned(records, 0))
    crashed = _stage(str(tmp_path))
    with pytest.raises(StageRestarted):  # no batch before the driver restored (or started) it
        crashed.process(_positioned(records[:120], 0))
    assert crashed.checkpoint_epochs() == ([], False)
    assert crashed.checkpoint_problems() == []
    crashed.restore(None)
    assert crashed.position() == {}
    crashed.process(_positioned(records[:120], 0))
    crashed.checkpoint(epoch=7)
    crashed.process(_positioned(records[120:150], 120))  # learned, then lost with the crash

    restored = _stage(str(tmp_path))
    with pytest.raises(StageRestarted):
        restored.process(_positioned(records[100:], 100))
    assert restored.checkpoint_epochs() == ([7], True)
    restored.restore(7)
    assert restored.restored
    assert restored.position() == {("in", 0): 120}
    scored, _ = restored.process(_positioned(records[100:], 100))  # rewound a bit too far: 100..119 are skipped
    assert scored.ids == [r.id for r in records[120:]]
    restored_summary, uninterrupted_summary = restored.summary(), uninterrupted.summary()
    # model_bytes walks live objects: an unpickled instance dict no longer shares its keys, so the
    # restored model measures a few percent larger without holding more.
    restored_bytes = restored_summary["mlhat"].pop("model_bytes")
    assert restored_bytes == pytest.approx(uninterrupted_summary["mlhat"].pop("model_bytes"), rel=0.05)
    assert restored_summary == uninterrupted_summary
    tail = records[-1].features
    assert restored._models["mlhat"].predict_proba_one(tail) == uninterrupted._models["mlhat"].predict_proba_one(tail)


def test_a_checkpoint_of_other_learners_is_refused(tmp_path):
    stage = _stage(str(tmp_path), ["majority"])
    stage.restore(None)
    stage.checkpoint(epoch=1)
    with pytest.raises(CheckpointError, match="belongs to"):
        _stage(str(tmp_path), ["mlhat"]).restore(1)


def test_a_restored_extractor_standardises_like_the_uninterrupted_one(tmp_path):
    records = list(itertools.islice(dataset_records("yeast"), 300))
    standardize = ExtractorConfig(standardize=True)
    uninterrupted = FeatureStage(standardize)
    crashed = FeatureStage(standardize, checkpoint_uri=str(tmp_path))
    crashed.restore(None)
    for stage in (uninterrupted, crashed):
        stage.transform(_positioned(records[:200], 0))
    crashed.checkpoint(epoch=3)
    restored = FeatureStage(standardize, checkpoint_uri=str(tmp_path))
    restored.restore(3)
    tail = _positioned(records[200:], 200)
    assert restored.transform(tail).records == uninterrupted.transform(tail).records
    with pytest.raises(CheckpointError, match="standardize=True"):
        FeatureStage(ExtractorConfig(standardize=False), checkpoint_uri=str(tmp_path)).restore(3)
    with pytest.raises(CheckpointError, match="belongs to"):
        _stage(str(tmp_path)).restore(3)


# -- epochs and signatures ----------------------------------------------------------------------------


def test_epochs_list_only_intact_checkpoints(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.save({"step": 1}, epoch=10)
    newest = tmp_path / store.save({"step": 2}, epoch=11).rsplit("/", 1)[-1]
    newest.write_bytes(newest.read_bytes()[:-3])
    assert store.epochs() == [10]
    assert store.load(10) == {"step": 1}
    with pytest.raises(CheckpointError, match="no intact checkpoint of epoch 11"):
        store.load(11)
    assert store.has_files()


def test_a_stage_says_why_its_checkpoint_files_are_not_used(tmp_path):
    stage = _stage(str(tmp_path))
    stage.restore(None)
    stage.checkpoint(epoch=1)
    newest = tmp_path / CheckpointStore(str(tmp_path)).save({"step": 2}, epoch=2).rsplit("/", 1)[-1]
    newest.write_bytes(newest.read_bytes()[:-3])
    assert stage.checkpoint_epochs() == ([1], True)
    assert stage.checkpoint_problems() == ["torn or corrupt (length or SHA-256 does not match)"]
    newest.unlink()
    assert stage.checkpoint_problems() == []  # a file that is gone is no longer a problem


def test_a_store_with_a_key_refuses_unsigned_and_foreign_checkpoints(tmp_path):
    CheckpointStore(str(tmp_path / "unsigned")).save({"step": 1}, epoch=1)
    CheckpointStore(str(tmp_path / "foreign"), key=b"theirs").save({"step": 1}, epoch=1)
    ours = CheckpointStore(str(tmp_path / "ours"), key=b"ours")
    ours.save({"step": 1}, epoch=1)
    assert CheckpointStore(str(tmp_path / "unsigned"), key=b"ours").epochs() == []
    assert CheckpointStore(str(tmp_path / "foreign"), key=b"ours").load_latest() is None
    assert CheckpointStore(str(tmp_path / "ours"), key=b"ours").load(1) == {"step": 1}
    # Without a key a signed checkpoint still reads (its SHA-256 is checked).
    assert CheckpointStore(str(tmp_path / "ours")).load_latest() == {"step": 1}


def test_a_forged_payload_with_a_matching_hash_is_refused(tmp_path):
    """Rewriting the payload and its SHA-256 (what anyone can compute) does not get past the HMAC."""
    store = CheckpointStore(str(tmp_path), key=b"ours")
    path = tmp_path / store.save({"step": 1}, epoch=1).rsplit("/", 1)[-1]
    data = path.read_bytes()
    payload = pickle.dumps({"step": 666})
    header = len(MAGIC) + _HEADER.size
    epoch, _, signed, _, mac = _HEADER.unpack(data[len(MAGIC) : header])
    path.write_bytes(MAGIC + _HEADER.pack(epoch, len(payload), signed, hashlib.sha256(payload).digest(), mac) + payload)
    assert store.epochs() == []
    assert CheckpointStore(str(tmp_path)).load_latest() == {"step": 666}  # no key: only the hash is checked


def test_the_key_comes_from_a_file_first(tmp_path):
    (tmp_path / "key").write_text("from-file\n")
    assert read_key(str(tmp_path / "key"), "from-env") == b"from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(CheckpointError, match="is empty"):
        read_key(str(tmp_path / "empty"), None)
