"""Chaos: a follow pipeline keeps every promise of issue 14 while its actors and its driver are killed.

More than 10,000 records stream into the input topic, with one message of every malformed kind
among them. The job runs as ``tagstream run --follow`` in its own process and is SIGKILLed once
mid-stream (with the local Ray it started); the restarted driver then runs while a chaos thread
kills a random actor every few seconds. At the end:

* every good record id has a prediction (at least once);
* every good record was learned exactly once (the learned count, and the final model predicts a
  held-out tail exactly like the same learner trained once, in process, on the good records);
* the dead letters match the injected bad records one to one (one per input offset, with its
  reason, across the restarts).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from jobs.checkpoint import CheckpointStore
from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.lifecycle import actor_name
from jobs.stages.labels import LabelUniverse
from learners import registry
from stream.kafka import KafkaConfig, RecordSink, ensure_topics
from stream.records import Record, RecordLimits, encode_json, parse_dead_letter, parse_prediction

from helpers import kafka_env, read_topic

LEARNER = "br-nb"
SEED = 3
GOOD = 10_000
LABELS = [f"l{i}" for i in range(5)]
FEATURES = [f"x{i}" for i in range(6)]
LIMITS = RecordLimits(max_label_space=len(LABELS), max_feature_space=len(FEATURES))
CHECKPOINT_EVERY_S = 0.5


def good_record(i: int, rng: random.Random) -> Record:
    x = {name: rng.gauss(0.0, 1.0) for name in FEATURES}
    on = tuple(label for k, label in enumerate(LABELS) if x[FEATURES[k]] + rng.gauss(0.0, 0.5) > 0.3)
    return Record(f"r{i}", features=x, labels=on)


#: One message of every kind the job refuses, by the reason of its dead letter.
MALFORMED = {
    "oversize": b'{"id": "big", "text": "' + b"x" * 1_200_000 + b'"}',
    "too_many_labels": encode_json({"id": "b1", "features": {"x0": 1.0}, "labels": [f"m{i}" for i in range(101)]}),
    "label_too_long": encode_json({"id": "b2", "features": {"x0": 1.0}, "labels": ["z" * 201]}),
    "too_many_features": encode_json({"id": "b3", "features": [0.5] * 10_001}),
    "too_deep": b'{"id": "b4", "features": ' + b"[" * 40 + b"]" * 40 + b"}",
    "text_too_long": encode_json({"id": "b5", "text": "y" * 100_001}),
    "label_space_full": encode_json({"id": "b6", "features": {"x0": 1.0}, "labels": ["l9"]}),
    "feature_space_full": encode_json({"id": "b7", "features": {"x0": 1.0, "extra": 2.0}, "labels": ["l0"]}),
    "json": b'{"id": "b8", "features": ',
    "non_finite": b'{"id": "b9", "features": {"x0": NaN}}',
}


def build_stream() -> tuple[list[tuple[bytes | None, bytes]], list[Record], dict[int, str], list[Record]]:
    """The messages in topic order, the good records among them, reason by offset of the bad ones, a held-out tail."""
    rng = random.Random(SEED)
    good = [good_record(i, rng) for i in range(GOOD)]
    tail = [good_record(GOOD + i, rng) for i in range(200)]
    messages: list[tuple[bytes | None, bytes]] = [(record.key, encode_json(record.to_json())) for record in good]
    bad: dict[int, str] = {}
    # Spread over the stream, after the label and feature spaces are full of good names.
    for n, (reason, value) in enumerate(MALFORMED.items()):
        at = 1000 + n * (GOOD - 1500) // len(MALFORMED) + n
        messages.insert(at, (None, value))
    for offset, (key, value) in enumerate(messages):
        if key is None:
            bad[offset] = next(reason for reason, malformed in MALFORMED.items() if malformed == value)
    return messages, good, bad, tail


def stream_in(config: KafkaConfig, messages, rate: float, sent: list) -> None:
    """Produce ``messages`` at about ``rate`` per second; ``sent`` counts them as they go."""
    started = time.monotonic()
    with RecordSink(config.model_copy(update={"max_request_size": 4_000_000})) as sink:
        for n, (key, value) in enumerate(messages):
            sink.send(config.topics.records, value, key=key)
            sent[0] = n + 1
            ahead = started + n / rate - time.monotonic()
            if ahead > 0.01:
                sink.flush()
                time.sleep(ahead)
        sink.flush()


def driver_process(config: KafkaConfig, checkpoints) -> subprocess.Popen:
    env = os.environ | kafka_env(config) | {
        "TAGSTREAM_LIMITS__MAX_LABEL_SPACE": str(LIMITS.max_label_space),
        "TAGSTREAM_LIMITS__MAX_FEATURE_SPACE": str(LIMITS.max_feature_space),
        "TAGSTREAM_MAX_IN_FLIGHT": "2",
    }
    command = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", config.bootstrap_servers,
        "--learner", LEARNER, "--seed", str(SEED), "--batch-size", "50", "--follow",
        "--checkpoint-dir", str(checkpoints), "--checkpoint-every", str(CHECKPOINT_EVERY_S),
        "--metrics-port", "0", "--dashboard-port", "0",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.integration
@pytest.mark.slow
def test_chaos_every_record_once_every_bad_one_dead_lettered_once(kafka_config, tmp_path):
    import ray

    ensure_topics(kafka_config, partitions=1)
    messages, good, bad, tail = build_stream()
    checkpoints = tmp_path / "ckpt"
    sent = [0]
    producer = threading.Thread(target=stream_in, args=(kafka_config, messages, 400.0, sent), daemon=True)
    producer.start()

    # 1. The job in its own process, SIGKILLed once it has checkpointed part of the stream.
    job = driver_process(kafka_config, checkpoints)
    try:
        deadline = time.monotonic() + 240
        while len(list((checkpoints / "learner-0").glob("ckpt-*.bin"))) < 3 or sent[0] < 2500:
            assert job.poll() is None, job.stdout.read().decode()
            assert time.monotonic() < deadline, "the job wrote no checkpoint"
            time.sleep(0.2)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver and the Ray it started
        job.wait()
    interrupted = CheckpointStore(str(checkpoints / "learner-0")).load_latest()
    assert 0 < interrupted["learned"][LEARNER] < GOOD

    # 2. Restarted, while a chaos thread kills a random actor every few seconds.
    config = JobConfig(
        kafka=kafka_config,
        learners=[LEARNER],
        seed=SEED,
        batch_size=50,
        max_in_flight=2,
        follow=True,
        checkpoint_dir=str(checkpoints),
        checkpoint_every_s=CHECKPOINT_EVERY_S,
        limits=LIMITS,
        max_recoveries=100,
    )
    last = max(offset for offset, (key, _) in enumerate(messages) if key is not None)
    stop = threading.Event()
    kills: list[str] = []
    chaos_rng = random.Random(SEED)
    state = {"summary": None, "next_kill": time.monotonic() + 5.0}

    def watch(summary, window):
        state["summary"] = summary

    def chaos():
        """Kill a random actor every few seconds, never while a failure's records are still read one by one
        (a kill then would look like a record that kills the learner), and stop once everything is learned."""
        learner_name = actor_name(config, "learner")
        while not stop.is_set():
            time.sleep(0.5)
            summary = state["summary"]
            try:
                position = ray.get(ray.get_actor(learner_name).position.remote(), timeout=30)
            except (ValueError, ray.exceptions.RayError):
                continue  # not started yet, or being restarted
            if not producer.is_alive() and position.get((kafka_config.topics.records, 0), 0) > last:
                stop.set()
                return
            if summary is None or summary.isolating or summary.recoveries < len(kills):
                continue
            if time.monotonic() >= state["next_kill"] and len(kills) < 6:
                stage = chaos_rng.choice(["consumer", "extractor", "learner", "publisher"])
                kills.append(stage)
                ray.kill(ray.get_actor(actor_name(config, stage)), no_restart=False)
                state["next_kill"] = time.monotonic() + 4.0

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        monkey = threading.Thread(target=chaos, daemon=True)
        monkey.start()
        summary = run_pipeline(config, stop=stop, on_progress=watch)
        monkey.join(timeout=60)
    finally:
        stop.set()
        ray.shutdown()
        producer.join(timeout=60)
    assert len(kills) >= 3, kills
    assert summary.recoveries >= len(kills)

    # Every good record learned exactly once, and the final model as if nothing had happened.
    final = CheckpointStore(str(checkpoints / "learner-0")).load_latest()
    assert final["learned"][LEARNER] == len(good) == summary.learners[LEARNER]["learned"]
    reference = registry.make(LEARNER, SEED)
    universe = LabelUniverse()
    for record in good:
        reference.learn_one(record.features, universe.target(record.labels))
    model = final["models"][LEARNER]
    for record in tail:
        assert model.predict_proba_one(record.features) == reference.predict_proba_one(record.features), record.id

    # Every good record predicted (at least once).
    predicted = {parse_prediction(m.value).id for m in read_topic(kafka_config, kafka_config.topics.predictions)}
    assert predicted >= {record.id for record in good}

    # One dead letter per bad message, with its reason, across both drivers and every recovery.
    letters = [parse_dead_letter(m.value, m.key, m.headers) for m in read_topic(kafka_config, kafka_config.topics.deadletter)]
    assert sorted((letter.source_offset, letter.reason) for letter in letters) == sorted(bad.items())
    assert summary.dead_letters_lost == 0
    print(json.dumps({"kills": kills, "recoveries": summary.recoveries, "dead_letters": len(letters)}))
