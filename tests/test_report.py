"""evaluate's plot (one style per learner, windowed then cumulative, auto-scaled, drift marked) and its HTML report."""

from __future__ import annotations

import base64
import re

import pytest
import typer
from typer.testing import CliRunner

from jobs import cli_offline, report
from jobs.html_report import report_html, write_html_report
from learners.base import DriftEvent, MultiLabelClassifier
from learners.evaluate import Prequential


class Fixed(MultiLabelClassifier):
    """Predicts label a with a fixed probability; reports a global drift at instance ``drift_at``."""

    def __init__(self, p: float, drift_at: int | None = None):
        super().__init__()
        self.p = p
        self.drift_at = drift_at
        self._n = 0

    def learn_one(self, x, y):
        self._n += 1
        if self._n == self.drift_at:
            self._emit(DriftEvent("fixed", "global", "drift", self._n))
        if self._n == 7:
            self._emit(DriftEvent("fixed", "local", "split", self._n, node="root"))

    def predict_proba_one(self, x):
        return {"a": self.p, "b": 0.0}


STREAM = [({"i": float(i)}, {"a": i % 3 != 0, "b": i % 5 == 0}) for i in range(60)]


@pytest.fixture
def results():
    learners = {f"l{i}": Fixed(0.9 if i % 2 else 0.2, drift_at=20 if i == 1 else None) for i in range(12)}
    return Prequential(learners, report_every=5, window=10).run(STREAM)


def test_every_learner_has_its_own_colour_and_marker_in_every_panel(results):
    figure = report.curves_figure(report.DatasetSummary("toy", 60, 1, 2), results, window=10)
    axes = figure.axes
    assert len(axes) == 2 * len(report.HEADLINE)
    for ax in axes:
        styles = {line.get_label(): (line.get_color(), line.get_marker()) for line in ax.get_lines() if line.get_label() in results}
        assert set(styles) == set(results)
        assert len(set(styles.values())) == len(results)  # no two learners look alike
    assert [ax.get_title() for ax in axes[:2]] == ["subset accuracy, last 10 instances", "Hamming loss (lower is better), last 10 instances"]
    assert all(ax.get_title().endswith("cumulative") for ax in axes[len(report.HEADLINE):])


def test_axes_are_scaled_to_the_values_and_global_drift_is_marked(results):
    figure = report.curves_figure(report.DatasetSummary("toy", 60, 1, 2), results)
    for ax in figure.axes:
        values = [y for line in ax.get_lines() if line.get_label() in results for y in line.get_ydata()]
        low, high = ax.get_ylim()
        assert low <= min(values) and high >= max(values)
        assert high - low <= 1.2 * (max(values) - min(values)) + 1e-9  # not a fixed 0..1 axis
        drift_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert [line.get_xdata()[0] for line in drift_lines] == [20]
        assert drift_lines[0].get_color() == report.learner_styles(results)["l1"]["color"]


def test_html_report_is_self_contained_with_the_plot_and_the_table(results, tmp_path):
    path = tmp_path / "shared" / "report.html"
    write_html_report(path, report.DatasetSummary("toy", 60, 1, 2), results, window=10)
    page = path.read_text()
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing loaded from outside the file
    assert "<script" not in page
    (uri,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(uri)[:8] == b"\x89PNG\r\n\x1a\n"
    for name, result in results.items():
        assert f"<td>{name}</td>" in page
        assert f"{result.cumulative['micro_f1']:.4f}" in page
    assert page.count('class="best"') >= len(report.HEADLINE)
    assert "<td>l1</td><td>global</td><td>drift</td><td>1</td><td>20</td>" in page


def test_learner_names_are_escaped(tmp_path):
    results = Prequential({"<b>x</b>": Fixed(0.5)}, report_every=10).run(STREAM)
    page = report_html(report.DatasetSummary("<toy>", 60, 1, 2), results)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "&lt;toy&gt;" in page


def test_evaluate_writes_the_html_report(tmp_path):
    app = typer.Typer()
    cli_offline.register(app)
    out = CliRunner().invoke(
        app,
        ["evaluate", "--dataset", "yeast", "--learner", "majority,no-change", "--limit", "100", "--out", str(tmp_path / "o"),
         "--report", str(tmp_path / "r.html")],
    )
    assert out.exit_code == 0, out.output
    page = (tmp_path / "r.html").read_text()
    assert "yeast: 100 instances" in page and "<td>no-change</td>" in page
    assert (tmp_path / "o" / "curves.png").read_bytes()[:4] == b"\x89PNG"
