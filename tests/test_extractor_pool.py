"""The extractor pool: least-loaded dispatch, the one replica that owns the standardisation state,
resources and placement from the config, and text through several replicas on the real broker and Ray."""

from __future__ import annotations

import itertools
import time

import pytest

from jobs.pipeline.lifecycle import actor_name
from jobs.pipeline.driver import run_pipeline
from jobs.config import ConfigError, JobConfig, StageResources
from jobs.extractor_pool import ExtractorPoolError, LeastLoaded, extractor_options, needs_state
from jobs.features import FeatureError, NumericStandardizer
from jobs.produce import dataset_records, produce
from jobs.stages.extractor import FeatureStage
from jobs.stages.messages import Batch, PollInfo
from stream.datasets import DATASETS, data_dir
from stream.kafka import ensure_topics
from stream.records import Record, parse_prediction

from helpers import read_topic


def test_least_loaded_counts_records_not_batches():
    load = LeastLoaded(3)
    load.sent(load.pick(), "big", 500)
    load.sent(load.pick(), "small", 10)
    load.sent(load.pick(), "small-2", 10)
    assert load.outstanding == [500, 10, 10]
    # Round robin would go back to replica 0; the least loaded is replica 1 (ties: the lowest index).
    assert load.pick() == 1
    load.sent(1, "small-3", 10)
    assert load.pick() == 2
    load.done("big")
    assert load.pick() == 0
    load.clear()
    assert load.outstanding == [0, 0, 0] and load.pending() == []


def test_a_pool_needs_a_replica():
    with pytest.raises(ValueError, match="at least one replica"):
        LeastLoaded(0)


def test_only_batches_with_numeric_records_need_the_standardisation_state():
    texts_only = PollInfo(consumed=5, good=5, dead_letters={}, offsets={}, partitions=1, texts=5)
    mixed = PollInfo(consumed=5, good=5, dead_letters={}, offsets={}, partitions=1, texts=3)
    assert not needs_state(texts_only, standardize=True)
    assert needs_state(mixed, standardize=True)
    assert not needs_state(mixed, standardize=False)


def test_stage_resources_and_placement_come_from_the_config_layers(tmp_path):
    environ = {
        "TAGSTREAM_EXTRACTORS": "3",
        "TAGSTREAM_RESOURCES__LEARNER__NUM_CPUS": "1",
        "TAGSTREAM_RESOURCES__LEARNER__MEMORY_MB": "2048",
        "TAGSTREAM_EXTRACTOR__NUM_GPUS": "0.5",
    }
    file = tmp_path / "job.toml"
    file.write_text('[resources]\nplacement = "pack"\n[resources.consumer]\nnum_cpus = 0.5\n')
    config = JobConfig.load(file, environ=environ)
    assert config.extractors == 3
    assert config.resources.placement == "pack"
    assert config.resources.consumer == StageResources(num_cpus=0.5)
    assert config.resources.learner.ray_options() == {"num_cpus": 1.0, "num_gpus": 0.0, "memory": 2048 << 20}
    assert config.extractor.num_gpus == 0.5
    # Defaults fit a local Ray of two CPUs whose extractor takes both.
    defaults = JobConfig()
    assert defaults.extractors == 1 and defaults.resources.placement == "spread"
    assert [stage.num_cpus for stage in (defaults.resources.consumer, defaults.resources.learner, defaults.resources.publisher)] == [0, 0, 0]
    with pytest.raises(ConfigError, match="TAGSTREAM_EXTRACTORS"):
        JobConfig.load(environ={"TAGSTREAM_EXTRACTORS": "0"})


def test_extractor_options_reserve_cpus_gpus_memory_and_spread():
    config = JobConfig(extractors=2, extractor={"num_cpus": 2, "memory_mb": 1024})
    options, extractor = extractor_options(config, {"CPU": 8})
    assert options == {"num_cpus": 2, "num_gpus": 0, "memory": 1 << 30, "scheduling_strategy": "SPREAD"}
    assert extractor.num_cpus == 2
    # A request above the cluster is capped, and the torch threads follow the cap.
    options, extractor = extractor_options(JobConfig(extractor={"num_cpus": 4}), {"CPU": 2})
    assert options["num_cpus"] == 2 and extractor.num_cpus == 2
    # A GPU when CUDA may be used and the cluster has one; fractions only when asked for.
    assert extractor_options(JobConfig(), {"CPU": 4, "GPU": 1})[0]["num_gpus"] == 1
    shared = JobConfig(extractors=4, extractor={"num_cpus": 1, "num_gpus": 0.25})
    assert extractor_options(shared, {"CPU": 4, "GPU": 1})[0]["num_gpus"] == 0.25
    packed = JobConfig(resources={"placement": "pack"})
    assert "scheduling_strategy" not in extractor_options(packed, {"CPU": 2})[0]


def test_a_pool_the_cluster_cannot_hold_is_refused_up_front():
    with pytest.raises(ExtractorPoolError, match="4 extractors of 2 CPU each need 8 CPUs; the Ray cluster has 2"):
        extractor_options(JobConfig(extractors=4), {"CPU": 2})
    with pytest.raises(ExtractorPoolError, match="GPU"):
        extractor_options(JobConfig(extractors=2, extractor={"num_cpus": 1}), {"CPU": 4, "GPU": 1})


def _numeric_batch(values):
    records = [Record(f"r{i}", features={"a": v}, labels=("x",)) for i, v in enumerate(values)]
    return Batch(records, [time.time()] * len(records), time.time())


def test_a_replica_without_state_refuses_to_standardise():
    stateless = FeatureStage(JobConfig(extractor={"standardize": True}).extractor, holds_state=False)
    with pytest.raises(FeatureError, match="replica 0"):
        stateless.transform(_numeric_batch([1.0, 2.0]))
    # Without standardisation it has nothing to refuse.
    assert stateless.checkpoint_epochs() == ([], False)
    plain = FeatureStage(JobConfig().extractor, holds_state=False)
    batch = _numeric_batch([1.0, 2.0])
    assert plain.transform(batch) is batch


def test_the_state_owner_standardises_in_stream_order():
    owner = FeatureStage(JobConfig(extractor={"standardize": True}).extractor)
    values = [1.0, 3.0, 5.0, 4.0]
    out = owner.transform(_numeric_batch(values[:2])).records + owner.transform(_numeric_batch(values[2:])).records
    reference = NumericStandardizer()
    assert [r.features["a"] for r in out] == [reference.learn_transform_one({"a": v})["a"] for v in values]


def _replica_batches(config: JobConfig) -> list[int]:
    import ray

    return ray.get([ray.get_actor(actor_name(config, "extractor", i)).transformed.remote() for i in range(config.extractors)])


@pytest.mark.integration
def test_numeric_batches_go_to_the_state_owner_and_are_standardised_once(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("yeast"), 120))
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config, learners=["majority"], batch_size=20, idle_timeout_s=5.0, extractors=2,
        extractor={"standardize": True, "num_cpus": 1},
    )  # fmt: skip
    seen: list[list[int]] = []
    summary = run_pipeline(config, expected=120, on_batch=lambda s, _: seen.append(_replica_batches(config)))
    assert summary.learners["majority"]["learned"] == 120
    assert seen[-1] == [6, 0]  # every batch standardised by replica 0, none by the stateless replica


@pytest.mark.integration
@pytest.mark.slow
def test_two_extractors_share_the_text_and_every_record_is_learned_once_in_order(ray_local, kafka_config):
    if not (data_dir() / DATASETS["goemotions"].file).is_file():
        pytest.skip("the shared GoEmotions file is not here")
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("goemotions"), 160))
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config, learners=["logistic"], batch_size=20, max_in_flight=4, idle_timeout_s=20.0,
        extractors=2, extractor={"device": "cpu", "num_cpus": 1},
    )  # fmt: skip
    seen: list[list[int]] = []
    summary = run_pipeline(config, expected=160, on_batch=lambda s, _: seen.append(_replica_batches(config)))
    # A learner skips a record older than one it learned: out-of-order batches would show here.
    assert summary.learners["logistic"]["learned"] == 160
    assert sum(seen[-1]) == 8 and min(seen[-1]) >= 1, seen[-1]  # both replicas embedded batches
    predictions = [parse_prediction(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 160)]
    assert sorted(p.id for p in predictions) == sorted(r.id for r in records)


def test_run_takes_the_pool_size_as_a_flag():
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(app, ["run", "--extractors", "0"])
    assert result.exit_code == 2
    assert "--extractors" in result.output and "greater than or equal to 1" in result.output
