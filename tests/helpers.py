"""Plain helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pathlib
import pickle
import time

import pytest

from stream.kafka import KafkaConfig, Message, RecordSource, topic_partitions


def kafka_env(config: KafkaConfig) -> dict[str, str]:
    """A job's Kafka group and topics as ``TAGSTREAM_*`` variables, for jobs run as other processes."""
    env = {"TAGSTREAM_KAFKA__GROUP_ID": config.group_id}
    for name, topic in config.topics.model_dump().items():
        env[f"TAGSTREAM_KAFKA__TOPICS__{name.upper()}"] = topic
    return env


def read_topic(config: KafkaConfig, topic: str, count: int | None = None, timeout_s: float = 60.0) -> list[Message]:
    """Every message of ``topic`` from the start, read outside any consumer group.

    With ``count``: once that many are there (or the deadline passed), plus what a last short
    poll finds, so that a duplicate beyond the expected count shows up. Without: until a poll
    comes back empty (the first one waits a few seconds for the fetch to start).
    """
    reader = KafkaConfig(**(config.model_dump() | {"group_id": None, "sasl_password": None}))
    source = RecordSource(reader, partitions=topic_partitions(reader, topic))
    messages: list[Message] = []
    try:
        source.seek_to_beginning()
        if count is None:
            batch = source.poll_batch(1000, 3.0)
            while batch:
                messages.extend(batch)
                batch = source.poll_batch(1000, 1.0)
            return messages
        deadline = time.monotonic() + timeout_s
        while len(messages) < count and time.monotonic() < deadline:
            messages.extend(source.poll_batch(1000, 0.5))
        messages.extend(source.poll_batch(1000, 0.5))
        return messages
    finally:
        source.close()


def require_binaries(*paths: pathlib.Path) -> None:
    """Skip when system binaries are missing, except under CI, where ``make test`` installs them."""
    missing = [str(path) for path in paths if not path.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: run `bash scripts/install-system-deps.sh` (as root) first"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def prequential_probas(model, stream) -> list[dict]:
    """Test-then-train over ``(x, y)`` pairs; the probabilities predicted before each learn."""
    probas = []
    for x, y in stream:
        probas.append(model.predict_proba_one(x))
        model.learn_one(x, y)
    return probas


def assert_resumes_identically(model, stream: list, split: int):
    """Learn ``stream[:split]``, pickle the model, check that the copy goes on exactly like it; returns the copy."""
    prequential_probas(model, stream[:split])
    copy = pickle.loads(pickle.dumps(model))
    assert prequential_probas(model, stream[split:]) == prequential_probas(copy, stream[split:])
    return copy


def assert_predicting_keeps_state(model, x: dict) -> None:
    """Predicting (here on ``x``, which may hold unseen features) leaves the pickled state byte for byte."""
    before = pickle.dumps(model)
    model.predict_proba_one(x)
    model.predict_one(x)
    assert pickle.dumps(model) == before
