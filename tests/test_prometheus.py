"""Prometheus: promtool on our config and alert rules, and a real Prometheus scraping a running pipeline.

Needs Debian's ``prometheus`` package (``/usr/bin/prometheus``, ``/usr/bin/promtool``):
``bash scripts/install-system-deps.sh`` installs it (``make test`` runs it). Outside CI the tests
skip when it is missing; in CI they fail.
"""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import textwrap
import urllib.parse
import urllib.request

import pytest

from helpers import require_binaries
import yaml

from stream.kafka import RecordSink
from test_dashboard import LivePipeline, synthetic_records

PROMETHEUS = pathlib.Path("/usr/bin/prometheus")
PROMTOOL = pathlib.Path("/usr/bin/promtool")
DASHBOARDS = pathlib.Path(__file__).resolve().parents[1] / "dashboards" / "prometheus"
ALERTS = DASHBOARDS / "alerts.yml"
CONFIG = DASHBOARDS / "prometheus.yml"
GRAFANA = DASHBOARDS.parent / "grafana" / "tagstream.json"
BAD_MESSAGES = 5


@pytest.fixture(autouse=True)
def require_prometheus():
    require_binaries(PROMETHEUS, PROMTOOL)


def promtool(*args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_accepts_the_alert_rules():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_accepts_the_config_and_it_scrapes_the_pipeline_and_ray():
    result = promtool("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"tagstream", "ray"}
    assert config["rule_files"] == ["alerts.yml"]


ALERT_TESTS = """
rule_files: [{alerts}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'tagstream_drift_alerts_total{{job="j", level="drift", kind="prior"}}'
        values: '0 0 1 2 3 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4'
      - series: 'tagstream_drift_alerts_total{{job="j", level="warning", kind="concept"}}'
        values: '0 0 5 10 15 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20'
      # The learners' structural events never count as drift alerts.
      - series: 'tagstream_drift_events_total{{job="j", learner="ihomer", level="global", kind="drift"}}'
        values: '0 0 20 40 60 80 80 80 80 80 80 80 80 80 80 80 80 80 80 80 80 80 80 80'
      - series: 'tagstream_learner_example_f1{{job="j", learner="ihomer"}}'
        values: '0.7x10 0.4x14'
      - series: 'tagstream_consumer_lag_records{{job="j", partition="0"}}'
        values: '0+200x24'
      - series: 'tagstream_records_in_total{{job="j"}}'
        values: '0+600x24'
      - series: 'tagstream_dead_letters_total{{job="j", reason="json"}}'
        values: '0x10 0+300x14'
      - series: 'tagstream_last_commit_timestamp_seconds{{job="j"}}'
        values: '0+60x5 300x19'
      - series: 'up{{job="tagstream", instance="tagstream:9108"}}'
        values: '1x10 0x14'
      - series: 'tagstream_stage_duration_seconds_bucket{{job="j", stage="learn", le="1"}}'
        values: '0x24'
      - series: 'tagstream_stage_duration_seconds_bucket{{job="j", stage="learn", le="10"}}'
        values: '0+10x24'
      - series: 'tagstream_stage_duration_seconds_bucket{{job="j", stage="learn", le="+Inf"}}'
        values: '0+10x24'
      - series: 'tagstream_label_join_total{{job="j", outcome="joined"}}'
        values: '0+70x24'
      - series: 'tagstream_label_join_total{{job="j", outcome="expired_records"}}'
        values: '0+30x24'
    alert_rule_test:
      - eval_time: 1m
        alertname: TagstreamDriftBurst
        exp_alerts: []
      - eval_time: 4m
        alertname: TagstreamDriftBurst
        exp_alerts:
          - exp_labels: {{job: j, kind: prior, severity: warning}}
            exp_annotations:
              summary: "prior drift on j: 3 drift alerts in 10 minutes"
              description: "The stream is changing quickly; check the drift timeline of the live page or the Grafana dashboard."
      - eval_time: 18m
        alertname: TagstreamDriftBurst
        exp_alerts: []
      - eval_time: 12m
        alertname: TagstreamQualityDrop
        exp_alerts: []
      - eval_time: 17m
        alertname: TagstreamQualityDrop
        exp_alerts:
          - exp_labels: {{job: j, learner: ihomer, severity: warning}}
            exp_annotations:
              summary: "ihomer on j: windowed example-F1 dropped to 0.400"
              description: "Quality fell by more than 20 % from its best of the last hour."
      - eval_time: 10m
        alertname: TagstreamLagGrowing
        exp_alerts: []
      - eval_time: 21m
        alertname: TagstreamLagGrowing
        exp_alerts:
          - exp_labels: {{job: j, severity: warning}}
            exp_annotations:
              summary: "j: consumer lag 4200 records and growing"
              description: "The pipeline consumes slower than records arrive; add consumers/partitions or a faster learner."
      - eval_time: 12m
        alertname: TagstreamDeadLetterSpike
        exp_alerts: []
      - eval_time: 20m
        alertname: TagstreamDeadLetterSpike
        exp_alerts:
          - exp_labels: {{job: j, severity: critical}}
            exp_annotations:
              summary: "j: 50% of the input goes to dead letters"
              description: "A producer sends malformed records; the dead-letter topic holds them with their reasons."
      - eval_time: 8m
        alertname: TagstreamCheckpointStale
        exp_alerts: []
      - eval_time: 12m
        alertname: TagstreamCheckpointStale
        exp_alerts:
          - exp_labels: {{job: j, severity: critical}}
            exp_annotations:
              summary: "j: no offset commit for 7m 0s while records arrive"
              description: "Batches are not being published and committed; a restart would replay everything since."
      - eval_time: 8m
        alertname: TagstreamStageSlow
        exp_alerts: []
      - eval_time: 12m
        alertname: TagstreamStageSlow
        exp_alerts:
          - exp_labels: {{job: j, stage: learn, severity: warning}}
            exp_annotations:
              summary: "j: the learn stage takes 9.9 s per batch (p99)"
              description: "Compare the stages on the Grafana dashboard; a slow learn stage calls for a faster learner or smaller batches."
      - eval_time: 8m
        alertname: TagstreamLateLabelsExpire
        exp_alerts: []
      - eval_time: 12m
        alertname: TagstreamLateLabelsExpire
        exp_alerts:
          - exp_labels: {{job: j, severity: warning}}
            exp_annotations:
              summary: "j: 30% of the records leave the join buffer without labels"
              description: "Labels arrive later than join_max_age_s or beyond join_max_records; raise the bounds or check the labels producer."
      - eval_time: 11m
        alertname: TagstreamDown
        exp_alerts: []
      - eval_time: 14m
        alertname: TagstreamDown
        exp_alerts:
          - exp_labels: {{job: tagstream, instance: "tagstream:9108", severity: critical}}
            exp_annotations:
              summary: "tagstream:9108: the tagstream metrics endpoint is not answering"
"""


def test_each_alert_fires_on_its_condition_and_not_before(tmp_path):
    cases = tmp_path / "alerts_test.yml"
    cases.write_text(textwrap.dedent(ALERT_TESTS.format(alerts=json.dumps(str(ALERTS)))))
    result = promtool("test", "rules", str(cases))
    assert result.returncode == 0, result.stdout + result.stderr


# -- the same rules on Kubernetes (a PrometheusRule) ---------------------------------------------------

K8S_RULE = DASHBOARDS.parents[1] / "k8s" / "base" / "prometheusrule.yaml"

#: A PodMonitor's targets: job "<namespace>/<name>", the port's name as endpoint; Ray's port beside ours.
K8S_ALERT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="tagstream/tagstream", endpoint="ts-metrics", instance="10.1.2.3:9108"}}'
        values: '1x3 0x6'
      - series: 'up{{job="tagstream/tagstream", endpoint="metrics", instance="10.1.2.4:8080"}}'
        values: '0x9'
      - series: 'tagstream_drift_alerts_total{{job="tagstream/tagstream", level="drift", kind="concept"}}'
        values: '0 0 1 2 3 3 3 3 3 3'
      - series: 'tagstream_drift_events_total{{job="tagstream/tagstream", learner="ihomer", level="global", kind="split"}}'
        values: '0 0 20 40 60 80 80 80 80 80'
    alert_rule_test:
      - eval_time: 4m
        alertname: TagstreamDriftBurst
        exp_alerts:
          - exp_labels: {{job: tagstream/tagstream, kind: concept, severity: warning}}
            exp_annotations:
              summary: "concept drift on tagstream/tagstream: 3 drift alerts in 10 minutes"
              description: "The stream is changing quickly; check the drift timeline of the live page or the Grafana dashboard."
      - eval_time: 4m
        alertname: TagstreamDown
        exp_alerts: []
      - eval_time: 8m
        alertname: TagstreamDown
        exp_alerts:
          - exp_labels: {{job: tagstream/tagstream, endpoint: ts-metrics, instance: "10.1.2.3:9108", severity: critical}}
            exp_annotations:
              summary: "10.1.2.3:9108: the tagstream metrics endpoint is not answering"
"""


def rule_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_rule", DASHBOARDS / "generate_rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kubernetes_prometheus_rule_holds_the_alert_rules_as_generated():
    assert K8S_RULE.read_text() == rule_generator().render(), "run: .venv/bin/python dashboards/prometheus/generate_rule.py"
    groups = yaml.safe_load(K8S_RULE.read_text())["spec"]["groups"]
    compose = yaml.safe_load(ALERTS.read_text())["groups"]
    differ = [
        (ours["alert"], ours["expr"])
        for group, theirs in zip(groups, compose, strict=True)
        for ours, rule in zip(group["rules"], theirs["rules"], strict=True)
        if ours != rule
    ]
    assert differ == [("TagstreamDown", 'up{endpoint="ts-metrics"} == 0')]  # the one selector a PodMonitor labels otherwise


def test_the_kubernetes_rules_pass_promtool_and_fire_on_the_pod_monitors_labels(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": yaml.safe_load(K8S_RULE.read_text())["spec"]["groups"]}))
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0 and "SUCCESS: 8 rules found" in result.stdout, result.stdout + result.stderr
    cases = tmp_path / "rules_test.yml"
    cases.write_text(textwrap.dedent(K8S_ALERT_TESTS.format(rules=json.dumps(str(rules)))))
    result = promtool("test", "rules", str(cases))
    assert result.returncode == 0, result.stdout + result.stderr


# -- a real Prometheus on a running pipeline -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def values(result: list[dict]) -> dict[str, float]:
    return {json.dumps(item["metric"], sort_keys=True): float(item["value"][1]) for item in result}


@pytest.fixture
def prometheus_on(tmp_path):
    """Start Prometheus scraping ``127.0.0.1:<metrics port>`` every second; yields its HTTP port."""
    processes = []

    def start(metrics_port: int) -> int:
        port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": "tagstream", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
        }
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        assert promtool("check", "config", str(config_path)).returncode == 0
        log = (tmp_path / "prometheus.log").open("w")
        processes.append(
            subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        return port

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_prometheus_scrapes_a_running_pipeline(ray_local, kafka_config, prometheus_on, tmp_path):
    records = synthetic_records(n=3000, drift_points=(1000, 2000))
    live = LivePipeline(kafka_config, records, ["ihomer", "majority"], rate=400)
    with RecordSink(kafka_config) as sink:
        for i in range(BAD_MESSAGES):
            sink.send(kafka_config.topics.records, b"{not json", key=f"bad-{i}")
        sink.flush()
    total = len(records) + BAD_MESSAGES
    try:
        port = prometheus_on(live.metrics_port)
        live.wait_for(lambda: _ready(port), "Prometheus to answer", timeout_s=60)
        live.wait_for(lambda: values(query(port, 'up{job="tagstream"}')) and min(values(query(port, 'up{job="tagstream"}')).values()) == 1, "the pipeline target to be up")
        live.wait_for(lambda: live.processed() >= len(records), "every record to be predicted", timeout_s=120)
        # Scraped once more after the last batch: the final counts are in Prometheus.
        def final_counts():
            counts = [values(query(port, f'{name}{{job="tagstream"}}')) for name in ("tagstream_records_in_total", "tagstream_predictions_out_total")]
            return [list(count.values()) for count in counts] == [[total], [len(records)]]

        live.wait_for(final_counts, "Prometheus to hold the final record and prediction counts")
        rate = values(query(port, "sum(rate(tagstream_records_in_total[30s]))"))
        assert rate and all(value >= 0 for value in rate.values())

        f1 = {json.loads(key)["learner"]: value for key, value in values(query(port, "tagstream_learner_example_f1")).items()}
        assert set(f1) == {"ihomer", "majority"} and all(0.0 < value <= 1.0 for value in f1.values())
        hamming = values(query(port, "tagstream_learner_hamming_loss"))
        assert len(hamming) == 2 and all(0.0 <= value < 1.0 for value in hamming.values())

        p99 = values(query(port, "histogram_quantile(0.99, sum by (le) (rate(tagstream_end_to_end_latency_seconds_bucket[1m])))"))
        p50 = values(query(port, "histogram_quantile(0.5, sum by (le) (rate(tagstream_end_to_end_latency_seconds_bucket[1m])))"))
        (p99,), (p50,) = p99.values(), p50.values()
        assert 0 < p50 <= p99 < 60

        drift = values(query(port, 'sum by (learner, level) (tagstream_drift_events_total{learner="ihomer"})'))
        assert drift and sum(drift.values()) == sum(live.page.state.to_json()["totals"]["drift_events"].values())
        # The drift monitor's alerts, apart: Prometheus and the live page count the same ones.
        (alerts,) = values(query(port, 'sum(tagstream_drift_alerts_total{job="tagstream"})')).values()
        assert alerts == sum(live.page.state.to_json()["totals"]["drift_alerts"].values())
        (clusters,) = values(query(port, 'tagstream_label_clusters{learner="ihomer"}')).values()
        assert 1 <= clusters <= 12
        (age,) = values(query(port, "time() - tagstream_last_commit_timestamp_seconds")).values()
        assert 0 <= age < 120
        dead = {json.loads(key)["reason"]: value for key, value in values(query(port, "tagstream_dead_letters_total")).items()}
        assert sum(dead.values()) == BAD_MESSAGES

        # Every query of the Grafana dashboard runs on the real series and finds them.
        dashboard = json.loads(GRAFANA.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$job", ".+").replace("$learner", ".+").replace("$__rate_interval", "30s")
                assert query(port, expr), f"panel {panel['title']!r}: {expr} found no series"
        # Our alert rules evaluate without error against the real series.
        live.wait_for(
            lambda: [rule["health"] for group in _get(port, "/api/v1/rules")["data"]["groups"] for rule in group["rules"]] == ["ok"] * 8,
            "the eight alert rules to be evaluated",
        )
    finally:
        live.stop()


def _get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
