"""The publisher stage: predictions, model events and drift alerts out, flushed before it answers."""

from __future__ import annotations

import collections
import logging
import time

from jobs.champion import ChampionSelector
from jobs.outage import flush_until_delivered
from jobs.predictions_file import PredictionsFile
from jobs.stages.base import Restartable
from jobs.stages.messages import CHAMPION_SWITCH, Scored
from jobs.webhook import AlertmanagerSink
from stream.kafka import DeadLetterSink, KafkaConfig, Message, RecordSink
from stream.records import ModelEvent, Prediction, RecordLimits

logger = logging.getLogger(__name__)


class PublisherStage(Restartable):
    """Publishes the serving learner's predictions and every drift alert, then flushes.

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
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.config = config
        self.serving = serving
        self._alertmanager = None if alertmanager_url is None else AlertmanagerSink(alertmanager_url)
        self.champion = champion
        self._sink = RecordSink(config)
        self._dead_letters = DeadLetterSink(self._sink, config.topics.deadletter, limits)
        self._file = None if predictions_file is None else PredictionsFile(predictions_file)
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
        topics = self.config.topics
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
            self._sink.send(topics.predictions, published[-1], key=record_id)
        if self._file is not None:
            self._file.write(published)
        # The learners' own events (splits, merges, serving changes, ...) are structural bookkeeping:
        # they go to the model-events topic, so the drift topic carries only the monitor's alerts.
        model_events = 0
        for part in scored:
            for event in part.events:
                model_event = ModelEvent.from_event(event, ts=now)
                self._sink.send(topics.model_events, model_event.to_json(), key=model_event.learner)
                model_events += 1
        # Each learner actor runs a drift monitor on the same records: their alerts about the data
        # carry the same event ids, and go out once.
        alerts = {alert["event_id"]: alert for part in scored for alert in part.alerts}
        for event_id, alert in alerts.items():
            self._sink.send(topics.drift, alert | {"ts": now}, key=event_id)
        switch = event = None
        self._scored += served.scored
        if self.champion is not None:
            windows = {name: window for part in scored for name, window in part.window.items()}
            switch = self.champion.observe(windows, scored=served.scored)
        if switch is not None:
            event = {"learner": switch["to"], "level": "global", "kind": CHAMPION_SWITCH, "labels": [], "node": None}
            event |= {"instance": self._scored, "detail": switch}
            model_event = ModelEvent.from_event(event, ts=now)
            self._sink.send(topics.model_events, model_event.to_json(), key=model_event.learner)
            model_events += 1
            logger.info("champion switch: %s", switch)
        refused: collections.Counter[str] = collections.Counter()
        for (topic, partition, offset), key, value, error in served.refused:
            self._dead_letters.send(Message(topic, partition, offset, key, value), error)
            refused[error.reason] += 1
        flush_until_delivered(self._dead_letters, "publishing predictions")
        if self._alertmanager is not None and alerts:
            self._alertmanager.send(alerts.values(), now)  # a copy replayed after a recovery merges in Alertmanager
        acknowledged = time.time()
        return {
            "predictions": len(served.ids),
            "dead_letters": dict(refused),
            "drift": len(alerts),
            "model_events": model_events,
            "drift_alerts": dict(collections.Counter(f"{a['level']}/{a['kind']}" for a in alerts.values())),
            "switch": switch,
            "switch_event": event,
            "serving": serving,
            "publish_s": time.perf_counter() - started,
            "latencies_s": [acknowledged - origin for origin in served.origin],
        }

    def serving_learner(self) -> str:
        return self.serving if self.champion is None else self.champion.serving

    def close(self) -> None:
        self._sink.close()
        if self._file is not None:
            self._file.close()
