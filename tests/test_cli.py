"""The offline CLI (datasets, learners, evaluate, inspect), its report files and its logging."""

import csv
import json
import logging
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from jobs import report
from jobs.cli import app
from jobs.logging_setup import KeyValueFormatter, setup_logging
from learners import registry
from learners.base import DriftEvent, MultiLabelClassifier
from learners.evaluate import Prequential
from learners.metrics import SCORES
from stream.datasets import DATASETS, open_dataset

REQUIRED_LEARNER_KEYS = {
    "subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1", "instances_per_s", "model_bytes", "seconds",
}  # fmt: skip
TABLE_HEADERS = ("subset", "Hamming", "example", "micro", "macro", "instances/s", "model", "seconds")

TINY_ARFF = """@relation tiny
@attribute f1 numeric
@attribute f2 numeric
@attribute a {0,1}
@attribute b {0,1}
@data
0.1,0.2,1,0
0.3,0.1,0,1
0.5,0.5,1,1
0.2,0.9,0,0
0.7,0.3,1,0
"""


class Constant(MultiLabelClassifier):
    def learn_one(self, x, y):
        pass

    def predict_proba_one(self, x):
        return {}


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    # A wide terminal keeps rich from folding the table; errors go to result.stderr.
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def check_results_schema(document: dict, learners: list[str]) -> None:
    assert set(document) == {"dataset", "learners"}
    assert set(document["dataset"]) == {"name", "instances", "features", "labels"}
    assert list(document["learners"]) == learners
    for entry in document["learners"].values():
        assert REQUIRED_LEARNER_KEYS <= set(entry)
        for score in SCORES:
            assert 0.0 <= entry[score] <= 1.0
        assert entry["model_bytes"] > 0
        assert entry["seconds"] > 0


def test_learners_lists_every_registered_learner(runner):
    result = invoke(runner, "learners")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(registry.LEARNERS)
    for line, (name, entry) in zip(lines, registry.LEARNERS.items()):
        assert line.split()[:2] == [name, entry.family]
        assert line.endswith(entry.description)


def test_datasets_lists_every_registered_dataset_with_its_shape(runner):
    result = invoke(runner, "datasets")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip() and line.split()[0] in DATASETS}
    assert set(rows) == set(DATASETS)
    assert rows["yeast"][1:4] == ["2,417", "103", "14"]
    assert rows["yeast"][-1] == "bundled"
    assert all(row[-1] in {"bundled", "available", "missing"} for row in rows.values())


def test_evaluate_writes_the_report_and_prints_the_table(runner, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        runner, "evaluate", "--dataset", "flags", "--learner", "majority,br-nb", "--limit", "60",
        "--report-every", "20", "--window", "10", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for header in TABLE_HEADERS:
        assert header in result.stdout
    assert "flags: 60 instances, 19 features, 7 labels" in result.stdout
    document = json.loads((out / "results.json").read_text())
    check_results_schema(document, ["majority", "br-nb"])
    assert document["dataset"] == {"name": "flags", "instances": 60, "features": 19, "labels": 7}
    majority = document["learners"]["majority"]
    assert majority["instances"] == 60
    assert set(majority["window"]) == set(SCORES)
    assert f"{majority['subset_accuracy']:.4f}" in result.stdout
    with (out / "curves.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [(row["learner"], row["instances"]) for row in rows] == [
        (name, str(n)) for name in ("majority", "br-nb") for n in (20, 40, 60)
    ]
    assert float(rows[-1]["micro_f1"]) == pytest.approx(document["learners"]["br-nb"]["micro_f1"], abs=1e-6)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_all_runs_every_registered_learner(runner, tmp_path, monkeypatch):
    catalogue = {name: registry.LEARNERS[name] for name in ("majority", "br-nb")}
    monkeypatch.setattr(registry, "LEARNERS", catalogue)
    result = invoke(runner, "evaluate", "-d", "flags", "-l", "all", "--limit", "20", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert list(json.loads((tmp_path / "results.json").read_text())["learners"]) == ["majority", "br-nb"]
    # Without --report-every the stream gets up to 50 snapshots: here one per instance.
    with (tmp_path / "curves.csv").open() as file:
        assert len(list(csv.DictReader(file))) == 2 * 20


def test_ctrl_c_stops_with_a_message_and_no_traceback(runner, tmp_path, monkeypatch):
    class Interrupting(Constant):
        def learn_one(self, x, y):
            raise KeyboardInterrupt

    entry = registry.LearnerEntry("interrupts on the first instance", "baseline", lambda seed: Interrupting())
    monkeypatch.setattr(registry, "LEARNERS", {"interrupting": entry})
    result = invoke(runner, "evaluate", "-d", "flags", "-l", "interrupting", "--out", str(tmp_path))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_evaluate_with_label_delay(runner, tmp_path):
    result = invoke(runner, "evaluate", "-d", "flags", "-l", "majority", "--limit", "30", "--label-delay", "5", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "labels 5 instances late" in result.stdout
    assert json.loads((tmp_path / "results.json").read_text())["learners"]["majority"]["instances"] == 30


def test_evaluate_with_shuffle_streams_a_seeded_permutation(runner, tmp_path):
    def first_instances(*args):
        result = invoke(runner, "evaluate", "-d", "flags", "-l", "no-change", "--limit", "40", *args, "--out", str(tmp_path))
        assert result.exit_code == 0, result.output
        return result.stdout, json.loads((tmp_path / "results.json").read_text())["learners"]["no-change"]

    in_order, scores_in_order = first_instances()
    once, scores_once = first_instances("--shuffle", "7")
    again, scores_again = first_instances("--shuffle", "7")
    other, scores_other = first_instances("--shuffle", "8")
    assert "shuffled with seed 7" in once and "shuffled" not in in_order
    assert {score: scores_once[score] for score in SCORES} == {score: scores_again[score] for score in SCORES}
    assert scores_once["instances"] == 40
    assert {scores_in_order["micro_f1"], scores_once["micro_f1"], scores_other["micro_f1"]} != {scores_once["micro_f1"]}


def test_evaluate_an_arff_file_by_path_with_labels(runner, tmp_path):
    path = tmp_path / "tiny.arff"
    path.write_text(TINY_ARFF)
    result = invoke(runner, "evaluate", "-d", str(path), "--labels", "2", "-l", "majority", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["dataset"] == {"name": "tiny", "instances": 5, "features": 2, "labels": 2}


def test_an_arff_file_without_label_information_asks_for_labels(runner, tmp_path):
    path = tmp_path / "tiny.arff"
    path.write_text(TINY_ARFF)
    result = invoke(runner, "evaluate", "-d", str(path), "-l", "majority", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "--labels N" in result.stderr
    assert "Traceback" not in result.output


def test_a_bad_row_is_a_data_error_naming_file_and_line(runner, tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text(TINY_ARFF.replace("0.5,0.5,1,1", "0.5,oops,1,1"))
    result = invoke(runner, "evaluate", "-d", str(path), "--labels", "2", "-l", "majority", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "bad.arff:9" in result.stderr and "oops" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, complaint, valid",
    [
        (["evaluate", "-d", "no-such-set", "-l", "majority"], "unknown dataset 'no-such-set'", "yeast"),
        (["evaluate", "-d", "yeast", "-l", "majority,no-such-learner"], "unknown learner 'no-such-learner'", "mlhat"),
        (["inspect", "-d", "flags", "-l", "no-such-learner"], "unknown learner 'no-such-learner'", "ihomer"),
        (["inspect", "-d", "no-such-set"], "unknown dataset 'no-such-set'", "emotions"),
    ],
)
def test_unknown_names_exit_2_listing_valid_names(runner, args, complaint, valid):
    result = invoke(runner, *args)
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert valid in result.stderr
    assert "Traceback" not in result.output


def test_inspect_prints_the_structure_and_writes_it_as_json(runner, tmp_path):
    result = invoke(runner, "inspect", "-d", "flags", "-l", "ihomer", "--limit", "40", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    structure = json.loads((tmp_path / "structure.json").read_text())
    assert isinstance(structure, dict) and structure
    assert "ihomer after 40 instances of flags" in result.stdout
    # The printed structure is the learner's own rendering, trained the same way.
    model = registry.make("ihomer", seed=1)
    Prequential({"ihomer": model}, report_every=None).run(first_instances("flags", 40))
    assert model.render_text() in result.stdout
    described = json.loads(json.dumps(model.describe()))
    # Byte counts walk live objects, whose sizes (an instance dict's shared keys) depend on what the
    # process built before: equal structure, sizes within a percent.
    assert without_bytes(structure) == without_bytes(described)
    assert sizes(structure) == pytest.approx(sizes(described), rel=0.01)


def without_bytes(node):
    if isinstance(node, dict):
        return {key: without_bytes(value) for key, value in node.items() if key != "bytes"}
    if isinstance(node, list):
        return [without_bytes(value) for value in node]
    return node


def sizes(node) -> list[int]:
    if isinstance(node, dict):
        return [size for key, value in node.items() for size in ([value] if key == "bytes" else sizes(value))]
    if isinstance(node, list):
        return [size for value in node for size in sizes(value)]
    return []


def first_instances(name, n):
    return list(open_dataset(name).take(n))


def test_inspect_a_learner_without_structure_is_a_clear_error(runner):
    result = invoke(runner, "inspect", "-d", "flags", "-l", "majority")
    assert result.exit_code == 2
    assert "cannot show its structure" in result.stderr
    assert "ihomer" in result.stderr


def test_console_script_end_to_end(tmp_path):
    script = pathlib.Path(sys.executable).parent / "tagstream"
    completed = subprocess.run(
        [str(script), "evaluate", "--dataset", "emotions", "--learner", "majority", "--limit", "200", "--out", "tmp"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    document = json.loads((tmp_path / "tmp" / "results.json").read_text())
    check_results_schema(document, ["majority"])
    assert document["dataset"] == {"name": "emotions", "instances": 200, "features": 72, "labels": 6}
    table_row = next(line for line in completed.stdout.splitlines() if line.strip().startswith("majority"))
    assert table_row.split()[1] == f"{document['learners']['majority']['subset_accuracy']:.4f}"
    for header in TABLE_HEADERS:
        assert header in completed.stdout


# Report files, from hand-made results.


def results_with_events():
    class Eventful(MultiLabelClassifier):
        def __init__(self):
            self._n = 0

        def learn_one(self, x, y):
            self._n += 1
            if self._n == 3:
                self._emit(DriftEvent("eventful", "global", "drift", 3, detail={"p": np.float64(0.01)}))
            if self._n == 5:
                self._emit(DriftEvent("eventful", "local", "split", 5, labels=("a",), node="root"))

        def predict_proba_one(self, x):
            return {"a": 1.0}

    stream = [({"i": float(i)}, {"a": i % 2 == 0, "b": i % 3 == 0}) for i in range(8)]
    return Prequential({"eventful": Eventful()}, report_every=4, window=4).run(stream)


def test_results_json_carries_events_and_converts_numpy_values(tmp_path):
    results = results_with_events()
    dataset = report.DatasetSummary("toy", 8, 1, 2)
    files = report.write_report(tmp_path, dataset, results)
    document = json.loads(files.results.read_text())
    assert document["dataset"] == {"name": "toy", "instances": 8, "features": 1, "labels": 2}
    events = document["learners"]["eventful"]["events"]
    assert [(e["position"], e["level"], e["kind"]) for e in events] == [(3, "global", "drift"), (5, "local", "split")]
    assert events[0]["detail"] == {"p": 0.01}
    assert document["learners"]["eventful"]["per_label_f1"] == pytest.approx(results["eventful"].per_label_f1)
    with files.curves.open() as file:
        rows = list(csv.DictReader(file))
    assert [row["events"] for row in rows] == ["1", "1"]
    assert list(rows[0]) == report.CURVE_COLUMNS
    assert files.plot.stat().st_size > 10_000


def test_key_value_log_lines():
    record = logging.makeLogRecord({"name": "jobs.x", "levelname": "WARNING", "msg": "slow learner", "learner": "br-knn"})
    line = KeyValueFormatter().format(record)
    assert line.split(" ", 1)[1] == 'level=warning logger=jobs.x msg="slow learner" learner=br-knn'


def test_logging_is_quiet_unless_verbose():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(verbose=False)
        assert root.level == logging.WARNING
        setup_logging(verbose=True)
        assert root.level == logging.INFO
        assert len(root.handlers) == 1
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
