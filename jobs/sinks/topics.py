"""The ``topics`` sink: predictions, model events and drift alerts to their Kafka topics (always on)."""

from __future__ import annotations

from jobs.outage import flush_until_delivered
from jobs.sinks.registry import Published, SinkContext, register


@register("topics", "The predictions, model-events and drift topics (always written)")
class TopicsSink:
    """Sends each record to its topic with the publisher's producer; :meth:`flush` returns once the
    broker acknowledged them all (waiting out a broker outage, see :mod:`jobs.outage`)."""

    def __init__(self, context: SinkContext):
        self.topics = context.kafka.topics
        self._records = context.records

    def write(self, batch: Published) -> None:
        for prediction in batch.predictions:
            self._records.send(self.topics.predictions, prediction, key=prediction["id"])
        for event in batch.model_events:
            self._records.send(self.topics.model_events, event, key=event["learner"])
        for alert in batch.alerts:
            self._records.send(self.topics.drift, alert, key=alert["event_id"])

    def flush(self) -> None:
        flush_until_delivered(self._records, "publishing predictions")

    def close(self) -> None:
        """The producer is the publisher's: it closes it."""
