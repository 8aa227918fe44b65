"""Drift alerts from the streaming job: the learner stage's monitor, then end to end on the real broker and Ray."""

from __future__ import annotations

import json
import threading
import time

import jsonschema
import pytest

from jobs.config import JobConfig
from jobs.drift_stage import DriftConfig
from jobs.pipeline.driver import run_pipeline
from jobs.pipeline.lifecycle import actor_name
from jobs.produce import produce
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from stream.kafka import ensure_topics
from stream.records import Record, json_schema
from stream.synthetic import DriftingMultiLabelStream

from helpers import read_topic

SWAP_AT, BORN_AT, FADES_AT, N = 1500, 1800, 2000, 2600
TOPIC = "tagstream.records"


def drifting_records() -> list[Record]:
    """Six independent labels, each on 30% of the time; from SWAP_AT on y0 and y3 swap values (the
    concept of both changes, their frequencies, co-occurrences and the inputs do not); ``fresh`` is
    first on at BORN_AT; ``fading`` is on every fifth record until FADES_AT and never after."""
    stream = DriftingMultiLabelStream(N, 6, 6, seed=5, n_groups=2, on_rate=0.3, off_rate=0.3)
    records = []
    for i, (x, y) in enumerate(stream):
        if i >= SWAP_AT:
            y = y | {"y0": y["y3"], "y3": y["y0"]}
        labels = [label for label, on in y.items() if on]
        if i >= BORN_AT and i % 10 == 0:
            labels.append("fresh")
        if i < FADES_AT and i % 5 == 0:
            labels.append("fading")
        records.append(Record(f"r{i}", features=x, labels=tuple(labels)))
    return records


def test_the_learner_stage_runs_the_monitor_and_checkpoints_it():
    stage = LearnerStage(["majority"], seed=1, window=100, model_size_every=1000, drift=DriftConfig(dormant_after=300))
    records = drifting_records()
    alerts = []
    for start in range(0, N, 100):
        chunk = records[start : start + 100]
        batch = Batch(chunk, [1.7e9 + start + k for k in range(len(chunk))], time.time(),
                      positions=[(TOPIC, 0, start + k) for k in range(len(chunk))])
        scored, _ = stage.process(batch)
        alerts += scored.alerts
    born = [a for a in alerts if a["kind"] == "label_born"]
    assert [(a["labels"], a["window"]["first"]["index"], a["window"]["last"]["offset"]) for a in born] == [(["fresh"], BORN_AT, BORN_AT + 10)]
    assert [a["labels"] for a in alerts if a["kind"] == "label_dormant"] == [["fading"]]
    assert stage._state()["drift"] is stage._drift
    schema = json_schema("tagstream.drift")
    for alert in alerts:
        jsonschema.validate(json.loads(json.dumps(alert | {"ts": 1.7e9})), schema)



@pytest.mark.integration
@pytest.mark.slow
def test_a_drift_in_the_input_topic_gives_one_alert_naming_labels_and_offsets(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = drifting_records()
    produced = produce(kafka_config, records)
    assert produced.records == N
    config = JobConfig(kafka=kafka_config, learners=["mlhat"], window=500, idle_timeout_s=20.0, seed=3,
                       batch_size=200, drift={"dormant_after": 300})
    summary = run_pipeline(config, expected=N)
    assert summary.predictions_out == N
    alerts = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.drift)]
    schema = json_schema("tagstream.drift")  # the monitor's alerts only: the learners' events go to model-events
    for alert in alerts:
        jsonschema.validate(alert, schema)
    drifts = [a for a in alerts if a["level"] == "drift"]
    # The stationary part raises nothing, not even a warning. The swap: one drift alert within 250
    # records, a concept alert naming both swapped labels (MLHAT's error on y0 rises, on y3, a
    # label it had not learned, it falls: y3 now follows y0's old concept), and no other alert of
    # the whole stream names them.
    assert not [a for a in alerts if a["window"]["last"]["offset"] < SWAP_AT], alerts
    swap = [a for a in drifts if SWAP_AT <= a["window"]["last"]["offset"] < SWAP_AT + 250]
    assert len(swap) == 1, drifts
    assert [a for a in alerts if {"y0", "y3"} & set(a["labels"]) and a["level"] == "drift"] == swap, drifts
    alert = swap[0]
    assert alert["kind"] == "concept" and alert["learner"] == "mlhat" and alert["labels"] == ["y0", "y3"]
    assert alert["window"]["last"]["topic"] == kafka_config.topics.records
    assert not [a for a in drifts if a["kind"] in ("concept", "prior", "feature") and SWAP_AT + 250 <= a["window"]["last"]["offset"] < FADES_AT]
    assert alert["window"]["first"]["record_id"] == f"r{alert['window']['first']['offset']}"
    # A label first on mid-stream: one label_born from that record to its second time on (once
    # a label that had always been there would hardly have been missed for 1,800 records); a
    # label gone quiet: one label_dormant, dormant_after (300) records after it was last on.
    last_fading = max(i for i, record in enumerate(records) if "fading" in record.labels)
    born = [(a["labels"], a["window"]["first"]["index"], a["window"]["last"]["offset"]) for a in alerts if a["kind"] == "label_born"]
    assert born == [(["fresh"], BORN_AT, BORN_AT + 10)]
    assert [(a["labels"], a["window"]["last"]["offset"]) for a in alerts if a["kind"] == "label_dormant"] == [(["fading"], last_fading + 300)]
    assert len({a["event_id"] for a in alerts}) == len(alerts)
    assert sum(summary.drift_alerts.values()) == len(alerts)


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_learner_actor_restored_from_its_checkpoint_raises_no_new_alert_id(ray_local, kafka_config, tmp_path):
    import ray

    records = drifting_records()
    # What an uninterrupted learner stage raises, in process: the ids the topic may hold, and no other.
    stage = LearnerStage(["mlhat"], seed=3, window=500, model_size_every=1000, drift=DriftConfig(dormant_after=300),
                         job=kafka_config.group_id)  # the job's name is part of every id
    expected = set()
    for start in range(0, N, 200):
        chunk = records[start : start + 200]
        batch = Batch(chunk, [0.0] * len(chunk), time.time(),
                      positions=[(kafka_config.topics.records, 0, start + k) for k in range(len(chunk))])
        expected |= {alert["event_id"] for alert in stage.process(batch)[0].alerts}
    assert expected

    ensure_topics(kafka_config, partitions=1)
    producer = threading.Thread(target=produce, args=(kafka_config, records), kwargs={"rate": 400.0})
    producer.start()
    config = JobConfig(kafka=kafka_config, learners=["mlhat"], seed=3, batch_size=40, max_in_flight=3, window=500,
                       idle_timeout_s=4.0, checkpoint_dir=str(tmp_path), checkpoint_every_s=3.0, drift={"dormant_after": 300})
    killed, seen = [], {"checkpoints": 0, "alerts": 0}

    def kill_after_an_alert_beyond_the_last_checkpoint(summary, window):
        # A batch published while the checkpoint count stood still was read after that checkpoint
        # (a checkpoint first finishes the batches in flight): the restored learner reads it again
        # and raises its alerts a second time. Checkpoints 3 s apart leave many progress reports
        # between two of them, even on a loaded machine that reports less often.
        alerts = sum(summary.drift_alerts.values())
        if not killed and summary.checkpoints >= 1 and summary.checkpoints == seen["checkpoints"] and alerts > seen["alerts"]:
            killed.append(summary.records_in)
            ray.kill(ray.get_actor(actor_name(config, "learner")), no_restart=False)
        seen.update(checkpoints=summary.checkpoints, alerts=alerts)

    try:
        summary = run_pipeline(config, on_progress=kill_after_an_alert_beyond_the_last_checkpoint)
    finally:
        producer.join()
    assert killed and killed[0] < N and summary.recoveries == 1
    published = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.drift)]
    ids = [alert["event_id"] for alert in published]
    assert len(ids) > len(set(ids))  # the alert after the checkpoint went out again...
    assert set(ids) == expected  # ...with its id: republished copies keep their ids; nothing new
    assert sum(summary.drift_alerts.values()) == len(expected)  # and the driver counts each once


def test_the_publisher_sends_monitor_alerts_once_and_posts_drifts_to_alertmanager(kafka_config):
    import http.server

    from jobs.stages.messages import Scored
    from jobs.stages.publisher import PublisherStage

    received = []

    class Alertmanager(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the http.server API)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Alertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ensure_topics(kafka_config, partitions=1)
    stage = LearnerStage(["majority"], seed=1, window=100, model_size_every=1000, drift=DriftConfig(dormant_after=300))
    records = drifting_records()
    alerts = []
    for start in range(0, N, 200):
        chunk = records[start : start + 200]
        batch = Batch(chunk, [0.0] * len(chunk), time.time(), positions=[(TOPIC, 0, start + k) for k in range(len(chunk))])
        alerts += stage.process(batch)[0].alerts
    publisher = PublisherStage(kafka_config, "majority", alertmanager_url=f"http://127.0.0.1:{server.server_port}")
    publisher.restore(None)
    try:
        part = Scored([], [], time.time(), {"majority": []}, [], alerts=alerts)
        twin = Scored([], [], time.time(), {"other": []}, [], alerts=alerts)  # a second learner actor's copy
        ack = publisher.publish(part, twin)
        # The driver gets them as published (for the live page and the metrics), once each.
        assert ack["drift"] == len(alerts) and [a["event_id"] for a in ack["alerts"]] == [a["event_id"] for a in alerts]
        assert [a["kind"] for a in ack["alerts"]].count("label_born") == 1 and all("ts" in a for a in ack["alerts"])
    finally:
        publisher.close()
        server.shutdown()
        server.server_close()
    on_topic = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.drift, len(alerts))]
    assert [a["event_id"] for a in on_topic] == [a["event_id"] for a in alerts] and all("ts" in a for a in on_topic)
    (posted,) = received
    assert {a["labels"]["event_id"] for a in posted} == {a["event_id"] for a in alerts if a["level"] == "drift"}


def test_prometheus_counts_the_monitors_alerts_by_level_and_kind_apart_from_learner_events():
    from jobs.telemetry import PipelineMetrics

    metrics = PipelineMetrics(500)
    assert metrics.value("tagstream_drift_alerts_total", level="drift", kind="label_born") == 0  # there before any alert
    metrics.observe_drift_alerts({"drift/concept": 2, "warning/prior": 1})
    metrics.observe_drift_alerts({"drift/concept": 1})
    assert metrics.value("tagstream_drift_alerts_total", level="drift", kind="concept") == 3
    assert metrics.value("tagstream_drift_alerts_total", level="warning", kind="prior") == 1
    assert metrics.value("tagstream_drift_events_total", learner="mlhat", level="global", kind="drift") is None


def test_the_alertmanager_sink_posts_again_what_a_failing_alertmanager_did_not_take(monkeypatch, caplog):
    import http.server

    from jobs.sinks import alertmanager
    from jobs.sinks.registry import Published, SinkContext
    from stream.kafka import KafkaConfig
    from test_dashboard import monitor_alert

    answers, received = [503, 200, 503, 503, 503], []

    class FlakyAlertmanager(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the http.server API)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), FlakyAlertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = alertmanager.AlertmanagerWebhookSink(SinkContext(KafkaConfig(), None, alertmanager_url=f"http://127.0.0.1:{server.server_port}"))

    def publish(ts, *alerts):
        sink.write(Published([], [], [alert | {"ts": ts} for alert in alerts], ts))
        sink.flush()

    try:
        publish(1.7e9, monitor_alert("a", 100), monitor_alert("w", 110, level="warning"), monitor_alert("b", 120))
        publish(1.7e9 + 60, monitor_alert("c", 300))  # the first POST failed: its drifts go again, with their own start
        assert [[a["labels"]["event_id"] for a in body] for body in received] == [["a", "b"], ["a", "b", "c"]]
        assert [a["startsAt"] for a in received[1]] == ["2023-11-14T22:13:20Z"] * 2 + ["2023-11-14T22:14:20Z"]
        publish(1.7e9 + 120)  # nothing new, nothing owed: no POST
        assert len(received) == 2

        monkeypatch.setattr(alertmanager, "MAX_UNSENT", 2)  # beyond it, the oldest unsent are given up, by name
        publish(1.7e9 + 180, monitor_alert("d", 400), monitor_alert("e", 410))
        publish(1.7e9 + 240, monitor_alert("f", 420))
        assert [a["labels"]["event_id"] for a in received[-1]] == ["d", "e", "f"]
        assert "gave up posting 1 drift alerts" in caplog.text
        publish(1.7e9 + 300)
        assert [a["labels"]["event_id"] for a in received[-1]] == ["e", "f"]
    finally:
        server.shutdown()
        server.server_close()
