"""The Grafana dashboard: generated from code, and every query uses only metric names the pipeline exports."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re

import prometheus_client
import pytest
import yaml

from jobs.telemetry import PipelineMetrics

ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "dashboards" / "grafana" / "generate.py"
DASHBOARD = ROOT / "dashboards" / "grafana" / "tagstream.json"
ALERTS = ROOT / "dashboards" / "prometheus" / "alerts.yml"

#: Words of PromQL (functions, keywords) and label names our queries may use besides metric names.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "on", "and", "or", "unless", "offset", "bool",
    "rate", "increase", "histogram_quantile", "max_over_time", "time", "label_values",
}
LABEL_NAMES = {"job", "learner", "level", "kind", "reason", "le", "partition", "instance", "stage", "outcome", "side"}


def load_generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_metric_names() -> set[str]:
    """Sample names in the pipeline's real exposition, after every metric has been observed once."""
    metrics = PipelineMetrics(window=100)
    metrics.observe_consumed(3, {"json": 1})
    metrics.observe_lag({0: 5})
    metrics.observe_batch(3, 1)
    metrics.observe_published(3, [0.01])
    metrics.observe_commit()
    window = {"subset_accuracy": 0.5, "example_f1": 0.5, "hamming_loss": 0.1}
    metrics.observe_learner("ihomer", {"window": window, "events": {("global", "drift"): 1}, "label_clusters": 3, "model_bytes": 10})
    metrics.observe_label_join({"joined": 2, "expired_records": 0, "waiting_records": 1})
    metrics.observe_serving("ihomer")
    for stage in ("consume", "extract", "learn", "publish"):
        metrics.observe_stage(stage, 0.01)
    metrics.observe_checkpoint(0.5)
    text = prometheus_client.generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def metric_names_in(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that are neither PromQL words, label names nor inside strings."""
    stripped = re.sub(r'"[^"]*"', '""', expr)  # label values and regexes
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range durations, $__rate_interval
    stripped = re.sub(r"\$\w+", "", stripped)
    stripped = re.sub(r"\b\d+(\.\d+)?(ms|[smhdwy])?\b", "", stripped)  # numbers and offset durations
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped))
    return words - PROMQL_WORDS - LABEL_NAMES


def dashboard_queries(dashboard: dict) -> list[str]:
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    queries += [variable["query"]["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return queries


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_committed_dashboard_is_what_the_generator_writes():
    assert DASHBOARD.read_text() == load_generator().render(), "run: .venv/bin/python dashboards/grafana/generate.py"


def test_every_query_uses_only_metric_names_the_pipeline_exports(dashboard):
    exported = exported_metric_names()
    assert "tagstream_records_in_total" in exported and "tagstream_end_to_end_latency_seconds_bucket" in exported
    for expr in dashboard_queries(dashboard):
        names = metric_names_in(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} uses {sorted(names - exported)}, which the pipeline does not export"


def test_the_name_check_catches_a_metric_that_does_not_exist():
    exported = exported_metric_names()
    assert metric_names_in('rate(tagstream_records_total{job=~"$job"}[5m])') - exported == {"tagstream_records_total"}
    assert metric_names_in('sum by (le) (rate(tagstream_end_to_end_latency_seconds_bucket{job=~"a|b"}[1m]))') <= exported


def test_alert_rules_use_only_exported_metric_names_and_up():
    exported = exported_metric_names() | {"up"}
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    for rule in rules:
        names = metric_names_in(rule["expr"])
        assert names and names <= exported, f"{rule['alert']}: {sorted(names - exported)}"


def test_dashboard_has_the_panels_operators_asked_for(dashboard):
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert titles >= {
        "Throughput",
        "Consumer lag",
        "End-to-end latency",
        "Subset accuracy (windowed)",
        "Example-F1 (windowed)",
        "Hamming loss (windowed)",
        "Drift alerts by kind",
        "Label clusters",
        "Dead letters",
        "Checkpoint age",
        "Time per batch by stage (p99)",
        "Checkpoint duration (p99)",
        "Serving learner",
        "Late labels",
        "Driver CPU",
        "Driver memory",
    }
    latency = next(panel for panel in dashboard["panels"] if panel["title"] == "End-to-end latency")
    assert [target["expr"].split(",")[0] for target in latency["targets"]] == ["histogram_quantile(0.5", "histogram_quantile(0.99"]
    drift = next(panel for panel in dashboard["panels"] if panel["title"] == "Drift alerts by kind")
    assert "sum by (kind)" in drift["targets"][0]["expr"]
    # The monitor's alerts, never the learners' structural events (tagstream.model-events).
    assert not any("tagstream_drift_events_total" in query for query in dashboard_queries(dashboard))
    assert all("tagstream_drift_alerts_total" in expr for expr in (t["expr"] for t in drift["targets"]))
    (annotation,) = dashboard["annotations"]["list"]
    assert "tagstream_drift_alerts_total" in annotation["expr"] and 'level="drift"' in annotation["expr"]


def test_variables_filter_every_query_by_job_and_per_learner_panels_by_learner(dashboard):
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert {"datasource", "job", "learner"} <= set(variables)
    assert variables["learner"]["includeAll"] and variables["job"]["multi"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"], panel["title"]
            if "learner" in target["legendFormat"] or "tagstream_learner_" in target["expr"]:
                assert 'learner=~"$learner"' in target["expr"], panel["title"]
            assert target["datasource"]["uid"] == "${datasource}"


def test_panels_have_unique_ids_and_fit_the_grid(dashboard):
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        position = panel["gridPos"]
        assert 0 <= position["x"] and position["x"] + position["w"] <= 24
