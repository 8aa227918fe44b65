"""Exactly-once learning across crashes: a killed actor of each stage, and a killed driver process.

Both runs are compared with the same learner trained in process on the same records in order: the
final model must predict the held-out tail identically, and it must have learned every labelled
record exactly once.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from jobs.checkpoint import CheckpointStore
from jobs.config import ExtractorConfig, JobConfig
from jobs.features import NumericStandardizer
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.lifecycle import actor_name
from jobs.produce import dataset_records, produce
from jobs.stages.labels import LabelUniverse
from learners import registry
from stream.kafka import KafkaConfig, RecordSource, ensure_topics, topic_partitions
from stream.records import parse_prediction

from helpers import kafka_env

LEARNER = "mlhat"
SEED = 5
STREAM = 900  # records streamed (and learned)
TAIL = slice(2200, 2417)  # held-out records the final models are compared on


def yeast():
    return list(itertools.islice(dataset_records("yeast"), 2417))


def reference_model(records, standardize=False):
    model = registry.make(LEARNER, SEED)
    universe = LabelUniverse()
    scaler = NumericStandardizer()
    for record in records:
        x = scaler.learn_transform_one(record.features) if standardize else record.features
        model.learn_one(x, universe.target(record.labels))
    return model


def final_state(checkpoint_dir: pathlib.Path) -> dict:
    return CheckpointStore(str(checkpoint_dir / "learner-0")).load_latest()


def assert_same_predictions(model, reference, records):
    for record in records:
        assert model.predict_proba_one(record.features) == reference.predict_proba_one(record.features), record.id


def prediction_ids(config: KafkaConfig, timeout_s: float = 30.0) -> list[str]:
    reader = KafkaConfig(**(config.model_dump() | {"group_id": None, "sasl_password": None}))
    source = RecordSource(reader, partitions=topic_partitions(reader, config.topics.predictions))
    ids: list[str] = []
    try:
        source.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = source.poll_batch(1000, 0.5)
            ids.extend(parse_prediction(m.value).id for m in batch)
            if not batch and len(set(ids)) >= STREAM:
                break
    finally:
        source.close()
    return ids


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "standardize"), [("learner", False), ("consumer", False), ("publisher", False), ("extractor", True)]
)
def test_a_killed_actor_is_restarted_and_every_record_is_learned_once(ray_local, kafka_config, tmp_path, stage, standardize):
    ensure_topics(kafka_config, partitions=1)
    records = yeast()
    streamed = records[:STREAM]
    producer = threading.Thread(target=produce, args=(kafka_config, streamed), kwargs={"rate": 400.0})
    producer.start()
    config = JobConfig(
        kafka=kafka_config,
        learners=[LEARNER],
        seed=SEED,
        batch_size=40,
        max_in_flight=3,
        idle_timeout_s=4.0,
        checkpoint_dir=str(tmp_path),
        checkpoint_every_s=0.3,
        extractor=ExtractorConfig(standardize=standardize),
    )
    killed = []

    def kill_once_checkpointed(summary, window):
        if not killed and summary.checkpoints >= 1 and summary.records_in >= 200:
            killed.append(summary.records_in)
            ray_local.kill(ray_local.get_actor(actor_name(config, stage)), no_restart=False)

    try:
        summary = run_pipeline(config, on_progress=kill_once_checkpointed)
    finally:
        producer.join()
    assert killed and killed[0] < STREAM, f"the {stage} was not killed mid-stream"
    assert summary.recoveries == 1
    assert summary.learners[LEARNER]["learned"] == STREAM  # exactly once
    state = final_state(tmp_path)
    assert state["offsets"] == {(kafka_config.topics.records, 0): STREAM}
    assert state["learned"][LEARNER] == STREAM
    assert_same_predictions(state["models"][LEARNER], reference_model(streamed, standardize), records[TAIL])
    ids = prediction_ids(kafka_config)
    assert set(ids) == {record.id for record in streamed}  # at least once


def _run_job(kafka_config: KafkaConfig, checkpoint_dir: pathlib.Path, out: pathlib.Path) -> subprocess.Popen:
    env = os.environ | kafka_env(kafka_config) | {
        "TAGSTREAM_IDLE_TIMEOUT_S": "4",
        "TAGSTREAM_MAX_IN_FLIGHT": "3",
    }
    command = [
        sys.executable, "-m", "jobs.cli", "run",
        "--bootstrap-servers", kafka_config.bootstrap_servers,
        "--learner", LEARNER, "--seed", str(SEED), "--batch-size", "40", "--bounded",
        "--checkpoint-dir", str(checkpoint_dir), "--checkpoint-every", "0.3",
        "--metrics-port", "0", "--dashboard-port", "0", "--out", str(out),
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_driver_restarts_from_its_checkpoint_and_learns_every_record_once(kafka_config, tmp_path):
    ensure_topics(kafka_config, partitions=1)
    records = yeast()
    streamed = records[:STREAM]
    produce(kafka_config, streamed[:100])
    checkpoints = tmp_path / "ckpt"
    job = _run_job(kafka_config, checkpoints, tmp_path / "first")
    try:
        deadline = time.monotonic() + 120
        while not list((checkpoints / "learner-0").glob("ckpt-*.bin")):
            assert job.poll() is None, job.stdout.read().decode()
            assert time.monotonic() < deadline, "the job wrote no checkpoint"
            time.sleep(0.2)
        producer = threading.Thread(target=produce, args=(kafka_config, streamed[100:]), kwargs={"rate": 300.0})
        producer.start()
        time.sleep(1.0)
        assert job.poll() is None
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-stream
        job.wait()
    producer.join()
    interrupted = final_state(checkpoints)
    assert 0 < interrupted["learned"][LEARNER] < STREAM

    restarted = _run_job(kafka_config, checkpoints, tmp_path / "second")
    output, _ = restarted.communicate(timeout=240)
    assert restarted.returncode == 0, output.decode()
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["learners"][LEARNER]["learned"] == STREAM
    state = final_state(checkpoints)
    assert state["learned"][LEARNER] == STREAM
    assert state["offsets"] == {(kafka_config.topics.records, 0): STREAM}
    assert_same_predictions(state["models"][LEARNER], reference_model(streamed), records[TAIL])
    assert set(prediction_ids(kafka_config)) == {record.id for record in streamed}
