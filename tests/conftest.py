"""Shared fixtures: one embedded Kafka broker per test session, and unique names per test.

Tests that touch Kafka take ``broker`` (the bootstrap address) or ``kafka_config`` (a
:class:`~stream.kafka.KafkaConfig` on that broker whose group id and five topic names are unique
to the test, so tests never see each other's records or groups).
"""

from __future__ import annotations

import os
import pathlib
import re
import uuid

import hypothesis
import pytest

from jobs.broker import EmbeddedBroker
from stream.kafka import KafkaConfig, TopicNames

# Tests never assert wall-clock time: Hypothesis' per-example deadline fails healthy tests on a
# loaded machine, so it is off for the whole suite.
hypothesis.settings.register_profile("tagstream", deadline=None)
hypothesis.settings.load_profile("tagstream")

# A pytest-xdist worker starts with COLUMNS=80 and LINES=24 in its environment, where a plain run
# has neither: a rich console made at import (jobs.cli_config's) would keep those 80 columns and
# ignore the COLUMNS a test gives the CLI. Workers run as a plain run does.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("COLUMNS", "LINES"):
        os.environ.pop(variable, None)


def pytest_collection_modifyitems(config, items):
    """Modules holding a ``slow`` test run first, each module's tests still together and in order.

    ``make test`` hands whole modules to its workers (pytest-xdist, ``--dist loadfile``) in this
    order, as each worker gets free: a long module started last would keep one worker busy alone
    at the end of the run, so the long ones start first and the many short ones fill in around them.
    """
    slow_modules = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_modules)  # stable: else as collected


@pytest.fixture(scope="session")
def broker():
    """Bootstrap address (``host:port``) of an in-memory broker shared by the whole session."""
    with EmbeddedBroker() as running:
        yield running.bootstrap_servers


@pytest.fixture
def unique_name(request):
    """Factory of names unique to this test: ``unique_name("orders")`` -> ``"orders.test-foo.1a2b3c4d"``."""
    test = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60].strip("-")

    def make(prefix: str) -> str:
        return f"{prefix}.{test}.{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def kafka_config(broker, unique_name) -> KafkaConfig:
    """Config for the session broker with a unique group and unique topic names.

    The topics are not created: call :func:`stream.kafka.ensure_topics` with the partition count
    the test needs. (A topic created implicitly by a first produce gets the broker's default
    partition count, which on tansu is more than one.)
    """
    return KafkaConfig(
        bootstrap_servers=broker,
        client_id=unique_name("client"),
        group_id=unique_name("group"),
        topics=TopicNames(
            records=unique_name("records"),
            predictions=unique_name("predictions"),
            drift=unique_name("drift"),
            model_events=unique_name("model-events"),
            deadletter=unique_name("deadletter"),
            labels=unique_name("labels"),
        ),
    )


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray of two CPUs for the tests of one module.

    ``address="local"``: always a Ray of its own, never a cluster another process started on this
    machine (``ray start``, ``ray.cluster_utils.Cluster``), which ``ray.init`` would otherwise join.
    """
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_with_test_learners():
    """A local Ray whose workers (and this process) can build the test learners of
    ``tests/crashing_learner.py``: each worker registers them before it builds a learner stage."""
    import ray

    import crashing_learner

    tests = str(pathlib.Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"worker_process_setup_hook": "crashing_learner.install"},
    )
    crashing_learner.install()
    yield ray
    ray.shutdown()
