"""Write ``tagstream.json``, the Grafana dashboard of the pipeline's Prometheus metrics.

The dashboard is code so that its queries can be checked against the metrics the pipeline
exports (``tests/test_grafana.py``) and regenerated after a metric changes::

    .venv/bin/python dashboards/grafana/generate.py

Variables: ``datasource`` (a Prometheus data source), ``job`` (the scrape job or jobs) and
``learner``. Every query filters on ``job``; per-learner panels also on ``learner``.
"""

from __future__ import annotations

import json
import pathlib

OUT = pathlib.Path(__file__).with_name("tagstream.json")
UID = "tagstream-pipeline"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'
JOB_LEARNER = 'job=~"$job", learner=~"$learner"'
GRID_WIDTH = 24


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def panel(title: str, kind: str, targets: list[dict], unit: str, description: str, **field_defaults) -> dict:
    targets = [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, **field_defaults}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}, "tooltip": {"mode": "multi"}},
    }


def score_panel(name: str, title: str) -> dict:
    return panel(
        f"{title} (windowed)",
        "timeseries",
        [(f"tagstream_learner_{name}{{{JOB_LEARNER}}}", "{{learner}} ({{job}})")],
        "percentunit",
        f"{title} of each learner over its last window of labelled records.",
        min=0,
        max=1,
    )


def panels() -> list[dict]:
    rows = [
        [
            panel(
                "Throughput",
                "timeseries",
                [
                    (f"sum by (job) (rate(tagstream_records_in_total{{{JOB}}}[$__rate_interval]))", "records in ({{job}})"),
                    (f"sum by (job) (rate(tagstream_predictions_out_total{{{JOB}}}[$__rate_interval]))", "predictions ({{job}})"),
                ],
                "reqps",
                "Messages consumed and predictions published per second.",
            ),
            panel(
                "Consumer lag",
                "timeseries",
                [(f"sum by (job) (tagstream_consumer_lag_records{{{JOB}}})", "{{job}}")],
                "short",
                "Records between the consumers' positions and the end of the input topic, summed over partitions.",
            ),
            panel(
                "End-to-end latency",
                "timeseries",
                [
                    (
                        f"histogram_quantile({q}, sum by (job, le) (rate(tagstream_end_to_end_latency_seconds_bucket{{{JOB}}}[$__rate_interval])))",
                        f"p{round(q * 100)} ({{{{job}}}})",
                    )
                    for q in (0.5, 0.99)
                ],
                "s",
                "From a record's Kafka timestamp to its prediction acknowledged by the broker.",
            ),
        ],
        [
            score_panel("subset_accuracy", "Subset accuracy"),
            score_panel("example_f1", "Example-F1"),
            score_panel("hamming_loss", "Hamming loss"),
        ],
        [
            panel(
                "Drift alerts by kind",
                "timeseries",
                [
                    (f'sum by (kind) (increase(tagstream_drift_alerts_total{{{JOB}, level="drift"}}[$__rate_interval]))', "{{kind}}"),
                    (
                        f'sum(increase(tagstream_drift_alerts_total{{{JOB}, level="warning"}}[$__rate_interval]))',
                        "warnings (all kinds)",
                    ),
                ],
                "short",
                "Alerts of the drift monitor (tagstream.drift), drifts by kind, and its warnings. The learners' own "
                "structural events (splits, merges, serving changes, on tagstream.model-events) are not counted.",
                custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal"}},
            ),
            panel(
                "Label clusters",
                "timeseries",
                [(f"tagstream_label_clusters{{{JOB_LEARNER}}}", "{{learner}} ({{job}})")],
                "short",
                "Clusters of the label partition of learners that partition the labels (iHOMER).",
            ),
            panel(
                "Dead letters",
                "timeseries",
                [(f"sum by (reason) (increase(tagstream_dead_letters_total{{{JOB}}}[$__rate_interval]))", "{{reason}}")],
                "short",
                "Messages routed to the dead-letter topic, by reason.",
                custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal"}},
            ),
        ],
        [
            panel(
                "Checkpoint age",
                "stat",
                [(f"time() - max by (job) (tagstream_last_commit_timestamp_seconds{{{JOB}}})", "{{job}}")],
                "s",
                "Seconds since the last input offset commit, the point a restarted job resumes from.",
                thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 300}]},
            ),
            panel(
                "Batches in flight",
                "timeseries",
                [(f"sum by (job) (tagstream_in_flight_batches{{{JOB}}})", "{{job}}")],
                "short",
                "Micro-batches polled and not yet committed (the backpressure bound).",
            ),
            panel(
                "Model size",
                "timeseries",
                [(f"tagstream_model_bytes{{{JOB_LEARNER}}}", "{{learner}} ({{job}})")],
                "bytes",
                "Approximate in-memory size of each learner (sampled).",
            ),
        ],
        [
            panel(
                "Time per batch by stage (p99)",
                "timeseries",
                [
                    (
                        f"histogram_quantile(0.99, sum by (stage, le) (rate(tagstream_stage_duration_seconds_bucket{{{JOB}}}[$__rate_interval])))",
                        "{{stage}}",
                    )
                ],
                "s",
                "Time one micro-batch spends in each stage: consume (poll and parse), extract, learn (per learner actor), publish.",
            ),
            panel(
                "Checkpoint duration (p99)",
                "timeseries",
                [
                    (
                        f"histogram_quantile(0.99, sum by (job, le) (rate(tagstream_checkpoint_duration_seconds_bucket{{{JOB}}}[$__rate_interval])))",
                        "{{job}}",
                    )
                ],
                "s",
                "Time a checkpoint takes: batches in flight finished, every stage written, offsets committed.",
            ),
            panel(
                "Serving learner",
                "state-timeline",
                [(f"tagstream_serving_learner{{{JOB_LEARNER}}} == 1", "{{learner}} ({{job}})")],
                "short",
                "Which learner's predictions are published (champion/challenger); shadow learners never serve.",
            ),
        ],
        [
            panel(
                "Late labels",
                "timeseries",
                [
                    (f"sum by (outcome) (increase(tagstream_label_join_total{{{JOB}}}[$__rate_interval]))", "{{outcome}}"),
                    (f"sum by (side) (tagstream_label_join_waiting{{{JOB}}})", "waiting {{side}}"),
                ],
                "short",
                "Records joined with labels that came later, expired or unmatched, and what waits in the join buffer.",
            ),
            panel(
                "Driver CPU",
                "timeseries",
                [(f"rate(process_cpu_seconds_total{{{JOB}}}[$__rate_interval])", "{{job}}")],
                "percentunit",
                "CPU used by the driver process (the actors' processes are in Ray's own metrics).",
            ),
            panel(
                "Driver memory",
                "timeseries",
                [(f"process_resident_memory_bytes{{{JOB}}}", "{{job}}")],
                "bytes",
                "Resident memory of the driver process.",
            ),
        ],
    ]
    out, panel_id = [], 1
    for row, row_panels in enumerate(rows):
        width = GRID_WIDTH // len(row_panels)
        for column, item in enumerate(row_panels):
            item["id"] = panel_id
            item["gridPos"] = {"h": 8, "w": width, "x": column * width, "y": row * 8}
            out.append(item)
            panel_id += 1
    return out


def variable(name: str, label: str, query: str) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> dict:
    return {
        "uid": UID,
        "title": "tagstream pipeline",
        "description": "Throughput, lag, latency, windowed quality, drift, label clusters, stage times, late labels and the serving learner of tagstream jobs.",
        "tags": ["tagstream"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                variable("job", "Job", "label_values(tagstream_records_in_total, job)"),
                variable("learner", "Learner", 'label_values(tagstream_learner_example_f1{job=~"$job"}, learner)'),
            ]
        },
        "annotations": {
            "list": [
                {
                    "name": "Drift",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "red",
                    "expr": f'sum by (kind) (increase(tagstream_drift_alerts_total{{{JOB}, level="drift"}}[1m])) > 0',
                    "step": "1m",
                    "titleFormat": "drift",
                    "textFormat": "{{kind}}",
                }
            ]
        },
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
