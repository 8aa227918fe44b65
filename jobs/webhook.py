"""An optional sink that POSTs drift alerts to Alertmanager (its ``/api/v2/alerts`` format).

Only ``drift``-level alerts of the drift monitor go out (warnings stay on the topic); structural
model events never do. Each alert becomes one Alertmanager alert whose labels are what people
route and silence on (``alertname``, ``kind``, ``severity``, ``learner``, ``job``, ``event_id``)
and whose annotations say what changed and where. The same drift alert posted twice (a job
restored from a checkpoint replays it) carries the same labels, so Alertmanager merges the copies.
"""

from __future__ import annotations

import datetime
import json
import logging
import typing
import urllib.error
import urllib.request

logger = logging.getLogger(__name__)

#: The ``alertname`` label of every alert posted.
ALERT_NAME = "TagstreamDrift"

#: Alertmanager's severity for each of the monitor's severities.
SEVERITY = {"low": "info", "medium": "warning", "high": "critical"}


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _where(end: typing.Mapping) -> str:
    if end.get("offset") is not None:
        topic = f"{end['topic']}/" if end.get("topic") else ""
        return f"{topic}{end['partition']}@{end['offset']}"
    return f"record {end['index']}"


def alertmanager_alert(alert: typing.Mapping, ts: float, resolve_after_s: float = 3600.0) -> dict:
    """One drift alert (``Alert.to_dict()``) as an Alertmanager alert, starting at ``ts``.

    Examples
    --------
    >>> alert = {"event_id": "ab12", "level": "drift", "kind": "prior", "severity": "medium", "labels": ["y3", "y4"],
    ...          "learner": None, "clusters": ["c1"], "job": "tagstream", "detector": "prior", "model_version": None,
    ...          "statistic": {"name": "z", "value": 6.1, "threshold": 5.0},
    ...          "window": {"first": {"topic": "tagstream.records", "partition": 0, "offset": 1800, "index": 1800},
    ...                     "last": {"topic": "tagstream.records", "partition": 0, "offset": 2049, "index": 2049}}}
    >>> posted = alertmanager_alert(alert, ts=1767225600.0)
    >>> posted["labels"]["severity"], posted["labels"]["kind"], posted["startsAt"]
    ('warning', 'prior', '2026-01-01T00:00:00Z')
    >>> posted["annotations"]["summary"]
    'prior drift on y3, y4 (clusters c1)'
    >>> posted["annotations"]["window"]
    'tagstream.records/0@1800 .. tagstream.records/0@2049'

    """
    labels = list(alert.get("labels") or ())
    what = ", ".join(labels) if labels else "the inputs" if alert["kind"] == "feature" else "the label set"
    summary = f"{alert['kind']} drift on {what}"
    if alert.get("clusters"):
        summary += f" (clusters {', '.join(alert['clusters'])})"
    if alert.get("learner"):
        summary += f", learner {alert['learner']}"
    statistic = alert.get("statistic") or {}
    return {
        "labels": {
            "alertname": ALERT_NAME,
            "kind": alert["kind"],
            "severity": SEVERITY.get(alert.get("severity"), "warning"),
            "learner": alert.get("learner") or "",
            "job": alert.get("job") or "",
            "event_id": alert["event_id"],
        },
        "annotations": {
            "summary": summary,
            "labels": ",".join(labels),
            "window": f"{_where(alert['window']['first'])} .. {_where(alert['window']['last'])}",
            "detector": alert.get("detector") or "",
            "statistic": f"{statistic.get('name', '')}={statistic.get('value', '')} (threshold {statistic.get('threshold', '')})",
            "model_version": "" if alert.get("model_version") is None else str(alert["model_version"]),
        },
        "startsAt": _iso(ts),
        "endsAt": _iso(ts + resolve_after_s),
    }


class AlertmanagerSink:
    """POSTs drift alerts to an Alertmanager (``url`` is its base, e.g. ``http://alertmanager:9093``).

    A POST that fails (unreachable, an HTTP error) is logged with the alert ids and counted in
    :attr:`failed`; it never stops the job: the alerts are on the drift topic regardless.

    Parameters
    ----------
    url
        Base URL of the Alertmanager; alerts go to ``<url>/api/v2/alerts``.
    timeout_s
        Longest one POST may take.
    resolve_after_s
        ``endsAt`` of each alert, after its start: Alertmanager resolves it then.

    """

    def __init__(self, url: str, timeout_s: float = 5.0, resolve_after_s: float = 3600.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the Alertmanager URL must start with http:// or https://, got {url!r}")
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.timeout_s = timeout_s
        self.resolve_after_s = resolve_after_s
        self.posted = 0
        self.failed = 0

    def send(self, alerts: typing.Iterable[typing.Mapping], ts: float) -> int:
        """POST the ``drift``-level ones among ``alerts`` in one request; return how many were posted.

        Each starts at its own ``ts`` (its publication time) when it has one, else at ``ts``: an
        alert posted again after a failure keeps its start.
        """
        body = [alertmanager_alert(a, a.get("ts", ts), self.resolve_after_s) for a in alerts if a.get("level") == "drift"]
        if not body:
            return 0
        request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:  # HTTPError is a URLError
            self.failed += len(body)
            logger.warning("posting drift alerts to %s failed: %s", self.endpoint, error,
                           extra={"event_ids": [a["labels"]["event_id"] for a in body]})
            return 0
        self.posted += len(body)
        return len(body)
