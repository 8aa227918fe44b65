"""The built-in live page: a small HTTP server in the driver and the bounded state it serves.

Where the numbers come from: the learner actors already return a small stats dict with every
batch (see ``LearnerStage.stats``); for the page they also carry the batch's drift events with
their detail (at most :data:`EVENTS_PER_BATCH` per learner), hits and misses of the
:data:`TOP_LABELS` most frequent labels, and, every :data:`SNAPSHOT_EVERY_S` seconds, a snapshot of
the label partition of learners that have one (iHOMER's ``describe()`` without its history).
The driver hands each batch's stats to :meth:`LiveState.observe_batch` (``run_pipeline``'s
``on_batch``), which folds them into ring buffers, and the drift monitor's alerts of the batch,
as the publisher put them on the drift topic and each event id once, to
:meth:`LiveState.observe_alerts` (``on_alerts``). :class:`LivePage` serves the static page from
``jobs/static`` and that state as JSON from a daemon thread; the page polls it.

Two sources of timeline entries, told apart by their ``source``: ``"model"``, the learners' own
events (their detectors, splits, merges, serving changes: model bookkeeping, placed at the records
taken in when their batch came back), and ``"monitor"``, the drift monitor's alerts (the records
people act on, placed at the record that raised them).

Endpoints: ``/`` (the page), ``/static/<file>``, ``/api/state`` (everything but the events),
``/api/events?since=<id>`` (events and alerts with a larger id, oldest first).
"""

from __future__ import annotations

import collections
import http.server
import ipaddress
import json
import logging
import mimetypes
import pathlib
import threading
import time
import typing
import urllib.parse

logger = logging.getLogger(__name__)

#: Labels whose per-label quality the learner actor reports: the most frequent ones.
TOP_LABELS = 16

#: Drift events per learner and batch that travel to the driver with their detail (counts are exact anyway).
EVENTS_PER_BATCH = 20

#: Seconds between two label-partition snapshots taken by a learner actor.
SNAPSHOT_EVERY_S = 2.0

#: Event kinds shown as partition changes on the timeline; the others are drifts, warnings or resets.
PARTITION_KINDS = frozenset({"split", "merge", "restructure"})

STATIC_DIR = pathlib.Path(__file__).with_name("static")


class LabelTally:
    """Per-label hits and misses since the last :meth:`pop`, reported for the most frequent labels.

    Parameters
    ----------
    top
        How many labels :meth:`pop` reports, the ones that were on most often since the start.

    Examples
    --------
    >>> tally = LabelTally(top=1)
    >>> tally.observe(true_on=("a", "b"), predicted_on=("a",))
    >>> tally.observe(true_on=("a",), predicted_on=("a", "c"))
    >>> tally.pop()
    {'a': [2, 0, 0]}
    >>> tally.pop()
    {'a': [0, 0, 0]}

    """

    def __init__(self, top: int = TOP_LABELS):
        self.top = top
        self._support: collections.Counter[str] = collections.Counter()
        self._counts: dict[str, list[int]] = {}  # label -> [tp, fp, fn] since the last pop

    def observe(self, true_on: typing.Iterable[str], predicted_on: typing.Iterable[str]) -> None:
        # Ordered, not a set: ties in support keep the order labels were first seen in, whatever
        # the process's string hash seed.
        true_on, predicted_on = dict.fromkeys(true_on), set(predicted_on)
        self._support.update(true_on.keys())
        for label in true_on.keys() | predicted_on:
            counts = self._counts.setdefault(label, [0, 0, 0])
            if label not in predicted_on:
                counts[2] += 1
            elif label in true_on:
                counts[0] += 1
            else:
                counts[1] += 1

    def pop(self) -> dict[str, list[int]]:
        """``{label: [tp, fp, fn]}`` since the last call, for the ``top`` most frequent labels."""
        out = {label: self._counts.get(label, [0, 0, 0]) for label, _ in self._support.most_common(self.top)}
        self._counts = {}
        return out


def partition_snapshot(model) -> dict | None:
    """The label tree and partition of a learner that partitions its labels, JSON-able; else ``None``.

    The learner's change history is left out: the events carry it, and it would make every
    snapshot as large as the history.
    """
    describe = getattr(model, "describe", None)
    if describe is None:
        return None
    described = describe()
    if not isinstance(described.get("partition"), list) or "tree" not in described:
        return None
    return {key: value for key, value in described.items() if key != "history"}


def f1_or_none(tp: int, fp: int, fn: int) -> float | None:
    """F1 of one label over some records; ``None`` when the label was neither on nor predicted there.

    >>> f1_or_none(3, 1, 0), f1_or_none(0, 0, 0)
    (0.8571428571428571, None)

    """
    if tp + fp + fn == 0:
        return None
    return 2 * tp / (2 * tp + fp + fn)


class LiveState:
    """What the live page shows, in bounded ring buffers; safe to read while the driver writes it.

    Parameters
    ----------
    learners
        The learners of the run, in configuration order (the first one serves predictions).
    title
        Shown in the page header (the dataset or topic the run consumes).
    metrics
        The run's :class:`~jobs.telemetry.PipelineMetrics`, read for the consumer lag (which the
        driver samples into it); without it the page shows no lag.
    sample_every_s
        Seconds between two points of the curves (and columns of the heatmap).
    history
        Most points kept per curve and columns per heatmap.
    max_events
        Most learner events kept for the timeline, and apart from them most monitor alerts.
    clock
        Monotonic clock in seconds (a parameter so that tests can drive it).

    Examples
    --------
    >>> ticks = iter([0.0, 2.0, 2.5])
    >>> state = LiveState(["mlhat"], sample_every_s=1.0, clock=lambda: next(ticks))
    >>> stats = {"mlhat": {"learned": 10, "window": {"subset_accuracy": 0.5}, "events": {}}}
    >>> state.observe_batch({"records_in": 10, "records_good": 10, "predictions_out": 10}, stats)
    >>> point = state.to_json()["points"][-1]
    >>> point["t"], point["records"], point["records_per_s"], point["learners"]["mlhat"]["subset_accuracy"]
    (2.0, 10, 5.0, 0.5)

    """

    def __init__(
        self,
        learners: typing.Sequence[str],
        title: str = "",
        metrics=None,
        sample_every_s: float = 1.0,
        history: int = 600,
        max_events: int = 500,
        clock: typing.Callable[[], float] = time.monotonic,
    ):
        self.learners = list(learners)
        self.title = title
        self.metrics = metrics
        self.sample_every_s = sample_every_s
        self.history = history
        self.max_events = max_events
        self.clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._started_epoch = time.time()
        self._status = "starting"
        self._last_sample: tuple[float, int] = (0.0, 0)  # (t, records) of the last point
        self._points: collections.deque[dict] = collections.deque(maxlen=history)
        # Apart, so that a learner busy with its bookkeeping does not push the monitor's alerts out;
        # numbered from one counter, so that the page asks for both with one id.
        self._events: collections.deque[dict] = collections.deque(maxlen=max_events)
        self._alerts: collections.deque[dict] = collections.deque(maxlen=max_events)
        self._next_event_id = 1
        self._event_counts: collections.Counter[str] = collections.Counter()  # "level/kind" -> events, all learners
        self._alert_counts: collections.Counter[str] = collections.Counter()  # "level/kind" -> monitor alerts
        self._totals: dict = {}
        self._window: dict[str, dict] = {}
        self._learned: dict[str, int] = {}
        self._partitions: dict[str, dict] = {}
        self._heat: dict[str, collections.deque] = {name: collections.deque(maxlen=history) for name in self.learners}
        self._heat_open: dict[str, dict[str, list[int]]] = {name: {} for name in self.learners}
        self._support: dict[str, collections.Counter] = {name: collections.Counter() for name in self.learners}

    def observe_batch(self, summary, stats: typing.Mapping[str, typing.Mapping]) -> None:
        """Fold in one retired batch: the run's summary so far and the batch's stats per learner."""
        summary = summary if isinstance(summary, typing.Mapping) else summary.to_json()
        with self._lock:
            self._status = "running"
            t = self.clock() - self._started
            records = summary.get("records_in", 0)
            self._totals = {
                "records_in": records,
                "records_good": summary.get("records_good", 0),
                "predictions_out": summary.get("predictions_out", 0),
                "dead_letters": dict(summary.get("dead_letters", {})),
                "batches": summary.get("batches", 0),
            }
            for learner, learner_stats in stats.items():
                self._observe_learner(learner, learner_stats, t, records)
            if t - self._last_sample[0] >= self.sample_every_s:
                self._sample(t, records)

    def _observe_learner(self, learner: str, stats: typing.Mapping, t: float, records: int) -> None:
        if learner not in self._heat:
            raise KeyError(f"stats for learner {learner!r}, which is not one of this run's learners {self.learners}")
        self._window[learner] = dict(stats.get("window", {}))
        self._learned[learner] = stats.get("learned", 0)
        for (level, kind), count in stats.get("events", {}).items():
            self._event_counts[f"{level}/{kind}"] += count
        for event in stats.get("recent_events", ()):
            entry = {**event, "id": self._next_event_id, "source": "model", "learner": learner, "t": round(t, 3), "records": records}
            self._events.append(entry)
            self._next_event_id += 1
        open_counts = self._heat_open[learner]
        for label, (tp, fp, fn) in stats.get("label_counts", {}).items():
            counts = open_counts.setdefault(label, [0, 0, 0])
            counts[0] += tp
            counts[1] += fp
            counts[2] += fn
            self._support[learner][label] += tp + fn
        if stats.get("partition") is not None:
            self._partitions[learner] = {**stats["partition"], "t": round(t, 3)}

    def observe_alerts(self, alerts: typing.Iterable[typing.Mapping]) -> None:
        """Fold in drift monitor alerts as published on the drift topic (the driver passes each event id once).

        An alert sits at the record that raised it: the monitor's index of its window's last
        record, plus one (records taken in up to and with it), the unit of the page's x-axis.
        """
        with self._lock:
            t = round(self.clock() - self._started, 3)
            for alert in alerts:
                records = alert["window"]["last"]["index"] + 1
                self._alerts.append({**alert, "id": self._next_event_id, "source": "monitor", "t": t, "records": records})
                self._next_event_id += 1
                self._alert_counts[f"{alert['level']}/{alert['kind']}"] += 1

    def _sample(self, t: float, records: int) -> None:
        last_t, last_records = self._last_sample
        self._points.append(
            {
                "t": round(t, 3),
                "records": records,
                "records_per_s": (records - last_records) / (t - last_t) if t > last_t else 0.0,
                "dead_letters": sum(self._totals.get("dead_letters", {}).values()),
                "lag": self._lag(),
                "learners": {name: dict(window) for name, window in self._window.items()},
            }
        )
        self._last_sample = (t, records)
        for learner, open_counts in self._heat_open.items():
            if open_counts:
                self._heat[learner].append({"t": round(t, 3), "f1": {label: f1_or_none(*c) for label, c in open_counts.items()}})
            self._heat_open[learner] = {}

    def _lag(self) -> int | None:
        if self.metrics is None:
            return None
        for family in self.metrics.registry.collect():
            if family.name == "tagstream_consumer_lag_records":
                values = [sample.value for sample in family.samples]
                return int(sum(values)) if values else None
        return None

    def finish(self, summary=None) -> None:
        """Mark the run as done (the page stops expecting new numbers); takes a last point."""
        with self._lock:
            t = self.clock() - self._started
            if summary is not None:
                summary = summary if isinstance(summary, typing.Mapping) else summary.to_json()
                self._totals = {**self._totals, **{key: summary[key] for key in self._totals if key in summary}}
            if t > self._last_sample[0]:
                self._sample(t, self._totals.get("records_in", 0))
            self._status = "finished"

    def to_json(self) -> dict:
        """Everything but the events themselves (see :meth:`events_since`), as JSON-able data.

        While the run is idle no batch arrives, yet time passes: a read then takes the point
        that is due, so the curves go on and the throughput drops to zero.
        """
        with self._lock:
            t = self.clock() - self._started
            if self._status == "running" and t - self._last_sample[0] >= self.sample_every_s:
                self._sample(t, self._totals.get("records_in", 0))
            last = self._points[-1] if self._points else None
            return {
                "title": self.title,
                "learners": self.learners,
                "status": self._status,
                "started": self._started_epoch,
                "uptime_s": round(t, 3),
                "totals": {
                    **self._totals,
                    "records_per_s": last["records_per_s"] if last else 0.0,
                    "lag": last["lag"] if last else None,
                    "drift_events": dict(self._event_counts),
                    "drift_alerts": dict(self._alert_counts),
                    "learned": dict(self._learned),
                },
                "window": {name: dict(scores) for name, scores in self._window.items()},
                "points": list(self._points),
                "last_event_id": self._next_event_id - 1,
                "partitions": dict(self._partitions),
                "heatmap": {name: self._heatmap(name) for name in self.learners},
            }

    def _heatmap(self, learner: str) -> dict:
        labels = [label for label, _ in self._support[learner].most_common(TOP_LABELS)]
        columns = list(self._heat[learner])
        return {
            "labels": labels,
            "t": [column["t"] for column in columns],
            "f1": [[column["f1"].get(label) for column in columns] for label in labels],
        }

    def events_since(self, since: int) -> list[dict]:
        """Kept events and alerts with an id above ``since``, oldest first."""
        with self._lock:
            kept = [entry for entries in (self._events, self._alerts) for entry in entries if entry["id"] > since]
        return sorted(kept, key=lambda entry: entry["id"])


#: Sent with every response: the page loads only its own files and talks only to its own origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def allowed_host(header: str | None, bound_host: str) -> bool:
    """Whether a request's ``Host`` header names this server: ``localhost``, an IP address, or the host it is bound to.

    A web page on another site can make a browser send requests here under a name of its own that
    resolves to this machine (DNS rebinding); such a name is refused, so that page reads nothing.

    >>> allowed_host("127.0.0.1:9109", "127.0.0.1"), allowed_host("localhost:9109", "0.0.0.0")
    (True, True)
    >>> allowed_host("evil.example:9109", "127.0.0.1"), allowed_host(None, "127.0.0.1")
    (False, False)

    """
    if not header:
        return False
    name = urllib.parse.urlsplit(f"//{header}").hostname or ""
    if name in ("localhost", bound_host):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        if not allowed_host(self.headers.get("Host"), self.server.server_address[0]):
            self.send_error(403, "this Host is not served (use localhost or the address the page is bound to)")
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send_file("index.html")
        elif url.path.startswith("/static/"):
            self._send_file(url.path.removeprefix("/static/"))
        elif url.path == "/api/state":
            self._send_json(self.server.state.to_json())
        elif url.path == "/api/events":
            query = urllib.parse.parse_qs(url.query)
            try:
                since = int(query.get("since", ["0"])[0])
            except ValueError:
                self.send_error(400, "since must be an integer event id")
                return
            self._send_json(self.server.state.events_since(since))
        else:
            self.send_error(404, f"no such page: {url.path}")

    def _send_file(self, name: str) -> None:
        # Only the files shipped in jobs/static, looked up by plain name: no path ever reaches the disk.
        if name not in self.server.static_files:
            self.send_error(404, f"no such file: {name}")
            return
        body = self.server.static_files[name]
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._send(body, content_type + ("; charset=utf-8" if content_type.startswith("text/") or name.endswith(".js") else ""))

    def _send_json(self, data) -> None:
        self._send(json.dumps(data, allow_nan=False).encode(), "application/json")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        logger.debug("live page %s: " + format, self.address_string(), *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, state: LiveState, static_files: dict[str, bytes]):
        self.state = state
        self.static_files = static_files
        super().__init__(address, _Handler)


def read_static(folder: pathlib.Path = STATIC_DIR) -> dict[str, bytes]:
    """The page's files by name, read once at start (they are small)."""
    files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    if "index.html" not in files:
        raise FileNotFoundError(f"the live page's index.html is missing from {folder}; the jobs package is incomplete")
    return files


class LivePage:
    """Serves a :class:`LiveState` and the page from a daemon thread.

    Parameters
    ----------
    state
        What to serve.
    host
        Interface to bind; 127.0.0.1 keeps the page on this machine.
    port
        Port to bind; 0 picks a free one (see :attr:`url`).

    """

    def __init__(self, state: LiveState, host: str = "127.0.0.1", port: int = 0):
        self.state = state
        self.host = host
        self.port = port
        try:
            self._server = _Server((host, port), state, read_static())
        except OSError as error:
            raise OSError(f"cannot serve the live page on {host}:{port}: {error.strerror or error}") from error
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-page", daemon=True)
        self._thread.start()
        logger.info("live page served on %s", self.url)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{port}/"

    def close(self, timeout: float = 5.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> LivePage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve_live_page(config, metrics=None) -> LivePage:
    """Start the live page of a run of ``config`` (a :class:`~jobs.config.JobConfig`) on its dashboard host and port.

    Pass ``page.state.observe_batch`` and ``page.state.observe_alerts`` to
    :func:`~jobs.pipeline.driver.run_pipeline` as ``on_batch`` and ``on_alerts``, and call
    ``page.state.finish(summary)`` when the run ends.
    """
    title = config.dataset or config.kafka.topics.records
    state = LiveState(config.learners, title=title, metrics=metrics)
    return LivePage(state, config.dashboard_host, config.dashboard_port)
