"""The job on a Ray cluster of three nodes on this machine: a head and two workers.

The learner's shards and the extractor replicas are spread over the workers (asserted from the
actors' node ids); a worker is then removed mid-stream, its actors come back on the surviving
worker from the checkpoints, and every record is still learned exactly once, with a prediction
per id.
"""

from __future__ import annotations

import itertools

import pytest

from jobs.pipeline.lifecycle import actor_name
from jobs.pipeline.driver import run_pipeline
from jobs.config import JobConfig
from jobs.produce import dataset_records, produce
from stream.kafka import ensure_topics
from stream.records import parse_prediction

from helpers import read_topic

LEARNER = "br-nb"  # binary relevance: its labels split exactly over shards
STREAM = 600


@pytest.fixture(scope="module")
def three_nodes():
    """A head without CPUs (the driver's node: nothing that reserves a CPU lands on it) and two workers.

    Each worker has room for the whole job (4 logical CPUs), so that the survivor takes over.
    """
    import ray
    from ray.cluster_utils import Cluster

    from ray._common.utils import reset_ray_address
    from ray._private.utils import read_ray_address

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    # The head writes its address where a plain ray.init() on this machine looks for a cluster to
    # join: take it back, so that other Ray users of the machine (tests in parallel) start their own.
    if read_ray_address() == cluster.address:
        reset_ray_address()
    workers = [cluster.add_node(num_cpus=4) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def node_of(actor) -> str:
    import ray

    return ray.get(actor.__ray_call__.remote(lambda _: __import__("ray").get_runtime_context().get_node_id()), timeout=60)


@pytest.mark.integration
@pytest.mark.slow
def test_shards_and_extractors_spread_over_workers_and_a_lost_worker_loses_no_record(three_nodes, kafka_config, tmp_path):
    import ray

    cluster, workers = three_nodes
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("yeast"), STREAM))
    # The whole stream waits in the topic before the job starts: a producer racing the job's start
    # could finish before the first checkpoint, or start after a quiet stream ended the run. The job
    # has at most max_in_flight batches out when the worker goes, so most of the stream comes after.
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config, learners=[LEARNER], batch_size=30, max_in_flight=3, idle_timeout_s=6.0,
        checkpoint_dir=str(tmp_path), checkpoint_every_s=0.3, extractors=2, learner_shards=2,
        # Learner actors and shards reserve a share of a CPU: they go to the workers, not the head.
        resources={"learner": {"num_cpus": 0.5}},
        # Standardising makes replica 0 stateful: the worker removed is the one holding it.
        extractor={"num_cpus": 1, "standardize": True},
    )  # fmt: skip
    placed: dict[str, str] = {}
    removed: list[str] = []

    def lose_a_worker_once_checkpointed(summary, window):
        if removed or summary.checkpoints < 1 or summary.records_in < 150:
            return
        for index in range(config.extractors):
            placed[f"extractor-{index}"] = node_of(ray.get_actor(actor_name(config, "extractor", index)))
        for index in range(config.learner_shards):
            placed[f"shard-{index}"] = node_of(ray.get_actor(actor_name(config, "learner-0-shard", index)))
        victim = next(node for node in workers if node.node_id == placed["extractor-0"])
        removed.append(victim.node_id)
        cluster.remove_node(victim, allow_graceful=False)

    summary = run_pipeline(config, on_progress=lose_a_worker_once_checkpointed)
    worker_ids = {node.node_id for node in workers}
    assert removed, "no worker was removed mid-stream"
    assert placed["extractor-0"] != placed["extractor-1"], placed  # spread over the nodes
    assert placed["shard-0"] != placed["shard-1"], placed
    assert set(placed.values()) == worker_ids  # the head has no CPU: the workers hold them
    assert summary.recoveries >= 1
    assert summary.learners[LEARNER]["learned"] == STREAM, summary.to_json()  # exactly once
    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, STREAM)]
    assert {p.id for p in predictions} == {record.id for record in records}
