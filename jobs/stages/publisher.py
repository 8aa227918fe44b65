"""The publisher stage: predictions, model events and drift alerts out, flushed before it answers."""

from __future__ import annotations

import collections
import logging
import time
import typing

from jobs.catalogue import Entry
from jobs.champion import ChampionSelector
from jobs.outage import flush_until_delivered
from jobs.sinks import Published, SinkContext, default_names, resolve
from jobs.stages.base import Restartable
from jobs.stages.messages import CHAMPION_SWITCH, Scored
from stream.kafka import DeadLetterSink, KafkaConfig, Message, RecordSink
from stream.records import ModelEvent, Prediction, RecordLimits

logger = logging.getLogger(__name__)


class PublisherStage(Restartable):
    """Publishes the serving learner's predictions and every drift alert to its sinks, then flushes.

    :meth:`publish` returns only after the broker acknowledged everything, so the driver may
    commit the batch's input offsets as soon as it has the acknowledgement.

    Parameters
    ----------
    config
        Kafka settings (predictions, drift and model-events topics).
    serving
        The learner whose predictions go to the predictions topic (while no champion selector
        has chosen another).
    champion
        Selector of the serving learner among those side by side; switches are published on the
        model-events topic as global ``champion_switch`` events.
    checkpoint_uri
        Folder (path or fsspec URI) of the selector's checkpoints, written with the learners'
        (:meth:`checkpoint`) and restored with them (:meth:`restore`), so a restarted job goes on
        serving the learner it had chosen.
    checkpoint_keep
        Checkpoints kept in that folder.
    limits
        Sizes of the dead letters of records the learner actors refused.
    checkpoint_key
        HMAC key that signs the checkpoints, and without which none is read.
    predictions_file
        Also append the published predictions to this JSON Lines file (see :mod:`jobs.predictions_file`).
    alertmanager_url
        Also POST the drift monitor's drift-level alerts to this Alertmanager, once they are on
        the drift topic (see :mod:`jobs.webhook`).
    sinks
        Where each batch goes (:mod:`jobs.sinks`), written and flushed in this order. ``None``:
        the topics, then the predictions file and the Alertmanager when given.

    """

    STAGE = "publisher"

    def __init__(
        self,
        config: KafkaConfig,
        serving: str,
        champion: ChampionSelector | None = None,
        checkpoint_uri: str | None = None,
        checkpoint_keep: int = 3,
        predictions_file: str | None = None,
        limits: RecordLimits | None = None,
        checkpoint_key: bytes | None = None,
        alertmanager_url: str | None = None,
        sinks: typing.Sequence[Entry] | None = None,
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.config = config
        self.serving = serving
        self.champion = champion
        self._sink = RecordSink(config)
        self._dead_letters = DeadLetterSink(self._sink, config.topics.deadletter, limits)
        if sinks is None:
            sinks = resolve(default_names(predictions_file, alertmanager_url))
        context = SinkContext(config, self._sink, predictions_file, alertmanager_url)
        self._sinks = [entry.build(context) for entry in sinks]
        self._scored = 0  # labelled records scored so far: the instance of a switch event

    def _learners(self) -> list[str]:
        return [self.serving] if self.champion is None else self.champion.learners

    def _owner(self) -> list[str]:
        return self._learners()

    def _state(self) -> dict:
        """The champion selector's state and the count of scored records."""
        return {"champion": None if self.champion is None else self.champion.state(), "scored": self._scored}

    def _apply_state(self, state: dict) -> None:
        self._scored = state["scored"]
        if self.champion is not None:
            self.champion.restore(state["champion"])

    def publish(self, *scored: Scored) -> dict:
        """Publish the outputs of one batch; ``scored`` holds one part per learner actor.

        The records the learner actors refused (each refuses the same ones) are dead-lettered.
        """
        self._require_ready()
        started = time.perf_counter()
        serving = self.serving if self.champion is None else self.champion.serving
        served = next(part for part in scored if serving in part.outputs)
        now = time.time()
        published = []
        for record_id, (labels, scores, version) in zip(served.ids, served.outputs[serving]):
            prediction = Prediction(
                id=record_id,
                labels=labels,
                scores=scores,
                learner=serving,
                model_version=version,
                latency_ms=(now - served.consumed_at) * 1000,
                ts=now,
            )
            published.append(prediction.to_json())
        # The learners' own events (splits, merges, serving changes, ...) are structural bookkeeping:
        # they go to the model-events topic, so the drift topic carries only the monitor's alerts.
        model_events = [ModelEvent.from_event(event, ts=now).to_json() for part in scored for event in part.events]
        # Each learner actor runs a drift monitor on the same records: their alerts about the data
        # carry the same event ids, and go out once.
        alerts = {alert["event_id"]: alert for part in scored for alert in part.alerts}
        switch = event = None
        self._scored += served.scored
        if self.champion is not None:
            windows = {name: window for part in scored for name, window in part.window.items()}
            switch = self.champion.observe(windows, scored=served.scored)
        if switch is not None:
            event = {"learner": switch["to"], "level": "global", "kind": CHAMPION_SWITCH, "labels": [], "node": None}
            event |= {"instance": self._scored, "detail": switch}
            model_events.append(ModelEvent.from_event(event, ts=now).to_json())
            logger.info("champion switch: %s", switch)
        stamped = [alert | {"ts": now} for alert in alerts.values()]
        batch = Published(published, model_events, stamped, now)
        for sink in self._sinks:
            sink.write(batch)
        refused: collections.Counter[str] = collections.Counter()
        for (topic, partition, offset), key, value, error in served.refused:
            self._dead_letters.send(Message(topic, partition, offset, key, value), error)
            refused[error.reason] += 1
        flush_until_delivered(self._dead_letters, "publishing predictions")
        for sink in self._sinks:
            sink.flush()
        acknowledged = time.time()
        return {
            "predictions": len(served.ids),
            "dead_letters": dict(refused),
            "drift": len(alerts),
            "model_events": len(model_events),
            # As published: the driver counts them and draws them on the live page, each event id once.
            "alerts": stamped,
            "switch": switch,
            "switch_event": event,
            "serving": serving,
            "publish_s": time.perf_counter() - started,
            "latencies_s": [acknowledged - origin for origin in served.origin],
        }

    def serving_learner(self) -> str:
        return self.serving if self.champion is None else self.champion.serving

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()
        self._sink.close()
