"""Acceptance: ``tagstream evaluate --dataset D --learner all`` runs every learner to completion.

Every learner of the catalogue is evaluated through the CLI on the first instances of yeast,
emotions, scene and enron. Learners that train one river model per label (binary relevance) and
the chain of logistic regressions run at tens of instances per second on enron, the vectorised
learners at hundreds to thousands, so the two groups get their own ``--limit`` to keep the whole
module within a few minutes on two cores. The groups are derived from the catalogue, so a newly
registered learner is evaluated too.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from learners import registry

DATASETS = ("yeast", "emotions", "scene", "enron")

#: Instances evaluated per dataset for each group of learners.
LIMITS = {
    "one_model_per_label": {"yeast": 40, "emotions": 50, "scene": 40, "enron": 20},
    "vectorised": {"yeast": 400, "emotions": 400, "scene": 400, "enron": 300},
}


def _group(name: str) -> str:
    entry = registry.LEARNERS[name]
    return "one_model_per_label" if entry.family == "local" or name == "cc" else "vectorised"


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {group: [] for group in LIMITS}
    for name in registry.expand("all"):
        groups[_group(name)].append(name)
    return groups


def test_every_registered_learner_is_in_a_group():
    groups = _groups()
    assert sorted(name for names in groups.values() for name in names) == sorted(registry.LEARNERS)
    assert all(groups.values())


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_evaluate_runs_every_learner_to_completion(dataset, tmp_path):
    runner = CliRunner()
    for group, names in _groups().items():
        limit = LIMITS[group][dataset]
        out = tmp_path / group
        result = runner.invoke(
            app,
            # One snapshot at the end: measuring the size of big river ensembles takes seconds.
            ["evaluate", "--dataset", dataset, "--learner", ",".join(names), "--limit", str(limit),
             "--report-every", str(limit), "--out", str(out)],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        document = json.loads((out / "results.json").read_text())
        assert document["dataset"]["instances"] == limit
        assert set(document["learners"]) == set(names)
        for name, scores in document["learners"].items():
            assert scores["instances"] == limit, name
            for metric in ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1"):
                assert 0.0 <= scores[metric] <= 1.0, (name, metric, scores[metric])
            assert scores["instances_per_s"] > 0, name
            if registry.LEARNERS[name].family != "baseline":
                # Not trivially broken: it gets some of the labels that are on.
                assert scores["micro_f1"] > 0.0, (name, scores["micro_f1"])
