"""Drift alerts offline: the monitor beside the prequential evaluator, events.jsonl, and --dataset synthetic."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from jobs.drift_events import DriftRecorder, label_clusters
from learners import registry
from learners.drift import DriftMonitor
from learners.evaluate import Prequential
from stream.datasets import open_dataset
from stream.synthetic import DriftingMultiLabelStream

PRIOR_DRIFT = "synthetic:kind=prior,at=2500,n=4000,labels=6,groups=2,seed=3"


def test_the_recorder_sees_every_instance_with_each_learners_prediction_before_learning():
    stream = DriftingMultiLabelStream(300, 4, 5, seed=1)
    seen = []
    learners = {"majority": registry.make("majority", seed=1), "br-nb": registry.make("br-nb", seed=1)}
    Prequential(learners, label_delay=3, observer=lambda i, x, y, p: seen.append((i, sorted(p)))).run(stream)
    assert [i for i, _ in seen] == list(range(300)) and all(names == ["br-nb", "majority"] for _, names in seen)


def test_a_prior_drift_offline_gives_one_prior_alert_at_instance_positions(tmp_path):
    data = open_dataset(PRIOR_DRIFT)
    learners = {"majority": registry.make("majority", seed=1)}
    recorder = DriftRecorder(DriftMonitor(job="evaluate:synthetic"), learners)
    Prequential(learners, observer=recorder).run(data)
    alerts = [a for a in recorder.finish() if a.level == "drift" and a.kind == "prior"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert 2500 <= alert.last.index < 2750 and alert.last.offset is None
    assert set(alert.labels) <= set(data.changes[0].labels)
    path = recorder.write(tmp_path / "events.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(recorder.alerts) and lines[[l["event_id"] for l in lines].index(alert.event_id)]["kind"] == "prior"


def test_label_clusters_come_from_a_partitioning_learner_only():
    ihomer = registry.make("ihomer", seed=1)
    for x, y in DriftingMultiLabelStream(300, 4, 6, seed=2, n_groups=2):
        ihomer.learn_one(x, y)
    clusters = label_clusters(ihomer)
    assert clusters and set(clusters) <= {f"y{i}" for i in range(6)}
    assert label_clusters(registry.make("majority", seed=1)) is None


@pytest.fixture
def runner():
    return CliRunner()


def test_evaluate_on_a_synthetic_spec_writes_events_jsonl(runner, tmp_path):
    result = runner.invoke(app, ["evaluate", "--dataset", PRIOR_DRIFT, "--learner", "majority", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    drifts = [e for e in events if e["level"] == "drift" and e["kind"] == "prior"]
    assert len(drifts) == 1 and drifts[0]["window"]["last"]["partition"] is None
    assert 2500 <= drifts[0]["window"]["last"]["index"] < 2750 and drifts[0]["job"] == "evaluate:synthetic"
    assert "events.jsonl" in result.output


def test_a_bad_synthetic_spec_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(app, ["evaluate", "--dataset", "synthetic:kind=sideways", "--learner", "majority", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "bad synthetic spec" in result.output


def test_datasets_lists_the_synthetic_stream(runner):
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "synthetic" in result.output


def test_run_and_produce_replay_a_synthetic_spec_as_records():
    from jobs.produce import dataset_records

    records = list(dataset_records("synthetic:kind=birth,at=30,n=60,labels=4,groups=2,seed=1"))
    assert len(records) == 60 and records[0].id == "synthetic-0"
    assert all("y3" not in (r.labels or ()) for r in records[:30])  # the label born at 30
    assert any("y3" in (r.labels or ()) for r in records[30:])
