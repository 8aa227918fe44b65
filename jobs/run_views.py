"""What a running pipeline shows: progress while it runs and the summary at the end.

Three views of the same numbers:

* :class:`ProgressLog`, plain ``key=value`` progress lines at most every few seconds, for output
  that is not a terminal (``nohup``, CI, systemd, a pipe) and for the Ray job's log
  (:mod:`jobs.ray_job`): records, records/s, consumer lag, dead letters, serving learner and the
  windowed scores of each learner;
* :func:`progress_view`, the same totals and a table of windowed scores, redrawn in place on a
  terminal by ``tagstream run``;
* :func:`summary_view`, the end-of-run summary: one wide table of final scores when it fits the
  console, else one block per learner (stacked), so no header, name or number is ever cut.
"""

from __future__ import annotations

import time
import typing

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from jobs.pipeline.progress import Summary
from jobs.telemetry import PipelineMetrics

#: Least time between two plain progress lines.
PROGRESS_EVERY_S = 5.0

#: Scores shown live and in the summary, by their name in the learners' metric suites.
SHOWN_SCORES = ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1")

#: Windowed scores of each learner in a plain progress line (the line stays short).
LINE_SCORES = ("example_f1", "subset_accuracy")

_LAG_METRIC = "tagstream_consumer_lag_records"

_UNLIMITED = 1_000_000


def consumer_lag(metrics: PipelineMetrics | None) -> int | None:
    """Records behind the end of the input, summed over partitions, as last sampled; ``None`` before the first sample."""
    if metrics is None:
        return None
    for family in metrics.registry.collect():
        if family.name == _LAG_METRIC:
            values = [sample.value for sample in family.samples]
            return int(sum(values)) if values else None
    return None


def serving_learner(summary: Summary, learners: typing.Sequence[str]) -> str:
    """The learner serving the predictions (the pipeline keeps ``summary.serving`` current), else the first configured."""
    return summary.serving or learners[0]


def progress_fields(
    summary: Summary, window: typing.Mapping[str, dict], learners: typing.Sequence[str], lag: int | None
) -> dict:
    """The numbers of one progress line, in display order (``lag`` is ``None`` before it is sampled).

    Examples
    --------
    >>> summary = Summary(records_in=1200, predictions_out=1150, dead_letters={"json": 2}, active_seconds=4.0)
    >>> progress_fields(summary, {"mlhat": {"example_f1": 0.61234}}, ["mlhat"], lag=40)
    {'records_in': 1200, 'records_per_s': 300.0, 'lag': 40, 'dead_letters': 2, 'predictions_out': 1150, 'serving': 'mlhat', 'mlhat.example_f1': 0.6123}

    """
    fields = {
        "records_in": summary.records_in,
        "records_per_s": round(summary.records_per_s, 1),
        "lag": lag,
        "dead_letters": sum(summary.dead_letters.values()),
        "predictions_out": summary.predictions_out,
        "serving": serving_learner(summary, learners),
    }
    for learner in learners:
        for name in LINE_SCORES:
            value = window.get(learner, {}).get(name)
            if value is not None:
                fields[f"{learner}.{name}"] = round(value, 4)
    return fields


def progress_line(fields: typing.Mapping) -> str:
    """One plain line: ``progress key=value ...``, with ``-`` for a value not known yet.

    >>> progress_line({"records_in": 10, "lag": None, "serving": "br-ht"})
    'progress records_in=10 lag=- serving=br-ht'

    """
    return "progress " + " ".join(f"{key}={'-' if value is None else value}" for key, value in fields.items())


class ProgressLog:
    """``on_progress`` callback of the pipeline that emits the progress fields at most every ``every_s`` seconds.

    The first batch is always shown, so even a short run says that it started to process.

    Parameters
    ----------
    emit
        Called with the fields of :func:`progress_fields`: print them as a line, or log them.
    learners
        The learners side by side, in the configured order.
    metrics
        The run's metrics, read for the consumer lag that the driver samples into them.
    every_s
        Least time between two emissions.
    clock
        Monotonic clock, in seconds.

    Examples
    --------
    >>> ticks = iter([0.0, 1.0, 6.0])
    >>> lines = []
    >>> progress = ProgressLog(lambda fields: lines.append(progress_line(fields)), ["majority"], clock=lambda: next(ticks))
    >>> for records in (100, 200, 300):
    ...     progress(Summary(records_in=records), {})
    >>> lines
    ['progress records_in=100 records_per_s=0.0 lag=- dead_letters=0 predictions_out=0 serving=majority', 'progress records_in=300 records_per_s=0.0 lag=- dead_letters=0 predictions_out=0 serving=majority']

    """

    def __init__(
        self,
        emit: typing.Callable[[dict], None],
        learners: typing.Sequence[str],
        metrics: PipelineMetrics | None = None,
        every_s: float = PROGRESS_EVERY_S,
        clock: typing.Callable[[], float] = time.monotonic,
    ):
        self.emit = emit
        self.learners = list(learners)
        self.metrics = metrics
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        return True

    def __call__(self, summary: Summary, window: dict) -> None:
        if self.due():
            self.emit(progress_fields(summary, window, self.learners, consumer_lag(self.metrics)))


def progress_view(summary: Summary, window: dict, learners: list[str], lag: int | None = None) -> Group:
    """The live view on a terminal: running totals and the windowed scores of each learner."""
    # The drifts the monitor confirmed (tagstream.drift), not the learners' own bookkeeping events.
    drift = sum(count for key, count in summary.drift_alerts.items() if key.startswith("drift/"))
    totals = Text.assemble(
        "records in ", (f"{summary.records_in:,}", "bold"),
        "  ", (f"{summary.records_per_s:,.0f}", "bold"), "/s",
        "  lag ", ("-" if lag is None else f"{lag:,}", "bold"),
        "  predictions ", (f"{summary.predictions_out:,}", "bold"),
        "  dead letters ", (f"{sum(summary.dead_letters.values()):,}", "bold"),
        "  drift alerts ", (f"{drift:,}", "bold"),
        "  serving ", (serving_learner(summary, learners), "bold"),
    )  # fmt: skip
    scores = Table(title="windowed scores", title_justify="left", box=None)
    scores.add_column("learner", overflow="fold")
    for name in SHOWN_SCORES:
        scores.add_column(name.replace("_", " "), justify="right", overflow="fold")
    for learner in learners:
        values = window.get(learner, {})
        scores.add_row(escape(learner), *(f"{values[name]:.4f}" if name in values else "-" for name in SHOWN_SCORES))
    return Group(totals, scores)


class LiveProgress:
    """``on_progress`` callback redrawing :func:`progress_view` in a rich ``Live``."""

    def __init__(self, live, learners: list[str], metrics: PipelineMetrics | None = None):
        self.live = live
        self.learners = learners
        self.metrics = metrics

    def __call__(self, summary: Summary, window: dict) -> None:
        self.live.update(progress_view(summary, window, self.learners, consumer_lag(self.metrics)))


def _totals_table(summary: Summary) -> Table:
    totals = Table(title="run", title_justify="left", show_header=False, box=None)
    totals.add_column(overflow="fold")
    totals.add_column(justify="right", overflow="fold")
    totals.add_row("records in", f"{summary.records_in:,}")
    totals.add_row("records parsed", f"{summary.records_good:,}")
    totals.add_row("predictions out", f"{summary.predictions_out:,}")
    for reason, count in sorted(summary.dead_letters.items()):
        totals.add_row(f"dead letters: {escape(reason)}", f"{count:,}")
    for kind, count in sorted(summary.drift_alerts.items()):
        totals.add_row(f"drift alerts: {escape(kind)}", f"{count:,}")
    for learner, counts in summary.drift_events.items():
        for kind, count in sorted(counts.items()):
            totals.add_row(f"learner events: {escape(learner)} {escape(kind)}", f"{count:,}")
    for outcome, count in summary.label_join.items():
        if outcome != "joined" or count:
            totals.add_row(f"late labels: {outcome.replace('_', ' ')}", f"{count:,}")
    if summary.serving is not None:
        totals.add_row("serving learner", f"{escape(summary.serving)} ({len(summary.champion_switches)} switches)")
    if summary.checkpoints or summary.recoveries:
        totals.add_row("checkpoints / recoveries", f"{summary.checkpoints:,} / {summary.recoveries:,}")
    if summary.broker_outages:
        totals.add_row("broker unavailable", f"{summary.broker_outages:,} times, {summary.broker_unavailable_s:,.0f} s")
    if summary.offset_gaps:
        totals.add_row("offsets out of range", f"{summary.offset_gaps:,} partitions (kafka.offsets_out_of_range)")
    if summary.dead_letters_lost:
        totals.add_row("dead letters lost", f"{summary.dead_letters_lost:,} (not even their head was taken; positions in the log)")
    totals.add_row("seconds", f"{summary.seconds:.1f}")
    totals.add_row("records/s", f"{summary.records_per_s:,.0f}")
    return totals


def _score_cells(result: dict) -> list[tuple[str, str]]:
    """A learner's final numbers as (header, cell) pairs, in the order of the table's columns."""
    cells = [("learned", f"{result['learned']:,}")]
    cells += [(name.replace("_", " "), f"{result['cumulative'].get(name, 0.0):.4f}") for name in SHOWN_SCORES]
    cells.append(("w. example f1", f"{result['window'].get('example_f1', 0.0):.4f}"))
    cells.append(("KiB", f"{result['model_bytes'] / 1024:,.0f}"))
    return cells


def _wide_scores(summary: Summary) -> Table:
    table = Table(title="final scores (cumulative; last window in the w. column)", title_justify="left")
    table.add_column("learner", no_wrap=True)
    for header, _ in _score_cells({"learned": 0, "cumulative": {}, "window": {}, "model_bytes": 0}):
        table.add_column(header, justify="right", no_wrap=True)
    for learner, result in summary.learners.items():
        table.add_row(_learner_name(summary, learner), *(cell for _, cell in _score_cells(result)))
    return table


def _learner_name(summary: Summary, learner: str) -> str:
    """A learner's name in the final scores; shadow learners (scored, never served) say so."""
    return escape(learner) + (" (shadow)" if learner in summary.shadow else "")


def _stacked_scores(summary: Summary) -> Group:
    blocks: list[RenderableType] = [Text("final scores (cumulative; last window in the w. row)")]
    for learner, result in summary.learners.items():
        block = Table(title=_learner_name(summary, learner), title_justify="left", title_style="bold", show_header=False, box=None)
        block.add_column(overflow="fold")
        block.add_column(justify="right", overflow="fold")
        for header, cell in _score_cells(result):
            block.add_row(header, cell)
        blocks.append(block)
    return Group(*blocks)


def summary_view(summary: Summary, console: Console) -> Group:
    """The end-of-run summary for ``console``: totals, then the final scores wide when they fit, else stacked."""
    scores: RenderableType = _wide_scores(summary)
    # Measured without the console's limit: the width the table needs with nothing folded or cut.
    if console.measure(scores, options=console.options.update(max_width=_UNLIMITED)).maximum > console.width:
        scores = _stacked_scores(summary)
    return Group(_totals_table(summary), scores)
