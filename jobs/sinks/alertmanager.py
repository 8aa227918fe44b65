"""The ``alertmanager`` sink: drift-level alerts POSTed to ``drift.alertmanager_url`` (see :mod:`jobs.webhook`)."""

from __future__ import annotations

import logging

from jobs.sinks.registry import Published, SinkContext, register
from jobs.webhook import AlertmanagerSink

logger = logging.getLogger(__name__)

#: Drift alerts kept for the next attempt while the Alertmanager does not take them; the oldest
#: beyond this are given up (logged with their ids; they stay on the drift topic).
MAX_UNSENT = 1000


@register("alertmanager", "Drift-level alerts POSTed to an Alertmanager (drift.alertmanager_url)")
class AlertmanagerWebhookSink:
    """Holds a batch's drift-level alerts until :meth:`flush`, which POSTs them: the job lists it
    after ``topics``, so an alert goes out once it is on the drift topic.

    A failed POST is logged, never fatal (:class:`~jobs.webhook.AlertmanagerSink`), and its alerts
    are posted again with the next batch's, at most :data:`MAX_UNSENT` of them. Posting one twice
    does no harm: Alertmanager merges alerts with the same labels, ``event_id`` among them.
    """

    def __init__(self, context: SinkContext):
        if context.alertmanager_url is None:
            raise ValueError("the alertmanager sink needs drift.alertmanager_url")
        self._webhook = AlertmanagerSink(context.alertmanager_url)
        self._pending: list[dict] = []
        self._ts = 0.0

    def write(self, batch: Published) -> None:
        self._pending.extend(alert for alert in batch.alerts if alert["level"] == "drift")
        self._ts = batch.ts

    def flush(self) -> None:
        if not self._pending or self._webhook.send(self._pending, self._ts) == len(self._pending):
            self._pending = []
            return
        given_up, self._pending = self._pending[:-MAX_UNSENT], self._pending[-MAX_UNSENT:]
        if given_up:
            logger.error(
                "gave up posting %d drift alerts to %s (they stay on the drift topic)",
                len(given_up),
                self._webhook.endpoint,
                extra={"event_ids": [alert["event_id"] for alert in given_up]},
            )

    def close(self) -> None:
        self._pending = []
