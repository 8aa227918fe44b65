"""The learner stage: learners side by side, each record predicted by all, then learned by all."""

from __future__ import annotations

import collections
import logging
import time
import typing

from jobs.dashboard import EVENTS_PER_BATCH, SNAPSHOT_EVERY_S, LabelTally, partition_snapshot
from jobs.drift_stage import DriftConfig, StageMonitor
from jobs.label_join import LabelJoin
from jobs.stages.base import Restartable
from jobs.stages.labels import LabelUniverse, label_mask
from jobs.stages.messages import JOIN_STATS, STAGE_TIMES, Batch, Scored
from learners import registry
from learners.base import LabelMask, MultiLabelClassifier, PartialLabelsUnsupported
from learners.metrics import MetricSuite
from learners.model_file import ModelFile
from stream.records import RecordError, RecordLimits, encode_json

logger = logging.getLogger(__name__)


def label_cluster_count(learner: MultiLabelClassifier) -> int | None:
    """Number of label clusters of a learner that partitions its labels (``describe()["partition"]``)."""
    describe = getattr(learner, "describe", None)
    if describe is None:
        return None
    partition = describe().get("partition")
    return len(partition) if isinstance(partition, list) else None


class LearnerStage(Restartable):
    """Learners side by side on the same records: each record is predicted by all, then learned by all.

    Parameters
    ----------
    learners
        Catalogue names of the learners this stage holds.
    seed
        Seed of every learner.
    window
        Size of the sliding window of the per-learner metrics.
    model_size_every
        Measure model sizes (and label clusters) every this many records.
    checkpoint_uri
        Folder (path or fsspec URI) of this stage's checkpoints. When set, the stage takes
        batches only once the driver has restored it (:meth:`restore`) and read its position.
    checkpoint_keep
        Checkpoints kept in that folder.
    join_max_records, join_max_age_s
        Bounds of the buffer that joins late labels to their records (see :class:`~jobs.label_join.LabelJoin`).
        Records learned are remembered within the same bounds: a label update for one of them is
        a correction, scored apart (the prediction made on arrival against the corrected labels).
    learn_corrections
        Teach the learners each correction (learned once more with the corrected labels).
    limits
        ``max_label_space`` and ``max_feature_space``: a record (or late label) that would grow
        the label or feature space beyond them is refused, neither predicted nor learned, and
        handed back in :attr:`Scored.refused` to be dead-lettered.
    checkpoint_key
        HMAC key that signs the checkpoints, and without which none is read.
    initial
        A trained learner to start from (``--init-model``) instead of a fresh one, with its label
        space; ignored when the stage restores a checkpoint of its own.
    drift, job
        Settings of the drift monitor that watches the records, labels and predictions beside the
        learners (:class:`~jobs.drift_stage.StageMonitor`; ``None`` or disabled: none), and the
        job's name in its event ids. It is checkpointed with the learners.

    """

    STAGE = "learner stage"

    def __init__(
        self,
        learners: typing.Sequence[str],
        seed: int,
        window: int,
        model_size_every: int,
        checkpoint_uri: str | None = None,
        checkpoint_keep: int = 3,
        join_max_records: int = 10_000,
        join_max_age_s: float = 3600.0,
        initial: ModelFile | None = None,
        learn_corrections: bool = True,
        limits: RecordLimits | None = None,
        checkpoint_key: bytes | None = None,
        drift: DriftConfig | None = None,
        job: str = "tagstream",
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.learners = list(learners)
        self._drift = StageMonitor(job, drift) if drift is not None and drift.enabled else None
        self.seed = seed
        self.window = window
        self.model_size_every = model_size_every
        self.join_max_records = join_max_records
        self.join_max_age_s = join_max_age_s
        self.learn_corrections = learn_corrections
        self.limits = RecordLimits() if limits is None else limits
        self._models = {name: registry.make(name, seed) for name in self.learners}
        self._suites = {name: MetricSuite(window=window) for name in self.learners}
        # Partial feedback and corrections: the corrected labels against the prediction made on
        # arrival, and the partial targets a learner could not learn from (it says why once).
        self._correction_suites = {name: MetricSuite(window=None) for name in self.learners}
        self._partial_refused = dict.fromkeys(self.learners, 0)
        self._learned = dict.fromkeys(self.learners, 0)
        self._events = {name: collections.Counter() for name in self.learners}
        self._universe = LabelUniverse()
        self._join = LabelJoin(join_max_records, join_max_age_s)
        # Per input partition, the offset after the last message this stage took in.
        self._offsets: dict[tuple[str, int], int] = {}
        # Feature names learned from so far (the feature space that max_feature_space bounds).
        self._features: set[str] = set()
        self.restored = False
        if initial is not None and initial.learner in self._models:
            # A trained model to start from (--init-model); a checkpoint restored later wins over it.
            self._models[initial.learner] = initial.model_copy()
            self._learned[initial.learner] = initial.learned
            self._universe = LabelUniverse(initial.labels)
        self._timing: tuple[float, float | None] | None = None  # the batch in process: started, extract seconds
        self._since_sized = model_size_every  # size the models after the first batch
        # For the live page: per-label hits of the top labels, events with detail, partition snapshots.
        self._tallies = {name: LabelTally() for name in self.learners}
        self._recent_events: dict[str, list[dict]] = {name: [] for name in self.learners}
        self._snapshot_at = float("-inf")
        # predict_proba_one is needed anyway (scores); predict_one only where a learner overrides it.
        self._own_predict = {
            name: type(model).predict_one is not MultiLabelClassifier.predict_one for name, model in self._models.items()
        }

    def process(self, batch: Batch) -> tuple[Scored, dict]:
        """Predict every new record of the batch, learn the labelled and the newly joined ones.

        Messages at positions a restored checkpoint already covers are skipped: they were
        learned before the crash, and learning them again would learn them twice. Records and
        late labels beyond the label or feature space (``limits``) are refused.
        """
        self._require_ready()
        self._offsets.update(batch.moved)  # a new log (jobs.outage.offsets_past_end): its offsets start again
        self._timing = (time.perf_counter(), batch.extract_s)
        outputs: dict[str, list] = {name: [] for name in self.learners}
        events: list[dict] = []
        alerts: list[dict] = []
        ids, origin = [], []
        refused: list[tuple[tuple[str, int, int], bytes, bytes, RecordError]] = []
        scored = 0
        for i, record in enumerate(batch.records):
            if batch.positions and self._seen(batch.positions[i]):
                continue
            refusal = self._beyond_spaces((*(record.labels or ()), *(record.known or ())), record.features)
            if refusal is not None:
                position = batch.positions[i] if batch.positions else ("", 0, -1)
                refused.append((position, record.key, encode_json(record.to_json()), refusal))
                continue
            ids.append(record.id)
            origin.append(batch.origin[i])
            x = record.features
            predictions = {}
            for name, model in self._models.items():
                scores = model.predict_proba_one(x)
                predicted = model.predict_one(x) if self._own_predict[name] else {l: p >= 0.5 for l, p in scores.items()}
                predicted_on = tuple(str(l) for l, on in predicted.items() if on)
                outputs[name].append((predicted_on, {str(l): float(p) for l, p in scores.items()}, self._learned[name]))
                predictions[name] = predicted
            where = batch.positions[i] if batch.positions else None
            if self._drift is not None:
                alerts += self._drift.record(x, where, record.id, batch.origin[i])
            feedback = record if record.labels is not None else None
            if feedback is None:
                feedback = self._join.add_record(record.id, (x, predictions), ts=batch.origin[i])
            if feedback is not None:
                self._learn(x, feedback, predictions, events)
                alerts += self._drift_labelled(feedback, predictions, where, record.id, batch.origin[i])
                self._join.remember(record.id, (x, predictions), ts=batch.origin[i])
                scored += 1
        for update, position, ts in batch.updates:
            if self._seen(position):
                continue
            refusal = self._beyond_spaces((*update.labels, *(update.known or ())), None)
            if refusal is not None:
                refused.append((position, update.id.encode("utf-8"), encode_json(update.to_json()), refusal))
                continue
            learned = self._join.correction(update.id)
            if learned is not None:
                self._correct(*learned, update, events)
                continue
            waiting = self._join.add_label(update.id, update, ts)
            if waiting is not None:
                x, predictions = waiting  # scored with the prediction made before the label arrived
                self._learn(x, update, predictions, events)
                alerts += self._drift_labelled(update, predictions, position, update.id, ts)
                self._join.remember(update.id, waiting, ts)
                scored += 1
        window = {name: suite.get_window() for name, suite in self._suites.items()}
        result = Scored(ids, origin, batch.consumed_at, outputs, events, scored, window, refused, alerts)
        return result, self.stats(len(ids))

    def _beyond_spaces(self, labels: typing.Iterable[str], features: dict | None) -> RecordError | None:
        """Why a record (or late label) may not be taken in, ``None`` when it may; takes its features in.

        Every record's feature names count (an unlabelled one is learned once its labels come).
        """
        new_labels = self._universe.unseen(labels)
        room = self.limits.max_label_space - self._universe.size
        if len(new_labels) > room:
            return RecordError(
                "label_space_full",
                f"{len(new_labels)} new label(s) and room for {max(room, 0)} more "
                f"(max_label_space={self.limits.max_label_space})",
            )
        if features is not None:
            new_features = features.keys() - self._features
            room = self.limits.max_feature_space - len(self._features)
            if len(new_features) > room:
                return RecordError(
                    "feature_space_full",
                    f"{len(new_features)} new feature name(s) and room for {max(room, 0)} more "
                    f"(max_feature_space={self.limits.max_feature_space})",
                )
            self._features.update(new_features)
        return None

    def _seen(self, position: tuple[str, int, int]) -> bool:
        topic, partition, offset = position
        if offset < self._offsets.get((topic, partition), 0):
            return True
        self._offsets[topic, partition] = offset + 1
        return False

    def _learn(self, x: dict, feedback, predictions: dict[str, dict], events: list[dict]) -> None:
        """Score the predictions made for ``x`` against ``feedback`` (a record or label update:
        its labels, and which were judged) and teach the learners."""
        mask = label_mask(feedback)
        y = self._universe.target(feedback.labels, feedback.known or ())
        for name in self._models:
            predicted = predictions[name]
            self._suites[name].update(y, predicted, mask)
            self._tallies[name].observe(feedback.labels, tuple(str(l) for l, on in predicted.items() if on))
        self._teach(x, y, mask, events)

    def _drift_labelled(self, feedback, predictions, where, record_id: str, ts: float) -> list[dict]:
        """The drift monitor's alerts for a record just learned (its labels, the predictions made on arrival)."""
        if self._drift is None:
            return []
        self._drift.clusters_from(self._models, 1)
        return self._drift.labelled(feedback.labels, predictions, where, record_id, ts, dict(self._learned))

    def _correct(self, x: dict, predictions: dict[str, dict], update, events: list[dict]) -> None:
        """A label update for a record already learned: score the prediction made on its arrival
        against the corrected labels (apart from the other scores) and, if configured, teach them."""
        mask = label_mask(update)
        y = self._universe.target(update.labels, update.known or ())
        for name in self._models:
            self._correction_suites[name].update(y, predictions[name], mask)
        if self.learn_corrections:
            self._teach(x, y, mask, events)

    def _teach(self, x: dict, y: dict[str, bool], mask: LabelMask | None, events: list[dict]) -> None:
        for name, model in self._models.items():
            if mask is None:
                model.learn_one(x, y)
            else:
                try:
                    model.learn_one_masked(x, y, mask)
                except PartialLabelsUnsupported as refusal:
                    # Counted in the summary; the job goes on with the learners that can.
                    if not self._partial_refused[name]:
                        logger.warning("%s; its partial targets are not learned (counted as partial_refused)", refusal)
                    self._partial_refused[name] += 1
                    continue
            self._learned[name] += 1
            for event in model.pop_events():
                self._events[name][event.level, event.kind] += 1
                events.append(event.to_dict())
                if len(self._recent_events[name]) < EVENTS_PER_BATCH:
                    self._recent_events[name].append(events[-1])

    # -- checkpoints --------------------------------------------------------------------------------

    def _owner(self) -> list[str]:
        return self.learners

    def _state(self) -> dict:
        """The models, metrics, label and feature spaces, join buffer and offsets taken in."""
        return {
            "offsets": dict(self._offsets),
            "models": self._models,
            "suites": self._suites,
            "correction_suites": self._correction_suites,
            "partial_refused": self._partial_refused,
            "learned": self._learned,
            "universe": self._universe,
            "features": self._features,
            "join": self._join,
            "drift": self._drift,
        }

    def _apply_state(self, state: dict) -> None:
        self._offsets = state["offsets"]
        self._models = state["models"]
        self._suites = state["suites"]
        self._correction_suites = state["correction_suites"]
        self._partial_refused = state["partial_refused"]
        self._learned = state["learned"]
        self._universe = state["universe"]
        self._features = state["features"]
        self._join = state["join"]
        self._drift = state.get("drift", self._drift)
        self.restored = True
        logger.info("restored %s at offsets %s (%s learned)", self.checkpoint_uri, self._offsets, self._learned)

    def position(self) -> dict[tuple[str, int], int]:
        """Per input partition, the offset after the last message taken in (restored ones included)."""
        return dict(self._offsets)

    def stats(self, processed: int = 0) -> dict:
        """Per learner: windowed scores, drift events since the last call, sampled size and clusters.

        For the live page (:mod:`jobs.dashboard`) also: the first events since the last call with
        their detail, hits and misses of the most frequent labels, and every few seconds a snapshot
        of the label partition (learners that have one).
        """
        self._since_sized += processed
        sample = self._since_sized >= self.model_size_every
        if sample:
            self._since_sized = 0
        snapshot = time.monotonic() - self._snapshot_at >= SNAPSHOT_EVERY_S
        if snapshot:
            self._snapshot_at = time.monotonic()
        out = {}
        for name, model in self._models.items():
            out[name] = {
                "learned": self._learned[name],
                "window": self._suites[name].get_window(),
                "events": dict(self._events[name]),
                "model_bytes": model.model_bytes if sample else None,
                "label_clusters": label_cluster_count(model) if sample else None,
                "recent_events": self._recent_events[name],
                "label_counts": self._tallies[name].pop(),
                "partition": partition_snapshot(model) if snapshot else None,
            }
            self._events[name].clear()
            self._recent_events[name] = []
        out[JOIN_STATS] = self._join.counts()
        if self._timing is not None:
            started, extract_s = self._timing
            out[STAGE_TIMES] = {"learn": time.perf_counter() - started, "extract": extract_s}
            self._timing = None
        return out

    def summary(self) -> dict:
        """Per learner: cumulative and windowed scores, records learned, model size."""
        return {
            name: {
                "learned": self._learned[name],
                "scored": self._suites[name].n,
                "cumulative": self._suites[name].get(),
                "window": self._suites[name].get_window(),
                "model_bytes": model.model_bytes,
                "label_clusters": label_cluster_count(model),
                "label_join": self._join.counts(),
                "corrections": {
                    "scored": self._correction_suites[name].n,
                    "cumulative": self._correction_suites[name].get(),
                    "taught": self.learn_corrections,
                },
                "partial_refused": self._partial_refused[name],
            }
            for name, model in self._models.items()
        }
