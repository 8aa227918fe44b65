"""Learners split over shard actors (``--shards``) on the real broker and a real local Ray.

A sharded run publishes the same predictions as the unsharded one, record for record; ``--shards``
comes from the CLI, the environment and the config; and a follow run whose shard actor is killed
mid-stream restores every stage from the same checkpoint and ends with every record learned
exactly once and the predictions an uninterrupted run publishes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time

import numpy as np
import pytest

from jobs.checkpoint import CheckpointStore
from jobs.config import JobConfig
from jobs.model_export import export_model
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.lifecycle import actor_name
from jobs.produce import dataset_records, produce
from jobs.stages.labels import LabelUniverse
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from jobs.stages.shard import ShardOutOfStep, ShardStage, host_factories, remote_shard_stage
from learners import registry
from learners.sharding.executor import Shared
from stream.kafka import KafkaConfig, ensure_topics
from stream.records import LabelUpdate, parse_prediction

from helpers import read_topic

SEED = 7


def yeast(count: int):
    return list(itertools.islice(dataset_records("yeast"), count))


def published(config: KafkaConfig) -> dict[str, tuple[tuple[str, ...], dict[str, float]]]:
    """The last prediction published for each record id: labels on, scores."""
    out = {}
    for message in read_topic(config, config.topics.predictions):
        prediction = parse_prediction(message.value)
        out[prediction.id] = (tuple(sorted(prediction.labels)), prediction.scores)
    return out


def prequential(learner: str, records) -> dict[str, tuple[tuple[str, ...], dict[str, float]]]:
    """What the unsharded learner predicts for each record before learning it, in process."""
    model = registry.make(learner, SEED)
    universe = LabelUniverse()
    out = {}
    for record in records:
        scores = model.predict_proba_one(record.features)
        out[record.id] = (tuple(sorted(str(l) for l, p in scores.items() if p >= 0.5)), {str(l): p for l, p in scores.items()})
        model.learn_one(record.features, universe.target(record.labels))
    return out


# -- sharded == unsharded --------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("learner", "shards"), [("br-nb", 3), ("ihomer", 2)])
def test_a_sharded_learner_publishes_the_unsharded_predictions_record_for_record(ray_local, kafka_config, learner, shards):
    records = yeast(300)
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, records)
    config = JobConfig(kafka=kafka_config, learners=[learner], seed=SEED, batch_size=50, learner_shards=shards)
    summary = run_pipeline(config, expected=len(records))
    assert summary.learners[learner]["learned"] == len(records)
    assert summary.learners[learner]["shards"] == shards
    # Exactly what the unsharded learner predicts, test then train, in process.
    assert published(kafka_config) == prequential(learner, records)


@pytest.mark.integration
@pytest.mark.slow
def test_a_sharded_stage_settles_late_labels_corrections_and_partial_targets_as_the_unsharded_one(ray_local):
    """The learner stage itself, its shards on Ray: the same batches of records, late labels,
    corrections and partial targets give the same outputs and scores as the unsharded stage."""
    learners = ["ihomer", "majority"]  # majority learns no partial target: refused the same way sharded
    shard_cls = remote_shard_stage()
    actors = {
        name: [shard_cls.remote(factory, [name, "test"]) for factory in host_factories(registry.make(name, SEED), 2)]
        for name in learners
    }
    stages = {
        "whole": LearnerStage(learners, SEED, window=50, model_size_every=100),
        "sharded": LearnerStage(learners, SEED, window=50, model_size_every=100, shards=2, shard_actors=actors),
    }
    records, updates, late = yeast(240), [], []
    for i, record in enumerate(records):
        position = ("records", 0, i)
        if i % 3 == 0:  # its labels come in the next batch
            late.append((LabelUpdate(record.id, record.labels), ("labels", 0, len(late)), float(i)))
            records[i] = dataclasses.replace(record, labels=None)
        elif i % 5 == 0:  # a partial target: the first label not judged
            records[i] = dataclasses.replace(record, labels=record.labels[1:], unknown=record.labels[:1] or ("Class1",))
        elif i % 7 == 0:  # corrected in the next batch
            late.append((LabelUpdate(record.id, record.labels[:1]), ("labels", 0, len(late)), float(i)))
        updates.append(position)
    results = {name: [] for name in stages}
    for start in range(0, len(records), 30):
        chunk = range(start, min(start + 30, len(records)))
        batch = Batch(
            [records[i] for i in chunk], [float(i) for i in chunk], float(start), [updates[i] for i in chunk],
            [update for update in late if start - 30 <= update[2] < start],
        )  # fmt: skip
        for name, stage in stages.items():
            scored, _ = stage.process(batch)
            results[name].append((scored.ids, scored.outputs["ihomer"], scored.scored, scored.events))
    assert results["sharded"] == results["whole"]
    whole, sharded = stages["whole"].summary(), stages["sharded"].summary()
    for name in learners:
        for key in ("learned", "scored", "partial_refused"):
            assert sharded[name][key] == whole[name][key], (name, key)
    for key in ("cumulative", "corrections"):  # majority split by labels is no longer the majority: not compared
        assert sharded["ihomer"][key] == whole["ihomer"][key], key
    assert whole["majority"]["partial_refused"] > 0


@pytest.mark.integration
def test_sharded_ihomer_restored_from_its_head_and_shard_checkpoints_goes_on_exactly(ray_local, tmp_path):
    """Head and shards checkpoint under one epoch; new actors restored from it predict the rest of
    the stream as the uninterrupted unsharded stage does. Shards not at their head's epoch refuse it."""
    records = yeast(240)
    batches = [
        Batch(records[i : i + 30], [float(i)] * 30, float(i), [("records", 0, k) for k in range(i, i + 30)])
        for i in range(0, len(records), 30)
    ]
    whole = LearnerStage(["ihomer"], SEED, window=50, model_size_every=1000)
    expected = [whole.process(batch)[0].outputs for batch in batches]

    def started():
        """The sharded stage and its shard actors over the checkpoint folders in tmp_path, restored from none yet."""
        factories = host_factories(registry.make("ihomer", SEED), 2)
        actors = [
            remote_shard_stage().remote(factory, ["ihomer", f"shard {k}"], str(tmp_path / f"shard-{k}"))
            for k, factory in enumerate(factories)
        ]
        stage = LearnerStage(
            ["ihomer"], SEED, window=50, model_size_every=1000, checkpoint_uri=str(tmp_path / "head"), shards=2,
            shard_actors={"ihomer": actors},
        )  # fmt: skip
        return stage, actors

    stage, actors = started()
    ray_local.get([actor.restore.remote(None) for actor in actors])
    stage.restore(None)
    for batch, outputs in zip(batches[:4], expected):
        assert stage.process(batch)[0].outputs == outputs
    stage.checkpoint(epoch=1)
    ray_local.get([actor.checkpoint.remote(1) for actor in actors])
    stage.process(batches[4])  # learned, then lost with the crash
    for actor in actors:
        ray_local.kill(actor)

    stage, actors = started()
    ray_local.get([actor.restore.remote(1) for actor in actors])
    stage.restore(1)
    for batch, outputs in zip(batches[4:], expected[4:]):
        assert stage.process(batch)[0].outputs == outputs

    # A head restored from epoch 1 beside shards that went on past it: they refuse its calls.
    stale = LearnerStage(
        ["ihomer"], SEED, window=50, model_size_every=1000, checkpoint_uri=str(tmp_path / "head"), shards=2,
        shard_actors={"ihomer": actors},
    )  # fmt: skip
    stale.restore(1)
    with pytest.raises(ray_local.exceptions.RayTaskError, match="ShardOutOfStep"):
        stale.process(batches[4])


# -- the setting -----------------------------------------------------------------------------------


def test_shards_come_from_the_environment_and_the_config_file(tmp_path):
    assert JobConfig().learner_shards == 1
    assert JobConfig.load(environ={"TAGSTREAM_LEARNER_SHARDS": "4"}).learner_shards == 4
    path = tmp_path / "job.toml"
    path.write_text("learner_shards = 3\n")
    assert JobConfig.load(path).learner_shards == 3


def test_shards_must_be_positive_and_cannot_start_from_a_model_file(tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(app, ["run", "--learner", "br-nb", "--shards", "0"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "Invalid value for '--shards'" in result.output
    model_file = str(tmp_path / "m.pkl")
    result = CliRunner().invoke(app, ["run", "--learner", "br-nb", "--shards", "2", "--init-model", model_file], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "--init-model" in result.output and "shard" in result.output


@pytest.mark.integration
def test_run_command_with_shards(ray_local, tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(
        app,
        ["run", "--learner", "br-nb", "--shards", "2", "--limit", "100", "--metrics-port", "0", "--dashboard-port", "0",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["records_in"], summary["predictions_out"]) == (100, 100)
    assert summary["learners"]["br-nb"]["shards"] == 2
    assert summary["learners"]["br-nb"]["learned"] == 100


# -- exactly once with a killed shard --------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_shard_restores_with_every_stage_and_every_record_is_learned_once(ray_local, kafka_config, tmp_path):
    learner, stream = "br-nb", 300
    ensure_topics(kafka_config, partitions=1)
    records = yeast(stream)
    producer = threading.Thread(target=produce, args=(kafka_config, records), kwargs={"rate": 400.0})
    producer.start()
    config = JobConfig(
        kafka=kafka_config,
        learners=[learner],
        seed=SEED,
        batch_size=25,
        max_in_flight=1,  # after the kill, the records in flight are read one per batch: few of them
        follow=True,
        checkpoint_dir=str(tmp_path),
        checkpoint_every_s=0.3,
        learner_shards=2,
    )
    records_topic = (kafka_config.topics.records, 0)
    stop = threading.Event()
    killed = []

    def kill_once_checkpointed(summary, window):
        if not killed and summary.checkpoints >= 1 and summary.records_in >= 100:
            killed.append(summary.records_in)
            ray_local.kill(ray_local.get_actor(actor_name(config, "learner-0-shard", 1)), no_restart=False)

    def stop_once_learned():
        """A follow run ends when told: once the learner has taken in the whole stream."""
        name = actor_name(config, "learner")
        while not stop.is_set():
            time.sleep(0.3)
            try:
                position = ray_local.get(ray_local.get_actor(name).position.remote(), timeout=30)
            except (ValueError, ray_local.exceptions.RayError):
                continue  # not started yet, or being restarted
            if not producer.is_alive() and position.get(records_topic, 0) >= stream:
                stop.set()

    watcher = threading.Thread(target=stop_once_learned, daemon=True)
    watcher.start()
    try:
        summary = run_pipeline(config, stop=stop, on_progress=kill_once_checkpointed)
    finally:
        stop.set()
        producer.join()
        watcher.join(timeout=60)
    assert killed and killed[0] < stream, "the shard was not killed mid-stream"
    assert summary.recoveries == 1
    assert summary.learners[learner]["learned"] == stream  # exactly once
    head = CheckpointStore(str(tmp_path / "learner-0")).load_latest()
    assert head["owner"] == [learner, "2 shards"] and head["offsets"] == {records_topic: stream}
    assert head["learned"][learner] == stream
    for shard in range(2):
        state = CheckpointStore(str(tmp_path / f"learner-0-shard-{shard}")).load_latest()
        assert state["owner"] == [learner, f"shard {shard} of 2"]
        assert state["offsets"] == {records_topic: stream}  # each shard covers what its head does
    # Every record predicted; the last prediction of each (records after the checkpoint were
    # predicted again) is what an uninterrupted unsharded learner predicts.
    assert published(kafka_config) == prequential(learner, records)
    # Exported from the head's and the shards' checkpoints, the model predicts as the learner
    # trained once on the stream.
    exported = export_model(str(tmp_path)).model
    reference = registry.make(learner, SEED)
    universe = LabelUniverse()
    for record in records:
        reference.learn_one(record.features, universe.target(record.labels))
    for record in yeast(2417)[2300:]:
        assert exported.predict_proba_one(record.features) == reference.predict_proba_one(record.features), record.id


class _Keeper:
    """A host that keeps what it is handed, to see whether the shard copied it."""

    def apply(self, *args):
        self.args = args
        return len(args)


def test_a_shard_copies_its_arguments_but_not_shared_ones():
    stage = ShardStage(_Keeper, ["br-nb", "shard 0 of 1"])
    frozen = np.zeros(3)
    frozen.setflags(write=False)  # as Ray hands an array over from its object store
    shared = Shared(frozen)
    assert stage.call("apply", {}, {("in", 0): 5}, {"counts": frozen}, shared) == 2
    copied, kept = stage._host.args
    assert copied["counts"].flags.writeable and copied["counts"] is not frozen  # the host may change it
    assert kept is shared  # only read: no copy
    with pytest.raises(ShardOutOfStep):
        stage.call("apply", {}, {("in", 0): 6})  # the shard is at offset 5 now, not at the start
