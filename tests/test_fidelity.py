"""The fidelity harness (benchmarks/fidelity.py) end to end, with a stand-in for the reference checkout.

The stand-in is a folder laid out like the reference repository (``code/multioutput/mlhat.py``)
whose ``MLHAT`` is our no-change baseline, so the side by side must show the gap between no-change
and our MLHAT, computed from two separate runs: the stand-in's in a child process.
"""

import json
import pathlib
import subprocess
import sys

import pytest

from learners.evaluate import Prequential
from learners.registry import make
from stream.datasets import open_dataset

REPO = pathlib.Path(__file__).parent.parent

STAND_IN = '''
from learners.no_change import NoChange


class MLHAT(NoChange):
    def predict_one(self, x):
        # The reference answers with a value per label (its argmax), not necessarily a bool.
        return {label: int(on) for label, on in super().predict_one(x).items()}
'''


def test_the_harness_runs_the_reference_apart_and_puts_both_side_by_side(tmp_path):
    (tmp_path / "code" / "multioutput").mkdir(parents=True)
    (tmp_path / "code" / "multioutput" / "__init__.py").write_text("")
    (tmp_path / "code" / "multioutput" / "mlhat.py").write_text(STAND_IN)
    results = tmp_path / "fidelity.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/fidelity.py", "--reference", str(tmp_path), "--datasets", "flags",
         "--limit", "120", "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(results.read_text())["runs"]["flags"]
    expected = {}
    for name in ("no-change", "mlhat"):
        stream = (item for _, item in zip(range(120), open_dataset("flags")))
        expected[name] = Prequential({name: make(name, seed=1)}, report_every=None).run(stream)[name].cumulative
    assert run["reference"]["instances"] == run["ours"]["instances"] == 120
    assert run["reference"]["scores"]["micro_f1"] == pytest.approx(expected["no-change"]["micro_f1"])
    assert run["ours"]["scores"]["micro_f1"] == pytest.approx(expected["mlhat"]["micro_f1"])
    markdown = results.with_suffix(".md").read_text()
    assert "| flags | 120 |" in markdown


def test_a_folder_without_the_reference_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/fidelity.py", "--reference", str(tmp_path), "--results", str(tmp_path / "f.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0 and "holds no code/multioutput/mlhat.py" in done.stderr


def test_seeds_run_both_sides_per_seed_and_tabulate_their_spread(tmp_path):
    (tmp_path / "code" / "multioutput").mkdir(parents=True)
    (tmp_path / "code" / "multioutput" / "__init__.py").write_text("")
    (tmp_path / "code" / "multioutput" / "mlhat.py").write_text(STAND_IN)
    results = tmp_path / "fidelity.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/fidelity.py", "--reference", str(tmp_path), "--datasets", "flags",
         "--limit", "80", "--seeds", "2", "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(results.read_text())
    assert "flags" not in document["runs"]  # --seeds runs the seed table only
    run = document["seed_runs"]["flags"]
    assert run["instances"] == 80 and len(run["reference"]) == len(run["ours"]) == 2
    for seed, scores in enumerate(run["ours"]):
        stream = (item for _, item in zip(range(80), open_dataset("flags")))
        expected = Prequential({"mlhat": make("mlhat", seed=seed)}, report_every=None).run(stream)["mlhat"].cumulative
        assert scores["micro_f1"] == pytest.approx(expected["micro_f1"])
    markdown = results.with_suffix(".md").read_text()
    assert "## Over seeds" in markdown and "| flags | 80 | 2 |" in markdown
