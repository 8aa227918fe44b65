"""Plain helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pathlib

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
