"""What ``tagstream run`` shows: plain progress lines off a terminal, the final table at any width, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from rich.console import Console

from jobs.logging_setup import setup_logging
from jobs.pipeline.progress import Summary
from jobs.run_views import ProgressLog, progress_fields, progress_line, summary_view
from jobs.telemetry import PipelineMetrics

HEADERS = ("learned", "subset accuracy", "hamming loss", "example f1", "micro f1", "macro f1", "w. example f1", "KiB")


def finished_summary() -> Summary:
    def result(learned, base, model_bytes):
        scores = {
            "subset_accuracy": base,
            "hamming_loss": base / 3,
            "example_f1": base + 0.4,
            "micro_f1": base + 0.41,
            "macro_f1": base + 0.2,
        }
        return {"learned": learned, "cumulative": scores, "window": {"example_f1": base + 0.45}, "model_bytes": model_bytes}

    return Summary(
        records_in=1_234_567,
        records_good=1_234_560,
        predictions_out=1_234_560,
        dead_letters={"json": 7},
        seconds=3600.5,
        active_seconds=3599.0,
        learners={
            "majority": result(1_234_560, 0.0925, 43_008),
            "br-aboostlr": result(1_234_560, 0.1433, 987_654_321),
            "ihomer": result(1_234_560, 0.2178, 123_456_789),
        },
        serving="br-aboostlr",
    )


def render(summary: Summary, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(summary_view(summary, console))
    return console.file.getvalue()


def expected_cells(summary: Summary) -> list[str]:
    cells = []
    for result in summary.learners.values():
        cells.append(f"{result['learned']:,}")
        cells += [f"{value:.4f}" for value in result["cumulative"].values()]
        cells.append(f"{result['window']['example_f1']:.4f}")
        cells.append(f"{result['model_bytes'] / 1024:,.0f}")
    return cells


@pytest.mark.parametrize("width", [80, 200])
def test_the_final_table_never_cuts_a_header_a_name_or_a_number(width):
    summary = finished_summary()
    shown = render(summary, width)
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= width
    lines = shown.splitlines()
    for text in [*summary.learners, *HEADERS, *expected_cells(summary), "1,234,567"]:
        assert any(text in line for line in lines), f"{text!r} is not shown whole at {width} columns:\n{shown}"


def test_the_run_table_shows_the_monitors_drift_alerts_apart_from_the_learners_events():
    summary = finished_summary()
    summary.drift_alerts = {"drift/concept": 2, "warning/prior": 3}
    summary.drift_events = {"ihomer": {"global/split": 9}}
    lines = [" ".join(line.split()) for line in render(summary, 120).splitlines()]
    assert "drift alerts: drift/concept 2" in lines and "drift alerts: warning/prior 3" in lines
    assert "learner events: ihomer global/split 9" in lines


def test_wide_terminals_get_one_table_and_narrow_ones_a_block_per_learner():
    summary = finished_summary()
    wide = render(summary, 200).splitlines()
    row = next(line for line in wide if "br-aboostlr" in line and "0.1433" in line)
    assert "964,506" in row  # the whole row on one line
    narrow = [line.strip() for line in render(summary, 80).splitlines()]
    assert not any("br-aboostlr" in line and "0.1433" in line for line in narrow)
    block = narrow[narrow.index("br-aboostlr") :]
    assert block[1].split() == ["learned", "1,234,560"]
    assert block[2].split() == ["subset", "accuracy", "0.1433"]


def test_progress_fields_carry_lag_dead_letters_and_the_serving_learner():
    metrics = PipelineMetrics()
    metrics.observe_lag({0: 40, 1: 2})
    lines = []
    progress = ProgressLog(lambda fields: lines.append(progress_line(fields)), ["mlhat", "br-ht"], metrics, clock=lambda: 0.0)
    summary = Summary(records_in=900, predictions_out=850, dead_letters={"json": 3, "schema": 1}, active_seconds=3.0)
    summary.serving = "br-ht"  # after a champion switch
    progress(summary, {"mlhat": {"example_f1": 0.5, "subset_accuracy": 0.1}, "br-ht": {"example_f1": 0.61234}})
    assert lines == [
        "progress records_in=900 records_per_s=300.0 lag=42 dead_letters=4 predictions_out=850 serving=br-ht "
        "mlhat.example_f1=0.5 mlhat.subset_accuracy=0.1 br-ht.example_f1=0.6123"
    ]
    progress(summary, {})  # within every_s of the first: not shown
    assert len(lines) == 1


def test_lag_is_unknown_until_sampled_and_serving_starts_with_the_first_learner():
    fields = progress_fields(Summary(), {}, ["ihomer", "mlhat"], lag=None)
    assert (fields["lag"], fields["serving"]) == (None, "ihomer")
    assert "lag=- " in progress_line(fields)


def test_json_log_lines(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(verbose=True, log_format="json")
        logging.getLogger("jobs.test").info("run done", extra={"records": 3, "learner": "br-ht"})
        try:
            raise ValueError("bad value")
        except ValueError:
            logging.getLogger("jobs.test").exception("failed")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2  # the traceback stays inside its record's line
    done, failed = (json.loads(line) for line in lines)
    assert {key: done[key] for key in ("level", "logger", "msg", "records", "learner")} == {
        "level": "info", "logger": "jobs.test", "msg": "run done", "records": 3, "learner": "br-ht"
    }  # fmt: skip
    assert failed["level"] == "error" and "ValueError: bad value" in failed["exc"]


def test_the_ray_job_logs_the_same_progress_fields(capsys):
    from jobs import ray_job

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    lines = []
    try:
        setup_logging(verbose=True, log_format="json")
        progress = ProgressLog(ray_job.log_progress, ["majority"], clock=lambda: 0.0)
        progress(Summary(records_in=12, predictions_out=10, dead_letters={"json": 2}, active_seconds=2.0), {})
        ProgressLog(lambda fields: lines.append(progress_line(fields)), ["majority"], clock=lambda: 0.0)(
            Summary(records_in=12, predictions_out=10, dead_letters={"json": 2}, active_seconds=2.0), {}
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logged = json.loads(capsys.readouterr().err)
    assert logged["msg"] == "progress"
    plain = dict(item.split("=", 1) for item in lines[0].split()[1:])
    assert logged["lag"] is None  # JSON's null where the plain line shows "-"
    assert {key: "-" if logged[key] is None else str(logged[key]) for key in plain} == plain


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        setup_logging(log_format="xml")


@pytest.mark.integration
@pytest.mark.slow
def test_run_into_a_pipe_prints_progress_lines_and_the_whole_table_without_ray_noise(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    completed = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "run", "--learner", "majority,br-nb", "--limit", "300",
         "--metrics-port", "0", "--dashboard-port", "0", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "\x1b[" not in out  # no terminal control codes in a pipe
    progress = [line for line in out.splitlines() if line.startswith("progress ")]
    assert progress, out
    fields = dict(item.split("=", 1) for item in progress[0].split()[1:])
    assert {"records_in", "records_per_s", "lag", "dead_letters", "predictions_out", "serving"} <= set(fields)
    assert fields["serving"] in ("majority", "br-nb")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "…" not in out
    for learner, result in summary["learners"].items():
        assert learner in [line.strip() for line in out.splitlines()]  # stacked at the default 80 columns: the name on a line of its own
        for name in ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1"):
            assert f"{result['cumulative'][name]:.4f}" in out
    # Ray's own warnings (token authentication) and its prefixed actor output stay out without --verbose.
    assert "Token authentication" not in completed.stderr
    assert "pid=" not in completed.stderr
