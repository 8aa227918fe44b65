"""The live page's state and server (jobs.dashboard), and the stats the learner actor sends it.

:class:`LivePipeline` (a real broker, a real local Ray, the synthetic drifting stream produced at
a steady rate) is shared with the browser and Prometheus tests.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from jobs.dashboard import (
    EVENTS_PER_BATCH,
    TOP_LABELS,
    LabelTally,
    LivePage,
    LiveState,
    f1_or_none,
    partition_snapshot,
    serve_live_page,
)
from jobs.produce import produce
from jobs.telemetry import PipelineMetrics
from learners import registry
from learners.base import DriftEvent
from stream.kafka import KafkaConfig, ensure_topics
from stream.records import Record
from stream.synthetic import DriftingMultiLabelStream

#: The synthetic stream of the live tests: two abrupt drifts the page must show.
DRIFT_POINTS = (1500, 3000)
N_RECORDS = 4500


def synthetic_records(n: int = N_RECORDS, drift_points=DRIFT_POINTS, seed: int = 7) -> list[Record]:
    stream = DriftingMultiLabelStream(n_instances=n, n_features=10, n_labels=12, drift_points=drift_points, seed=seed)
    return [Record(f"syn-{i}", features=x, labels=tuple(label for label, on in y.items() if on)) for i, (x, y) in enumerate(stream)]


class LivePipeline:
    """The real pipeline on a connected Ray, fed at ``rate`` records/s from a background producer.

    Runs in follow mode in a thread until :meth:`stop`; the live page and the metrics endpoint
    are served on free ports of 127.0.0.1.
    """

    def __init__(self, kafka_config: KafkaConfig, records: list[Record], learners: list[str], rate: float):
        ensure_topics(kafka_config, partitions=1)
        self.config = JobConfig(
            kafka=kafka_config, learners=learners, follow=True, window=300, batch_size=100, metrics_port=0, dashboard_port=0
        )
        self.records = records
        self.metrics = PipelineMetrics(self.config.window)
        self.metrics_port = self.metrics.serve("127.0.0.1", 0)
        self.page = serve_live_page(self.config, self.metrics)
        self.page.state.sample_every_s = 0.5
        self.summary = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._producer = threading.Thread(target=produce, args=(kafka_config, records), kwargs={"rate": rate}, daemon=True)
        self._runner = threading.Thread(target=self._run, daemon=True)
        self._producer.start()
        self._runner.start()

    def _run(self) -> None:
        try:
            self.summary = run_pipeline(
                self.config,
                stop=self._stop,
                metrics=self.metrics,
                on_batch=self.page.state.observe_batch,
                on_alerts=self.page.state.observe_alerts,
            )
            self.page.state.finish(self.summary)
        except BaseException as error:  # re-raised in the test thread by stop()
            self.error = error

    def wait_for(self, condition, what: str, timeout_s: float = 90.0):
        """Wait until ``condition()`` is truthy and return it; fail naming ``what`` after the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.error is not None:
                raise AssertionError(f"the pipeline failed while waiting for {what}") from self.error
            value = condition()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def processed(self) -> int:
        return self.page.state.to_json()["totals"].get("predictions_out", 0)

    def stop(self) -> None:
        self._producer.join(120)
        self._stop.set()
        self._runner.join(120)
        self.page.close()
        self.metrics.close()
        if self.error is not None:
            raise self.error



def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


# -- the actor's stats -------------------------------------------------------------------------------


def test_label_tally_reports_hits_and_misses_of_the_most_frequent_labels_since_the_last_pop():
    tally = LabelTally(top=2)
    tally.observe(("a", "b"), ("a", "c"))
    tally.observe(("a",), ())
    tally.observe(("b", "d"), ("b",))
    assert tally.pop() == {"a": [1, 0, 1], "b": [1, 0, 1]}
    tally.observe(("d",), ("d",))
    tally.observe(("d",), ())
    assert tally.pop() == {"d": [1, 0, 1], "a": [0, 0, 0]}  # d was on 3 times, a and b twice: ties keep the first seen
    assert tally.pop() == {"d": [0, 0, 0], "a": [0, 0, 0]}


def test_f1_of_a_label_is_undefined_where_it_was_neither_on_nor_predicted():
    assert f1_or_none(0, 0, 0) is None
    assert f1_or_none(0, 2, 1) == 0.0
    assert f1_or_none(5, 0, 0) == 1.0


def test_partition_snapshot_only_for_learners_that_partition_their_labels():
    ihomer = registry.make("ihomer", seed=1)
    for x, y in list(DriftingMultiLabelStream(n_instances=300, n_features=5, n_labels=6, seed=1)):
        ihomer.learn_one(x, y)
    snapshot = partition_snapshot(ihomer)
    assert "history" not in snapshot
    assert sorted(label for group in snapshot["partition"] for label in group["labels"]) == sorted(f"y{i}" for i in range(6))
    assert snapshot["tree"]["id"] and json.loads(json.dumps(snapshot)) == snapshot
    assert partition_snapshot(registry.make("mlhat", seed=1)) is None  # describes a tree, but no label partition
    assert partition_snapshot(registry.make("majority", seed=1)) is None


def test_learner_stage_stats_carry_events_with_detail_label_counts_and_a_partition_snapshot(monkeypatch):
    monkeypatch.setattr("jobs.stages.learner.SNAPSHOT_EVERY_S", 3600.0)  # the second batch is always within the interval
    stage = LearnerStage(["ihomer", "majority"], seed=1, window=50, model_size_every=1000)
    records = synthetic_records(n=400, drift_points=(200,))
    _, first = stage.process(Batch(records[:200], [0.0] * 200, 0.0))
    _, second = stage.process(Batch(records[200:], [0.0] * 200, 0.0))
    assert first["ihomer"]["partition"]["partition"]  # the first batch always snapshots
    assert second["ihomer"]["partition"] is None  # then at most every SNAPSHOT_EVERY_S
    assert first["majority"]["partition"] is None
    events = first["ihomer"]["recent_events"] + second["ihomer"]["recent_events"]
    assert events and all({"kind", "level", "instance", "labels", "detail"} <= event.keys() for event in events)
    counts = second["ihomer"]["label_counts"]
    assert 0 < len(counts) <= TOP_LABELS
    assert sum(tp + fn for tp, _, fn in counts.values()) == sum(len(r.labels) for r in records[200:])


def test_learner_stage_sends_at_most_a_bounded_number_of_events_per_batch():
    stage = LearnerStage(["majority"], seed=1, window=10, model_size_every=1000)
    ((name, model),) = stage._models.items()
    for i in range(EVENTS_PER_BATCH + 5):
        model._emit(DriftEvent(name, "local", "drift", i))
    _, stats = stage.process(Batch([Record("r0", features={"x": 1.0}, labels=("a",))], [0.0], 0.0))
    assert len(stats["majority"]["recent_events"]) == EVENTS_PER_BATCH
    assert stats["majority"]["events"] == {("local", "drift"): EVENTS_PER_BATCH + 5}


# -- the state -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def learner_stats(accuracy: float, events=(), label_counts=None, partition=None) -> dict:
    return {
        "learned": 1,
        "window": {"subset_accuracy": accuracy, "example_f1": accuracy, "hamming_loss": 1 - accuracy},
        "events": {},
        "recent_events": list(events),
        "label_counts": label_counts or {},
        "partition": partition,
    }


def test_state_samples_curves_at_most_every_interval_and_keeps_a_bounded_history():
    clock = Clock()
    state = LiveState(["a"], sample_every_s=1.0, history=3, clock=clock)
    for step in range(10):
        clock.now = step * 0.5
        state.observe_batch({"records_in": 100 * step}, {"a": learner_stats(step / 10)})
    points = state.to_json()["points"]
    assert [p["t"] for p in points] == [2.0, 3.0, 4.0]  # one per second, the last three
    assert points[-1]["records_per_s"] == pytest.approx(200.0)
    assert points[-1]["learners"]["a"]["subset_accuracy"] == pytest.approx(0.8)


def test_an_idle_run_keeps_its_curves_going_with_zero_throughput():
    clock = Clock()
    state = LiveState(["a"], sample_every_s=1.0, clock=clock)
    clock.now = 1.0
    state.observe_batch({"records_in": 50}, {"a": learner_stats(0.5)})
    clock.now = 1.5
    assert len(state.to_json()["points"]) == 1  # no point due yet
    clock.now = 3.0
    out = state.to_json()
    assert [p["t"] for p in out["points"]] == [1.0, 3.0]
    assert out["totals"]["records_per_s"] == 0.0 and out["points"][-1]["records"] == 50


def test_state_events_get_increasing_ids_and_the_oldest_are_dropped():
    clock = Clock()
    state = LiveState(["a"], max_events=3, clock=clock)
    event = DriftEvent("a", "global", "drift", 5, labels=("x",), detail={"why": "adwin"}).to_dict()
    for _ in range(5):
        state.observe_batch({"records_in": 1}, {"a": learner_stats(0.5, events=[event])})
    assert [e["id"] for e in state.events_since(0)] == [3, 4, 5]
    assert [e["id"] for e in state.events_since(4)] == [5]
    assert state.events_since(5) == []
    assert state.events_since(4)[0]["detail"] == {"why": "adwin"} and state.to_json()["last_event_id"] == 5


def monitor_alert(event_id: str, index: int, level: str = "drift", kind: str = "concept", labels=("y0",)) -> dict:
    """A drift monitor alert as published on the drift topic."""
    where = {"topic": "tagstream.records", "partition": 0, "record_id": None, "ts": None}
    return {
        "event_id": event_id, "level": level, "kind": kind, "severity": "medium", "labels": list(labels), "learner": None,
        "clusters": [], "model_version": None, "detector": f"{kind}/x", "statistic": {}, "job": "j", "detail": {}, "ts": 1.7e9,
        "window": {"first": where | {"index": index - 50, "offset": index - 50}, "last": where | {"index": index, "offset": index}},
    }  # fmt: skip


def test_monitor_alerts_sit_at_their_record_apart_from_learner_events_and_are_counted_by_level_and_kind():
    clock = Clock()
    state = LiveState(["a"], max_events=2, clock=clock)
    model_event = DriftEvent("a", "global", "split", 5).to_dict()
    state.observe_batch({"records_in": 300}, {"a": learner_stats(0.5, events=[model_event])})
    clock.now = 2.0
    state.observe_alerts([monitor_alert("e1", 120), monitor_alert("e2", 250, level="warning", kind="prior", labels=("y1", "y2"))])
    for _ in range(3):  # a learner busy with its bookkeeping does not push the monitor's alerts out
        state.observe_batch({"records_in": 400}, {"a": learner_stats(0.5, events=[model_event])})
    served = state.events_since(0)
    assert [(e["id"], e["source"]) for e in served] == [(2, "monitor"), (3, "monitor"), (5, "model"), (6, "model")]
    first, second = served[:2]
    assert (first["records"], first["event_id"], first["level"], first["kind"], first["t"]) == (121, "e1", "drift", "concept", 2.0)
    assert second["labels"] == ["y1", "y2"] and second["window"]["last"]["offset"] == 250 and second["severity"] == "medium"
    assert [e["id"] for e in state.events_since(3)] == [5, 6]
    assert state.to_json()["totals"]["drift_alerts"] == {"drift/concept": 1, "warning/prior": 1}


def test_the_driver_hands_each_monitor_alert_to_the_page_and_the_metrics_once():
    """A recovery replays the records after the last checkpoint: their alerts come again with the same ids."""
    from jobs.pipeline.progress import Progress

    metrics = PipelineMetrics(100)
    handed = []
    progress = Progress(JobConfig(learners="majority"), None, None, metrics, broker=None, on_alerts=handed.append)
    ack = {"predictions": 0, "latencies_s": [], "publish_s": 0.0, "serving": "majority"}
    progress.published(ack | {"alerts": [monitor_alert("e1", 120), monitor_alert("e2", 130, kind="label_born")]}, [])
    progress.published(ack | {"alerts": []}, [])
    progress.published(ack | {"alerts": [monitor_alert("e2", 130, kind="label_born"), monitor_alert("e3", 900)]}, [])
    assert [[a["event_id"] for a in alerts] for alerts in handed] == [["e1", "e2"], ["e3"]]
    assert progress.summary.drift_alerts == {"drift/concept": 2, "drift/label_born": 1}
    assert metrics.value("tagstream_drift_alerts_total", level="drift", kind="label_born") == 1
    assert metrics.value("tagstream_drift_alerts_total", level="drift", kind="concept") == 2


def test_state_heatmap_is_per_label_f1_per_interval_for_the_most_frequent_labels():
    clock = Clock()
    state = LiveState(["a"], sample_every_s=1.0, clock=clock)
    clock.now = 1.0
    state.observe_batch({"records_in": 10}, {"a": learner_stats(0.5, label_counts={"x": [3, 1, 0], "y": [0, 0, 1]})})
    clock.now = 2.0
    state.observe_batch({"records_in": 20}, {"a": learner_stats(0.5, label_counts={"x": [0, 0, 0], "y": [2, 0, 0]})})
    heatmap = state.to_json()["heatmap"]["a"]
    assert heatmap["labels"] == ["x", "y"] and heatmap["t"] == [1.0, 2.0]
    assert heatmap["f1"] == [[pytest.approx(6 / 7), None], [0.0, 1.0]]


def test_state_rejects_stats_of_a_learner_it_does_not_know():
    with pytest.raises(KeyError, match="'b'.*not one of this run's learners"):
        LiveState(["a"]).observe_batch({"records_in": 1}, {"b": learner_stats(0.5)})


def test_finish_marks_the_run_done_and_keeps_the_final_totals():
    clock = Clock()
    state = LiveState(["a"], clock=clock)
    state.observe_batch({"records_in": 5, "predictions_out": 5}, {"a": learner_stats(0.5)})
    clock.now = 3.0
    state.finish({"records_in": 8, "predictions_out": 8, "records_good": 8, "dead_letters": {}, "batches": 2})
    out = state.to_json()
    assert out["status"] == "finished" and out["totals"]["predictions_out"] == 8
    assert out["points"][-1]["t"] == 3.0


# -- the server ----------------------------------------------------------------------------------------


def test_page_serves_the_static_page_state_and_events_and_nothing_else():
    clock = Clock()
    state = LiveState(["a"], title="demo", clock=clock)
    event = DriftEvent("a", "local", "warning", 9).to_dict()
    state.observe_batch({"records_in": 3}, {"a": learner_stats(0.25, events=[event])})
    with LivePage(state, "127.0.0.1", 0) as page:
        status, content_type, body = get(page.url)
        assert status == 200 and content_type.startswith("text/html") and b"/static/app.js" in body
        for name in ("app.js", "timeline.js", "style.css"):
            status, _, body = get(page.url + "static/" + name)
            assert status == 200 and body
        _, content_type, body = get(page.url + "api/state")
        served = json.loads(body)
        assert content_type == "application/json"
        assert served["title"] == "demo" and served["totals"]["records_in"] == 3 and served["last_event_id"] == 1
        (served_event,) = json.loads(get(page.url + "api/events?since=0")[2])
        assert (served_event["kind"], served_event["instance"], served_event["learner"]) == ("warning", 9, "a")
        for path, code in (("nope", 404), ("static/../dashboard.py", 404), ("static/%2e%2e/dashboard.py", 404), ("api/events?since=x", 400)):
            with pytest.raises(urllib.error.HTTPError) as caught:
                get(page.url + path)
            assert caught.value.code == code, path


def test_page_binds_to_localhost_by_default_and_names_a_busy_port():
    config = JobConfig(learners="majority", dashboard_port=0)
    with serve_live_page(config) as page:
        assert page.url.startswith("http://127.0.0.1:")
        busy = int(page.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(OSError, match=f"cannot serve the live page on 127.0.0.1:{busy}"):
            LivePage(page.state, "127.0.0.1", busy)


# -- end to end ----------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_live_state_follows_a_running_pipeline(ray_local, kafka_config):
    live = LivePipeline(kafka_config, synthetic_records(n=1200, drift_points=(600,)), ["ihomer", "majority"], rate=0)
    try:
        live.wait_for(lambda: live.processed() >= 1200, "all records to be predicted")
    finally:
        live.stop()
    out = live.page.state.to_json()
    assert out["status"] == "finished"
    assert out["totals"]["predictions_out"] == 1200 == live.summary.predictions_out
    assert set(out["window"]) == {"ihomer", "majority"}
    assert out["partitions"]["ihomer"]["partition"]
    assert out["heatmap"]["ihomer"]["labels"]
    assert out["last_event_id"] > 0


@pytest.mark.integration
@pytest.mark.slow
def test_tagstream_run_prints_the_live_page_and_feeds_it(ray_local, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from jobs import startup
    from jobs.cli import app

    pages = []
    monkeypatch.setattr(startup, "serve_live_page", lambda config, metrics: pages.append(serve_live_page(config, metrics)) or pages[-1])
    result = CliRunner().invoke(
        app, ["run", "--learner", "ihomer", "--limit", "300", "--metrics-port", "0", "--dashboard-port", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (page,) = pages
    assert f"live page on {page.url}" in result.output.replace("\n", "")
    state = page.state.to_json()
    assert state["status"] == "finished" and state["title"] == "yeast"
    assert state["totals"]["predictions_out"] == 300 and state["partitions"]["ihomer"]["partition"]
    with pytest.raises(urllib.error.URLError):  # the page stops with the command
        get(page.url + "api/state")
