"""Keeping and reusing results: model files, ``tagstream export``, ``learners.load``, ``--init-model``, ``--predictions-file``."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import typer
from typer.testing import CliRunner

import learners
from jobs import cli_offline, cli_ops
from jobs.champion import ChampionSelector
from jobs.checkpoint import CheckpointError, CheckpointStore
from jobs.model_export import export_model, initial_model
from jobs.produce import dataset_records
from jobs.stages.base import CHECKPOINT_FORMAT
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch, Scored
from jobs.stages.publisher import PublisherStage
from learners.model_file import MAGIC, ModelFile, ModelFileError, read, save
from stream.datasets import open_dataset
from stream.kafka import ensure_topics
from tests.helpers import read_topic

YEAST = list(itertools.islice(dataset_records("yeast"), 400))


def positioned(records, start: int) -> Batch:
    return Batch(list(records), [0.0] * len(records), 0.0, [("in", 0, start + i) for i in range(len(records))])


def trained_job(folder, learner_sets=(("mlht",), ("br-nb",)), serving: str | None = None, records=YEAST[:300]):
    """Learner stages that checkpointed into ``folder`` as a job does (learner-<i>/, publisher/); returns them."""
    stages = []
    for index, names in enumerate(learner_sets):
        stage = LearnerStage(list(names), seed=3, window=50, model_size_every=10**6)
        stage.process(positioned(records, 0))
        # What the stage's checkpoint() writes into the job's folder.
        CheckpointStore(f"{folder}/learner-{index}").save({"format": CHECKPOINT_FORMAT, "owner": list(names), **stage._state()})
        stages.append(stage)
    if serving is not None:
        everyone = [name for names in learner_sets for name in names]
        selector = ChampionSelector(everyone)
        selector._serving = serving  # as if it had switched
        CheckpointStore(f"{folder}/publisher").save({"format": 2, "owner": everyone, "champion": selector.state(), "scored": 300})
    return stages


def test_export_then_load_predicts_exactly_like_the_job(tmp_path):
    (stage, _) = trained_job(tmp_path / "ckpt")
    exported = export_model(str(tmp_path / "ckpt"))  # no publisher checkpoint: the first learner
    assert (exported.learner, exported.learned) == ("mlht", 300)
    assert list(exported.labels) == stage._universe.labels
    save(exported, tmp_path / "model.pkl")

    model = learners.load(tmp_path / "model.pkl")
    original = stage._models["mlht"]
    for record in YEAST[300:]:
        assert model.predict_proba_one(record.features) == original.predict_proba_one(record.features)
        assert model.predict_one(record.features) == original.predict_one(record.features)
    header = read(tmp_path / "model.pkl")
    assert header.kind == "learners.mlht:MLHT"
    assert header.source == f"checkpoint {tmp_path / 'ckpt'}"


def test_export_picks_the_serving_learner_or_the_one_named(tmp_path):
    trained_job(tmp_path / "ckpt", serving="br-nb")
    assert export_model(str(tmp_path / "ckpt")).learner == "br-nb"
    assert export_model(str(tmp_path / "ckpt"), "mlht").learner == "mlht"
    with pytest.raises(CheckpointError, match=r"no learner 'mlhat'.*\['mlht', 'br-nb'\]"):
        export_model(str(tmp_path / "ckpt"), "mlhat")
    with pytest.raises(CheckpointError, match="does not exist"):
        export_model(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no learner checkpoints"):
        export_model(str(tmp_path / "empty"))


def test_a_stage_started_from_the_model_goes_on_exactly_like_the_job(tmp_path):
    (stage,) = trained_job(tmp_path / "ckpt", learner_sets=(("mlht",),))
    save(export_model(str(tmp_path / "ckpt")), tmp_path / "model.pkl")
    started = LearnerStage(["mlht"], seed=99, window=50, model_size_every=10**6, initial=read(tmp_path / "model.pkl"))
    going_on, _ = stage.process(positioned(YEAST[300:], 300))
    from_file, _ = started.process(positioned(YEAST[300:], 0))
    assert from_file.outputs == going_on.outputs  # same predictions, scores and model versions (300 on)
    assert from_file.outputs["mlht"][0][2] == 300


def test_init_model_is_refused_when_it_does_not_fit(tmp_path):
    trained_job(tmp_path / "ckpt", learner_sets=(("mlht",),))
    path = tmp_path / "model.pkl"
    save(export_model(str(tmp_path / "ckpt")), path)
    yeast_labels = [str(label) for label in open_dataset("yeast").label_names]
    assert initial_model(path, ["br-nb", "mlht"], yeast_labels).learner == "mlht"
    with pytest.raises(ModelFileError, match="holds a 'mlht' learner; add it to the learners"):
        initial_model(path, ["mlhat"])
    emotions = [str(label) for label in open_dataset("emotions").label_names]
    with pytest.raises(ModelFileError, match="another label space"):
        initial_model(path, ["mlht"], emotions)
    disguised = ModelFile("mlht", learners.registry.make("br-nb", 1), labels=(), learned=0)
    save(disguised, tmp_path / "disguised.pkl")
    with pytest.raises(ModelFileError, match="this catalogue builds a"):
        initial_model(tmp_path / "disguised.pkl", ["mlht"])


def test_torn_or_foreign_files_are_refused(tmp_path):
    trained_job(tmp_path / "ckpt", learner_sets=(("br-nb",),))
    path = tmp_path / "model.pkl"
    save(export_model(str(tmp_path / "ckpt")), path)
    data = path.read_bytes()
    (tmp_path / "torn.pkl").write_bytes(data[:-10])
    with pytest.raises(ModelFileError, match="torn or corrupt"):
        learners.load(tmp_path / "torn.pkl")
    (tmp_path / "flipped.pkl").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="torn or corrupt"):
        learners.load(tmp_path / "flipped.pkl")
    (tmp_path / "other.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelFileError, match="not a tagstream model file"):
        learners.load(tmp_path / "other.pkl")
    with pytest.raises(ModelFileError, match="cannot read"):
        learners.load(tmp_path / "missing.pkl")
    assert data.startswith(MAGIC)


def test_export_and_evaluate_init_model_commands(tmp_path):
    trained_job(tmp_path / "ckpt", learner_sets=(("mlht",),))
    app = typer.Typer()
    cli_ops.register(app)
    cli_offline.register(app)
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "--checkpoint-dir", str(tmp_path / "ckpt"), "-o", str(tmp_path / "m" / "model.pkl")])
    assert exported.exit_code == 0, exported.output
    assert "mlht after 300 records, 13 labels" in exported.output

    common = ["--init-model", str(tmp_path / "m" / "model.pkl"), "--limit", "100", "--out", str(tmp_path / "out")]
    fits = runner.invoke(app, ["evaluate", "--dataset", "yeast", "--learner", "mlht,br-nb", *common])
    assert fits.exit_code == 0, fits.output
    fresh = runner.invoke(app, ["evaluate", "--dataset", "yeast", "--learner", "mlht", "--limit", "100", "--out", str(tmp_path / "fresh")])
    trained = json.loads((tmp_path / "out" / "results.json").read_text())["learners"]["mlht"]
    untrained = json.loads((tmp_path / "fresh" / "results.json").read_text())["learners"]["mlht"]
    assert fresh.exit_code == 0 and trained["example_f1"] != untrained["example_f1"]

    wrong = runner.invoke(app, ["evaluate", "--dataset", "emotions", "--learner", "mlht", *common])
    assert wrong.exit_code == 2 and "another label space" in wrong.output
    missing = runner.invoke(app, ["export", "--checkpoint-dir", str(tmp_path / "none"), "-o", str(tmp_path / "x.pkl")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_the_publisher_keeps_exactly_the_published_predictions_in_the_file(kafka_config, tmp_path):
    ensure_topics(kafka_config)
    path = tmp_path / "out" / "predictions.jsonl"
    publisher = PublisherStage(kafka_config, "mlht", predictions_file=str(path))
    try:
        for start in (0, 2):
            ids = [f"r{start}", f"r{start + 1}"]
            outputs = {"mlht": [(("a",), {"a": 0.9, "b": 0.1}, start), ((), {"a": 0.2, "b": 0.3}, start + 1)]}
            publisher.publish(Scored(ids, [time.time()] * 2, time.time(), outputs, []))
    finally:
        publisher.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    on_topic = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.predictions, 4)]
    assert lines == on_topic
    assert [line["id"] for line in lines] == ["r0", "r1", "r2", "r3"]


def test_signed_checkpoints_are_exported_only_with_the_jobs_key(tmp_path, monkeypatch):
    stage = LearnerStage(["br-nb"], seed=3, window=50, model_size_every=10**6)
    stage.process(positioned(YEAST[:100], 0))
    CheckpointStore(str(tmp_path / "ckpt" / "learner-0"), key=b"s3cret").save(
        {"format": CHECKPOINT_FORMAT, "owner": ["br-nb"], **stage._state()}
    )
    assert export_model(str(tmp_path / "ckpt"), key=b"s3cret").learned == 100
    with pytest.raises(CheckpointError, match="no intact learner checkpoint signed with the job's key"):
        export_model(str(tmp_path / "ckpt"), key=b"other")

    app = typer.Typer()
    cli_ops.register(app)
    monkeypatch.setenv("TAGSTREAM_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setenv("TAGSTREAM_CHECKPOINT_KEY", "s3cret")
    signed = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "model.pkl")])
    assert signed.exit_code == 0, signed.output
    monkeypatch.setenv("TAGSTREAM_CHECKPOINT_KEY", "wrong")
    refused = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "model.pkl")])
    assert refused.exit_code == 1 and "signed with the job's key" in refused.output
    monkeypatch.delenv("TAGSTREAM_CHECKPOINT_DIR")
    monkeypatch.delenv("TAGSTREAM_CHECKPOINT_KEY")
    nowhere = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "model.pkl")])
    assert nowhere.exit_code == 2 and "no checkpoint folder" in nowhere.output
