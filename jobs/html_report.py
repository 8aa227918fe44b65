"""A prequential evaluation as one self-contained HTML page, for sharing (``evaluate --report``).

The page holds the same plot as ``curves.png`` (embedded as a PNG data URI), the results table
(the best value of each score in bold) and the drift events of each learner by level and kind.
It loads nothing from anywhere: no script, no stylesheet, no font, no image outside the file.
"""

from __future__ import annotations

import base64
import collections
import datetime
import html
import io
import pathlib
import typing

from jobs.report import HEADLINE, SCORE_TITLES, DatasetSummary, curves_figure, readable_bytes
from learners.evaluate import LearnerResult
from learners.metrics import SCORES

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 110em; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; }
th { text-align: right; background: #f4f4f4; } th:first-child, td:first-child { text-align: left; }
td { text-align: right; } td.best { font-weight: bold; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.note { color: #555; font-size: 0.9em; }
"""


def _png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def results_rows(results: typing.Mapping[str, LearnerResult]) -> str:
    """The ``<tr>`` rows of the results table; the best value of each headline score is marked ``best``."""
    best = {}
    for score in HEADLINE:
        values = [result.cumulative[score] for result in results.values()]
        best[score] = max(values) if SCORES[score] else min(values)
    rows = []
    for name, result in results.items():
        cells = [f"<td>{html.escape(name)}</td>"]
        for score in HEADLINE:
            value = result.cumulative[score]
            marked = ' class="best"' if len(results) > 1 and value == best[score] else ""
            cells.append(f"<td{marked}>{value:.4f}</td>")
        cells += [
            f"<td>{result.instances_per_s:,.0f}</td>",
            f"<td>{readable_bytes(result.model_bytes)}</td>",
            f"<td>{result.seconds:.2f}</td>",
            f"<td>{len(result.events)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(rows)


def events_rows(results: typing.Mapping[str, LearnerResult]) -> str:
    rows = []
    for name, result in results.items():
        counts = collections.Counter((observed.event.level, observed.event.kind) for observed in result.events)
        for (level, kind), count in sorted(counts.items()):
            first = min(observed.position for observed in result.events if (observed.event.level, observed.event.kind) == (level, kind))
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(level)}</td><td>{html.escape(kind)}</td>"
                f"<td>{count}</td><td>{first:,}</td></tr>"
            )
    return "\n".join(rows)


def report_html(
    dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult], window: int | None = None, title: str | None = None
) -> str:
    """The whole page as a string."""
    title = title or f"{dataset.name}: prequential evaluation"
    figure = curves_figure(dataset, results, window)
    headers = "".join(f"<th>{html.escape(SCORE_TITLES[score])}</th>" for score in HEADLINE)
    events = events_rows(results)
    events_section = (
        "<h2>Drift events</h2>\n<table>\n<tr><th>learner</th><th>level</th><th>kind</th><th>events</th><th>first at</th></tr>\n"
        f"{events}\n</table>"
        if events
        else "<h2>Drift events</h2>\n<p>None of the learners reported one.</p>"
    )
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(dataset.name)}: {dataset.instances:,} instances, {dataset.features:,} features, {dataset.labels:,} labels.
Test-then-train: every instance is predicted first, then learned.</p>
<h2>Results</h2>
<table>
<tr><th>learner</th>{headers}<th>instances/s</th><th>model size</th><th>seconds</th><th>drift events</th></tr>
{results_rows(results)}
</table>
<p class="note">Scores are cumulative over the whole stream; the best of each is in bold. Seconds are spent
inside the learner's predict and learn calls; the model size is measured at the end.</p>
<h2>Scores over the stream</h2>
<p class="note">Top row: over the last {window or "window of"} instances; bottom row: cumulative. Each axis is scaled to
its values. Dashed lines: global drift events; ticks at the bottom: local ones, in the learner's colour.</p>
<img alt="scores of every learner over the stream, windowed then cumulative" src="{_png_data_uri(figure)}">
{events_section}
<p class="note">Written by tagstream on {created}.</p>
</body>
</html>
"""


def write_html_report(
    path: pathlib.Path, dataset: DatasetSummary, results: typing.Mapping[str, LearnerResult], window: int | None = None
) -> None:
    """Write :func:`report_html` to ``path`` (its folder is created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(dataset, results, window), encoding="utf-8")
