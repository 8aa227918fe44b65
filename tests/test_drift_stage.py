"""The drift monitor as the learner stage runs it (Kafka positions, checkpoints) and the Alertmanager sink."""

from __future__ import annotations

import http.server
import json
import pickle
import threading

import pytest

from jobs.drift_stage import DriftConfig, StageMonitor
from jobs.webhook import ALERT_NAME, AlertmanagerSink
from stream.synthetic import DriftingMultiLabelStream

TOPIC = "tagstream.records"


def feed(monitor: StageMonitor, rows, start: int = 0) -> list[dict]:
    alerts = []
    for i, (x, y) in enumerate(rows, start=start):
        where = (TOPIC, 0, 1000 + i)
        alerts += monitor.record(x, where, f"r{i}", ts=1.7e9 + i)
        on = tuple(label for label, value in y.items() if value)
        alerts += monitor.labelled(on, {"mlhat": y}, where, f"r{i}", 1.7e9 + i, {"mlhat": i})
    return alerts


def rows():
    return list(DriftingMultiLabelStream(5000, 5, 6, drift_points=[3000], seed=4, n_groups=2,
                                         drift_kinds="prior", drift_groups=[[1]]))


def test_alerts_name_offsets_record_ids_and_event_time():
    alerts = [a for a in feed(StageMonitor("job", DriftConfig()), rows()) if a["level"] == "drift"]
    prior = [a for a in alerts if a["kind"] == "prior"]
    assert len(prior) == 1
    last = prior[0]["window"]["last"]
    assert last["topic"] == TOPIC and last["partition"] == 0 and last["offset"] == 1000 + last["index"]
    assert last["record_id"] == f"r{last['index']}" and last["ts"] == 1.7e9 + last["index"]
    assert 3000 <= last["index"] < 3250 and set(prior[0]["labels"]) <= {"y3", "y4", "y5"}


def test_a_restored_monitor_raises_the_same_event_ids_for_the_records_it_replays():
    data = rows()
    whole = feed(StageMonitor("job", DriftConfig()), data)
    first = StageMonitor("job", DriftConfig())
    feed(first, data[:2800])
    checkpoint = pickle.dumps(first)
    feed(first, data[2800:3100])  # processed, then the stage dies before its next checkpoint
    replayed = feed(pickle.loads(checkpoint), data[2800:], start=2800)
    assert [a["event_id"] for a in replayed] == [a["event_id"] for a in whole if a["window"]["last"]["index"] >= 2800]
    assert any(a["level"] == "drift" for a in replayed)


def test_threshold_scale_and_disabled_settings():
    assert DriftConfig(threshold_scale=2.0).monitor_settings()["prior_threshold"] == 2 * DriftConfig().monitor_settings()["prior_threshold"]
    with pytest.raises(ValueError):
        DriftConfig(window=1)
    with pytest.raises(ValueError):
        DriftConfig(colour="red")


class _Alertmanager(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (the http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def alertmanager():
    _Alertmanager.received, _Alertmanager.status = [], 200
    server = http.server.HTTPServer(("127.0.0.1", 0), _Alertmanager)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Alertmanager
    server.shutdown()
    server.server_close()


def test_the_webhook_posts_drift_alerts_in_alertmanager_format(alertmanager):
    url, handler = alertmanager
    alerts = feed(StageMonitor("job", DriftConfig()), rows())
    sink = AlertmanagerSink(url)
    assert sink.send(alerts, ts=1.7e9) == sum(a["level"] == "drift" for a in alerts) > 0
    (path, body), = handler.received
    assert path == "/api/v2/alerts"
    assert all(a["labels"]["alertname"] == ALERT_NAME and a["startsAt"].endswith("Z") for a in body)
    assert {a["labels"]["event_id"] for a in body} == {a["event_id"] for a in alerts if a["level"] == "drift"}
    assert sink.send([a for a in alerts if a["level"] == "warning"], ts=1.7e9) == 0 and len(handler.received) == 1


def test_a_failing_alertmanager_is_logged_and_counted_not_raised(alertmanager, caplog):
    url, handler = alertmanager
    handler.status = 500
    alerts = [a for a in feed(StageMonitor("job", DriftConfig()), rows()) if a["level"] == "drift"]
    sink = AlertmanagerSink(url)
    assert sink.send(alerts, ts=1.7e9) == 0 and sink.failed == len(alerts)
    assert "failed" in caplog.text
    unreachable = AlertmanagerSink("http://127.0.0.1:9", timeout_s=2)
    assert unreachable.send(alerts, ts=1.7e9) == 0 and unreachable.failed == len(alerts)
    with pytest.raises(ValueError):
        AlertmanagerSink("alertmanager:9093")


def test_alerts_follow_the_drift_topic_schema_and_learner_events_the_model_events_one():
    import jsonschema

    from learners.base import DriftEvent
    from stream.errors import RecordError
    from stream.records import encode_json, json_schema, parse_drift_alert

    alerts = feed(StageMonitor("job", DriftConfig()), rows())
    drift_schema = json_schema("tagstream.drift")
    assert drift_schema["$id"].endswith(":2") and alerts
    for alert in alerts:
        jsonschema.validate(alert | {"ts": 1.7e9}, drift_schema)
        parsed = parse_drift_alert(encode_json(alert | {"ts": 1.7e9}))
        assert (parsed.event_id, parsed.kind) == (alert["event_id"], alert["kind"])
        assert parsed.first_index <= parsed.last_index == alert["window"]["last"]["index"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alerts[0] | {"ts": 1.7e9, "level": "global"}, drift_schema)
    with pytest.raises(RecordError, match="level must be one of"):
        parse_drift_alert(encode_json(alerts[0] | {"ts": 1.7e9, "level": "global"}))
    event = DriftEvent("mlhat", "local", "split", 120, labels=("a",), node="root/0").to_dict() | {"ts": 1.7e9}
    jsonschema.validate(event, json_schema("tagstream.model-events"))
    # The drift topic carries the monitor's alerts only: a learner's event is refused there.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, drift_schema)
    with pytest.raises(RecordError, match="lacks field"):
        parse_drift_alert(encode_json(event))
