"""No poison pills, and state that survives restarts (issue 14), against the real broker and a real local Ray.

Every kind of bad message becomes one dead letter and the run goes on; a learner actor that
dies twice in a row on one record dead-letters it; checkpoints restore all or nothing, refuse to
be replaced silently by fresh models, and can be signed; recoveries are budgeted per window.
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import threading
import time

import pytest
from typer.testing import CliRunner

import crashing_learner
from jobs.checkpoint import CheckpointError
from jobs.cli import app
from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline, with_default_checkpoints
from jobs.pipeline.lifecycle import actor_name
from jobs.pipeline.progress import Summary
from jobs.pipeline.recovery import ActorDiedWithoutCheckpoints, Recovery, RecoveryBudgetExceeded
from jobs.produce import produce
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from stream.kafka import KafkaConfig, RecordSink, ensure_topics
from stream.records import Record, RecordLimits, encode_json, parse_dead_letter, parse_prediction

from helpers import kafka_env, read_topic




def good_records(count: int, start: int = 0) -> list[Record]:
    """Small records over two features and four labels (so that the space limits can be set just above them)."""
    return [
        Record(f"g{i}", features={"a": float(i % 7), "b": float(i % 3)}, labels=(f"l{i % 4}",))
        for i in range(start, start + count)
    ]


def send_raw(config: KafkaConfig, values: list[tuple[str, bytes]]) -> None:
    """Produce raw values, however large (the producer's request size is raised for them)."""
    with RecordSink(config.model_copy(update={"max_request_size": 8_000_000})) as sink:
        for key, value in values:
            sink.send(config.topics.records, value, key=key)
        sink.flush()


def dead_letters(config: KafkaConfig, count: int) -> list:
    return [parse_dead_letter(m.value, m.key, m.headers) for m in read_topic(config, config.topics.deadletter, count)]


def prediction_ids(config: KafkaConfig, count: int) -> list[str]:
    return [parse_prediction(m.value).id for m in read_topic(config, config.topics.predictions, count)]


def job(kafka_config: KafkaConfig, **overrides) -> JobConfig:
    return JobConfig(**({"kafka": kafka_config, "learners": ["majority"], "batch_size": 20, "idle_timeout_s": 5.0} | overrides))


# -- bad input ---------------------------------------------------------------------------------------


def bad_messages() -> dict[str, bytes]:
    """One message of each kind the limits refuse, by the reason its dead letter must carry."""
    near_mib = encode_json({"id": "near", "features": {"a": 1.0}, "labels": [f"{i:0>9}" for i in range(86_000)]})
    assert 1_000_000 < len(near_mib) < 1 << 20  # accepted size; its dead letter is beyond the topic's
    return {
        "oversize": b'{"id": "big", "text": "' + b"x" * 2_400_000 + b'"}',
        "too_many_labels": near_mib,
        "label_too_long": encode_json({"id": "long", "features": {"a": 1.0}, "labels": ["z" * 201]}),
        "too_many_features": encode_json({"id": "wide", "features": [1.0] * 100_000}),
        "too_deep": b'{"id": "deep", "features": ' + b"[" * 50 + b"]" * 50 + b"}",
        "text_too_long": encode_json({"id": "essay", "text": "word " * 25_000}),
        "label_space_full": encode_json({"id": "newlabel", "features": {"a": 1.0}, "labels": ["l9"]}),
        "feature_space_full": encode_json({"id": "newfeature", "features": {"a": 1.0, "c": 2.0}, "labels": ["l0"]}),
    }


@pytest.mark.integration
@pytest.mark.slow
def test_every_kind_of_bad_message_is_one_dead_letter_and_the_run_goes_on(ray_with_test_learners, kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    bad = bad_messages()
    label_bomb = encode_json({"id": "bomb", "features": {"a": 1.0}, "labels": [f"label-{i}" for i in range(1500)]})
    produce(kafka_config, good_records(30))
    send_raw(kafka_config, [(None, value) for value in bad.values()] + [(None, label_bomb)])
    produce(kafka_config, good_records(30, start=30))
    config = job(
        kafka_config,
        follow=True,
        state_dir=str(tmp_path),
        limits=RecordLimits(max_label_space=4, max_feature_space=2),
    )
    stop = threading.Event()

    def stop_when_done(summary, window):
        if summary.records_in >= 60 + len(bad) + 1:
            stop.set()

    summary = run_pipeline(config, stop=stop, on_progress=stop_when_done)
    expected = {reason: 1 for reason in bad} | {"too_many_labels": 2}
    assert summary.dead_letters == expected
    assert summary.dead_letters_lost == 0
    assert summary.learners["majority"]["learned"] == 60
    assert sorted(prediction_ids(kafka_config, 60)) == sorted(f"g{i}" for i in range(60))
    letters = dead_letters(kafka_config, len(bad) + 1)
    assert sorted(letter.source_offset for letter in letters) == list(range(30, 30 + len(bad) + 1))
    by_offset = {letter.source_offset: letter for letter in letters}
    for offset, (reason, value) in enumerate(bad.items(), start=30):
        letter = by_offset[offset]
        assert letter.reason == reason
        if reason in ("oversize", "too_many_labels"):  # beyond what the dead-letter topic takes: the head
            assert letter.truncated and letter.original_bytes == len(value)
            assert letter.sha256 == hashlib.sha256(value).hexdigest()
            assert value.startswith(letter.value) and len(letter.value) == config.limits.dead_letter_head_bytes
        elif reason.endswith("_space_full"):  # refused by the learners: the parsed record, encoded again
            assert not letter.truncated and letter.value == value
        else:
            assert letter.value == value


@pytest.mark.integration
@pytest.mark.slow
def test_a_learner_that_dies_twice_on_one_record_dead_letters_it(ray_with_test_learners, kafka_config, tmp_path):
    """Whether the learner's process dies on the record (offset 25) or the learner raises on it (offset 41)."""
    ensure_topics(kafka_config, partitions=1)
    records = good_records(60)
    dies = Record("dies", features={"a": 1.0, crashing_learner.MARK: 1.0}, labels=("l0",))
    raises = Record("raises", features={"a": 1.0, crashing_learner.RAISE_MARK: 1.0}, labels=("l0",))
    produce(kafka_config, records[:25] + [dies] + records[25:40] + [raises] + records[40:])
    config = job(
        kafka_config,
        learners=[crashing_learner.NAME],
        batch_size=10,
        max_in_flight=2,
        checkpoint_dir=str(tmp_path),
        checkpoint_every_s=0.2,
        limits=RecordLimits(max_feature_space=4),
    )
    summary = run_pipeline(config, expected=62)
    assert summary.recoveries == 4  # each: the batch it was in, then the record alone; not a third time
    assert summary.dead_letters == {"crashed_learner": 2}
    assert summary.learners[crashing_learner.NAME]["learned"] == 60  # every other record, once
    letters = sorted(dead_letters(kafka_config, 2), key=lambda letter: letter.source_offset)
    assert [(letter.reason, letter.source_offset, letter.value) for letter in letters] == [
        ("crashed_learner", 25, encode_json(dies.to_json())),
        ("crashed_learner", 41, encode_json(raises.to_json())),
    ]
    assert set(prediction_ids(kafka_config, 60)) >= {record.id for record in records}


@pytest.mark.integration
@pytest.mark.slow
def test_an_actor_death_without_checkpoints_ends_the_run_with_what_died_and_what_was_done(ray_with_test_learners, kafka_config):
    """No checkpoints, nothing to restart from: one clear error (no Ray traceback) naming the actor,
    the work done and how to enable checkpoints; ``tagstream run`` prints it and exits 1."""
    ensure_topics(kafka_config, partitions=1)
    fatal = Record("fatal", features={"a": 1.0, crashing_learner.MARK: 1.0}, labels=("l0",))
    produce(kafka_config, good_records(40) + [fatal] + good_records(20, start=40))
    config = job(kafka_config, learners=[crashing_learner.NAME], batch_size=10, max_in_flight=1)
    with pytest.raises(ActorDiedWithoutCheckpoints) as caught:
        run_pipeline(config, expected=61)
    error = caught.value
    assert isinstance(error, RecoveryBudgetExceeded)  # every job path ends on it with one line, exit 1
    assert error.stage == "learner-0" and 40 <= error.summary.records_in <= 61
    message = str(error)
    assert "\n" not in message and message.startswith("the learner-0 actor died (")
    assert f"until then {error.summary.records_in:,} records in" in message and "--checkpoint-dir DIR" in message

    # The same through the command line (a second group reads the topic from the start).
    env = kafka_env(kafka_config.model_copy(update={"group_id": kafka_config.group_id + "-cli"})) | {"COLUMNS": "400"}
    result = CliRunner().invoke(
        app,
        ["run", "--bootstrap-servers", kafka_config.bootstrap_servers, "--learner", crashing_learner.NAME, "--bounded",
         "--batch-size", "10", "--metrics-port", "0", "--dashboard-port", "0"],  # fmt: skip
        env=env,
    )
    assert result.exit_code == 1, result.output
    assert "error: the learner-0 actor died (" in result.output and "--checkpoint-dir DIR" in result.output
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_a_bounded_run_waiting_on_a_slow_stage_is_not_idle(ray_with_test_learners, kafka_config):
    """Batches that each take longer than the idle timeout still all arrive: the time the driver
    waits on its own stages (backpressure) is not idle input."""
    ensure_topics(kafka_config, partitions=1)
    records = [
        Record(f"s{i}", features={"a": 1.0, crashing_learner.SLOW_MARK: 1.5 if i % 10 == 0 else 0.0}, labels=("l0",))
        for i in range(50)
    ]
    produce(kafka_config, records)
    config = job(kafka_config, learners=[crashing_learner.NAME], batch_size=10, max_in_flight=1, idle_timeout_s=1.0)
    summary = run_pipeline(config, expected=50)
    assert summary.records_in == 50
    assert summary.learners[crashing_learner.NAME]["learned"] == 50


# -- checkpoints -------------------------------------------------------------------------------------


def _checkpointed_run(kafka_config: KafkaConfig, checkpoints: pathlib.Path, count: int, start: int = 0, **overrides):
    """Produce ``count`` more records, then run with checkpoints until the input is idle."""
    produce(kafka_config, good_records(count, start))
    config = job(kafka_config, checkpoint_dir=str(checkpoints), checkpoint_every_s=0.2, idle_timeout_s=3.0, **overrides)
    return run_pipeline(config)


@pytest.mark.integration
@pytest.mark.slow
def test_unusable_checkpoints_stop_the_start_unless_told_fresh(ray_with_test_learners, kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    checkpoints = tmp_path / "ckpt"
    assert _checkpointed_run(kafka_config, checkpoints, 40).learners["majority"]["learned"] == 40
    for path in (checkpoints / "learner-0").glob("ckpt-*.bin"):
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"no checkpoint .* is intact in every stage .*learner-0: none.*--fresh"):
        _checkpointed_run(kafka_config, checkpoints, 10, start=40)
    summary = _checkpointed_run(kafka_config, checkpoints, 0, fresh=True)
    assert summary.learners["majority"]["learned"] == 10  # fresh models, from the group's committed offset


@pytest.mark.integration
@pytest.mark.slow
def test_restores_take_the_newest_checkpoint_every_stage_holds(ray_with_test_learners, kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    checkpoints = tmp_path / "ckpt"
    _checkpointed_run(kafka_config, checkpoints, 40)
    epochs = sorted((checkpoints / "publisher").glob("ckpt-*.bin"))
    epochs[-1].write_bytes(epochs[-1].read_bytes()[:-5])  # the publisher's newest is torn
    summary = _checkpointed_run(kafka_config, checkpoints, 10, start=40)
    # The learner went back to the epoch before too (not its own newest): records of the last
    # epoch are read and learned again from there, each still once.
    assert summary.learners["majority"]["learned"] == 50


@pytest.mark.integration
@pytest.mark.slow
def test_a_job_with_a_key_refuses_checkpoints_it_did_not_sign_and_resumes_from_its_own(ray_with_test_learners, kafka_config, tmp_path):
    """The key from a file and the same key given as a value sign and verify alike; another key's
    checkpoints are refused (unsigned ones take the same path: tests/test_checkpoint.py)."""
    ensure_topics(kafka_config, partitions=1)
    checkpoints = tmp_path / "ckpt"
    (tmp_path / "key").write_text("s3cret\n")
    assert _checkpointed_run(kafka_config, checkpoints, 20, checkpoint_key_file=str(tmp_path / "key")).learners["majority"]["learned"] == 20
    with pytest.raises(CheckpointError, match="no checkpoint .* intact"):
        _checkpointed_run(kafka_config, checkpoints, 10, start=20, checkpoint_key="k2")
    summary = _checkpointed_run(kafka_config, checkpoints, 0, checkpoint_key="s3cret")
    assert summary.learners["majority"]["learned"] == 30  # restored at 20, then the 10 the refused run left


def test_a_follow_run_checkpoints_by_default_and_warns_without(caplog):
    follow = JobConfig(follow=True, kafka={"group_id": "g"}, state_dir="/var/tmp/state")
    assert with_default_checkpoints(follow).checkpoint_dir == "/var/tmp/state/g"
    explicit = follow.model_copy(update={"checkpoint_dir": "s3://bucket/job"})
    assert with_default_checkpoints(explicit).checkpoint_dir == "s3://bucket/job"
    assert with_default_checkpoints(JobConfig()).checkpoint_dir is None  # bounded: none by default
    with caplog.at_level(logging.WARNING, logger="jobs.pipeline.driver"):
        assert with_default_checkpoints(follow.model_copy(update={"state_dir": None})).checkpoint_dir is None
    assert "models are lost whenever the job restarts" in caplog.text


# -- the recovery budget -----------------------------------------------------------------------------


def test_recoveries_are_budgeted_per_window():
    config = JobConfig(max_recoveries=2, recovery_window_s=0.5)
    recovery = Recovery(config, Summary())
    recovery.failed(RuntimeError("one"), [])
    recovery.failed(RuntimeError("two"), [])
    with pytest.raises(RecoveryBudgetExceeded, match="3 actor failures within 0.5 s"):
        recovery.failed(RuntimeError("three"), [])
    time.sleep(0.6)  # the window slid past the first two
    recovery.failed(RuntimeError("four"), [])


@pytest.mark.integration
@pytest.mark.slow
def test_a_job_gives_up_when_actors_fail_faster_than_its_budget(ray_with_test_learners, kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, good_records(200))
    config = job(
        kafka_config, batch_size=5, checkpoint_dir=str(tmp_path), checkpoint_every_s=0.2, max_recoveries=1, recovery_window_s=600
    )
    kills = []

    def kill_learner(summary, window):
        if summary.checkpoints >= 1 and len(kills) == summary.recoveries and len(kills) < 2:
            kills.append(summary.records_in)
            ray = ray_with_test_learners
            ray.kill(ray.get_actor(actor_name(config, "learner")), no_restart=False)

    with pytest.raises(RecoveryBudgetExceeded, match="max_recoveries=1"):
        run_pipeline(config, expected=200, on_progress=kill_learner)
    assert len(kills) == 2


# -- learner stage limits without Ray ----------------------------------------------------------------


def test_a_learner_stage_refuses_what_would_overflow_its_label_or_feature_space():
    limits = RecordLimits(max_label_space=2, max_feature_space=2)
    stage = LearnerStage(["majority"], seed=1, window=10, model_size_every=10**6, limits=limits)
    records = [
        Record("r0", features={"a": 1.0}, labels=("x",)),
        Record("r1", features={"a": 1.0, "b": 1.0}, labels=("y",)),
        Record("r2", features={"a": 1.0}, labels=("z",)),  # a third label
        Record("r3", features={"c": 1.0}, labels=("x",)),  # a third feature
        Record("r4", features={"b": 2.0}, labels=("x", "y")),
    ]
    positions = [("in", 0, i) for i in range(len(records))]
    scored, _ = stage.process(Batch(records, [0.0] * 5, 0.0, positions))
    assert scored.ids == ["r0", "r1", "r4"]
    assert [(position, error.reason) for position, _, _, error in scored.refused] == [
        (("in", 0, 2), "label_space_full"),
        (("in", 0, 3), "feature_space_full"),
    ]
    assert stage.summary()["majority"]["learned"] == 3
