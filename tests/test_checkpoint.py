"""Checkpoint files: atomic, verified, the newest intact one wins, old ones pruned."""

from __future__ import annotations

import pytest

from jobs.checkpoint import CheckpointStore


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
