"""The ``alertmanager`` sink: drift-level alerts POSTed to ``drift.alertmanager_url`` (see :mod:`jobs.webhook`)."""

from __future__ import annotations

from jobs.sinks.registry import Published, SinkContext, register
from jobs.webhook import AlertmanagerSink


@register("alertmanager", "Drift-level alerts POSTed to an Alertmanager (drift.alertmanager_url)")
class AlertmanagerWebhookSink:
    """Holds a batch's alerts until :meth:`flush`, which POSTs them: the job lists it after
    ``topics``, so an alert goes out once it is on the drift topic. A failed POST is logged and
    counted, never fatal (:class:`~jobs.webhook.AlertmanagerSink`)."""

    def __init__(self, context: SinkContext):
        if context.alertmanager_url is None:
            raise ValueError("the alertmanager sink needs drift.alertmanager_url")
        self._webhook = AlertmanagerSink(context.alertmanager_url)
        self._pending: list[dict] = []
        self._ts = 0.0

    def write(self, batch: Published) -> None:
        self._pending.extend(batch.alerts)
        self._ts = batch.ts

    def flush(self) -> None:
        if self._pending:
            # A copy replayed after a recovery carries the same labels: Alertmanager merges it.
            self._webhook.send(self._pending, self._ts)
        self._pending = []

    def close(self) -> None:
        self._pending = []
