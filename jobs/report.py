"""Files that record a prequential evaluation: ``results.json``, the snapshot curves and a plot
(an HTML report for sharing is in :mod:`jobs.html_report`).

``results.json`` has the shape every tool of the project reads::

    {"dataset": {"name", "instances", "features", "labels"},
     "learners": {name: {"subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1",
                         "instances_per_s", "model_bytes", "seconds", ...more}}}

``dataset.instances`` is the number of instances evaluated (a ``--limit`` shortens it).
``seconds`` is the wall time spent inside the learner's ``predict_one`` and ``learn_one`` calls,
``instances_per_s`` the instances scored divided by it, and ``model_bytes`` the model's size at
the end of the stream. The scores are cumulative over the whole stream. Each learner also carries the other cumulative scores, its ``instances``, the scores of the last
window (``window``), its ``per_label_f1`` and its drift ``events``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import pathlib
import typing

from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from learners.evaluate import LearnerResult
from learners.metrics import SCORES

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CURVES_FILE = "curves.csv"
PLOT_FILE = "curves.png"

#: The scores of the summary table and of the plot, in order.
HEADLINE = ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1")


def readable_bytes(size: float) -> str:
    """A model size as people read it, in the tables of ``evaluate`` and the HTML report.

    >>> readable_bytes(512), readable_bytes(1536), readable_bytes(3 * 1024**3)
    ('512 B', '1.5 KiB', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclasses.dataclass(frozen=True)
class DatasetSummary:
    """The ``dataset`` entry of ``results.json``."""

    name: str
    instances: int
    features: int
    labels: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    results: pathlib.Path
    curves: pathlib.Path
    plot: pathlib.Path


def learner_entry(result: LearnerResult) -> dict:
    """One learner's entry of ``results.json``."""
    return {
        **{name: result.cumulative[name] for name in SCORES},
        "instances_per_s": result.instances_per_s,
        "model_bytes": result.model_bytes,
        "seconds": result.seconds,
        "instances": result.instances,
        "window": dict(result.window),
        "per_label_f1": {str(label): f1 for label, f1 in result.per_label_f1.items()},
        "events": [observed.to_dict() for observed in result.events],
    }


def results_document(dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult]) -> dict:
    """The content of ``results.json``."""
    return {"dataset": dataset.to_dict(), "learners": {name: learner_entry(result) for name, result in results.items()}}


def _json_default(value):
    # Learners may leave numpy scalars in event details.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str)
    return str(value)


def write_results(path: pathlib.Path, dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult]) -> None:
    path.write_text(json.dumps(results_document(dataset, results), indent=2, default=_json_default) + "\n")


CURVE_COLUMNS = (
    ["learner", "instances", "seconds", "instances_per_s", "model_bytes", "events"]
    + list(SCORES)
    + [f"window_{name}" for name in SCORES]
)


def _blank_if_none(value) -> str:
    return "" if value is None else str(value)


def write_curves(path: pathlib.Path, results: typing.Mapping[str, LearnerResult]) -> None:
    """One CSV row per learner and snapshot: cumulative scores, then ``window_`` scores.

    ``model_bytes`` is blank at snapshots where the evaluator skipped measuring it.
    """
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CURVE_COLUMNS)
        for name, result in results.items():
            for snapshot in result.snapshots:
                writer.writerow(
                    [name, snapshot.instances, f"{snapshot.seconds:.6f}", f"{snapshot.instances_per_s:.3f}", _blank_if_none(snapshot.model_bytes), len(snapshot.events)]
                    + [f"{snapshot.cumulative[score]:.6f}" for score in SCORES]
                    + [f"{snapshot.window[score]:.6f}" if score in snapshot.window else "" for score in SCORES]
                )


#: Markers, one per learner (with the colour), so that a line hidden under another still shows.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")

#: Markers drawn along each curve, at most.
MARKS_PER_CURVE = 12

#: Score names as the plot and the HTML report title them.
SCORE_TITLES = {
    "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss (lower is better)",
    "example_f1": "example-F1",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
}


def learner_styles(names: typing.Iterable[str]) -> dict[str, dict]:
    """One colour and one marker per learner, in order, distinct for up to 10 x 12 learners.

    >>> styles = learner_styles(["a", "b"])
    >>> styles["a"], styles["b"]
    ({'color': 'C0', 'marker': 'o'}, {'color': 'C1', 'marker': 's'})

    """
    return {name: {"color": f"C{i % 10}", "marker": MARKERS[(i + i // 10) % len(MARKERS)]} for i, name in enumerate(names)}


def curves_figure(dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult], window: int | None = None) -> Figure:
    """The headline scores over the stream: windowed on the top row, cumulative on the bottom row.

    Every learner keeps one colour and one marker in every panel, and each panel's y axis is
    scaled to the values drawn (differences of a few hundredths stay visible). Drift events are
    marked in the learner's colour: global ones as dashed vertical lines, local ones (a node, a
    label, a member) as ticks along the bottom of each panel.
    """
    styles = learner_styles(results)
    figure = Figure(figsize=(4.0 * len(HEADLINE), 8.5), layout="constrained")
    axes = figure.subplots(2, len(HEADLINE), sharex=True)
    kinds = (("window", f"last {window} instances" if window else "windowed"), ("cumulative", "cumulative"))
    for row, (kind, caption) in zip(axes, kinds):
        for ax, score in zip(row, HEADLINE):
            for name, result in results.items():
                points = [(s.instances, getattr(s, kind).get(score)) for s in result.snapshots]
                points = [(x, y) for x, y in points if y is not None]
                if points:
                    every = max(1, len(points) // MARKS_PER_CURVE)
                    ax.plot(*zip(*points), label=name, linewidth=1.4, markersize=5, markevery=every, **styles[name])
                _mark_events(ax, result, styles[name]["color"])
            ax.set_title(f"{SCORE_TITLES[score]}, {caption}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.margins(y=0.08)
    for ax in axes[-1]:
        ax.set_xlabel("instances scored")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8), fontsize=9)
    figure.suptitle(
        f"{dataset.name}: {dataset.instances} instances, {dataset.features} features, {dataset.labels} labels "
        "(dashed: global drift events, ticks: local events)",
        fontsize=11,
    )
    return figure


def plot_curves(path: pathlib.Path, dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult], window: int | None = None) -> None:
    """Write :func:`curves_figure` as a PNG."""
    curves_figure(dataset, results, window).savefig(path, dpi=100)


def _mark_events(ax, result: LearnerResult, colour: str) -> None:
    global_at = [observed.position for observed in result.events if observed.event.level == "global"]
    local_at = [observed.position for observed in result.events if observed.event.level != "global"]
    for position in global_at:
        ax.axvline(position, color=colour, linestyle="--", linewidth=0.8, alpha=0.6)
    if local_at:
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(local_at, [0.015] * len(local_at), linestyle="none", marker="|", markersize=7, color=colour, alpha=0.6, transform=bottom)


def write_report(
    out_dir: pathlib.Path, dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult], window: int | None = None
) -> ReportFiles:
    """Write ``results.json``, ``curves.csv`` and ``curves.png`` into ``out_dir`` (created if needed).

    ``window`` is the size of the windowed scores' window, for the plot's titles.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(results=out_dir / RESULTS_FILE, curves=out_dir / CURVES_FILE, plot=out_dir / PLOT_FILE)
    write_results(files.results, dataset, results)
    write_curves(files.curves, results)
    plot_curves(files.plot, dataset, results, window)
    logger.info("report written", extra={"out_dir": str(out_dir), "learners": len(results)})
    return files
