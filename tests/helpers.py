"""Plain helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pathlib
import pickle

import pytest

from stream.kafka import KafkaConfig


def kafka_env(config: KafkaConfig) -> dict[str, str]:
    """A job's Kafka group and topics as ``TAGSTREAM_*`` variables, for jobs run as other processes."""
    env = {"TAGSTREAM_KAFKA__GROUP_ID": config.group_id}
    for name, topic in config.topics.model_dump().items():
        env[f"TAGSTREAM_KAFKA__TOPICS__{name.upper()}"] = topic
    return env


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
