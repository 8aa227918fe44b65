"""The learner stage: learners side by side, each record predicted by all, then learned by all."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import time
import typing

from jobs.dashboard import EVENTS_PER_BATCH, SNAPSHOT_EVERY_S, LabelTally, partition_snapshot
from jobs.drift_stage import DriftConfig, StageMonitor
from jobs.label_join import LabelJoin
from jobs.stages.base import Restartable
from jobs.stages.labels import LabelUniverse, label_mask
from jobs.stages.learner_calls import InProcess, Sharded
from jobs.stages.messages import JOIN_STATS, STAGE_TIMES, Batch, Scored
from jobs.stages.shard import RayExecutor
from learners import registry
from learners.base import LabelMask, MultiLabelClassifier, PartialLabelsUnsupported
from learners.sharding import Learn, Predict, ShardedModel
from learners.metrics import MetricSuite
from learners.model_file import ModelFile
from stream.records import RecordError, RecordLimits, encode_json

logger = logging.getLogger(__name__)


def predicted_on(decisions: dict) -> tuple[str, ...]:
    """The names of the labels a ``{label: on}`` prediction has on, in its order (as published).

    >>> predicted_on({"a": True, 2: True, "c": False})
    ('a', '2')
    """
    return tuple(map(str, itertools.compress(decisions, decisions.values())))


def label_cluster_count(learner: MultiLabelClassifier) -> int | None:
    """Number of label clusters of a learner that partitions its labels (``describe()["partition"]``)."""
    describe = getattr(learner, "describe", None)
    if describe is None:
        return None
    partition = describe().get("partition")
    return len(partition) if isinstance(partition, list) else None


@dataclasses.dataclass(slots=True)
class _Step:
    """A new record or a late label of a batch: what the learners run for it, and how it is settled.

    ``predictions`` (learner -> labels predicted on arrival) is filled when the record's
    ``Predict`` has run; the label join holds the same dict, so a label that comes later is
    scored against it.
    """

    x: dict
    predictions: dict[str, dict]
    ops: list
    record_id: str
    ts: float
    where: tuple[str, int, int] | None
    new: bool = False  # a new record: predicted and published
    correction: bool = False  # a label update for a record already learned
    feedback: typing.Any = None  # the record or label update whose labels it has (None: none yet)
    y: dict | None = None
    mask: LabelMask | None = None


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
    shards, shard_actors, shard_timeout_s
        With ``shards`` > 1 every learner is a :class:`~learners.sharding.ShardedModel` over that
        many shards: its head lives here, its hosts in the :class:`~jobs.stages.shard.ShardStage`
        actors ``shard_actors[name]`` (started by the driver, in the order the head starts its
        hosts), answering within ``shard_timeout_s``. The per-record loop stays here; a batch's
        model calls go to the shards in one run. Each shard checkpoints itself, under the same
        epoch; this stage's checkpoint holds the heads.

    The per-record work runs in two passes over a batch. The first takes each new record or late
    label in (dedupe, limits, label join, targets) and says what the learners do with it (a
    *step* of ops); the second settles each step with the learners' results, in stream order
    (outputs, events). The drift monitor (:meth:`~jobs.drift_stage.StageMonitor.observe`: the
    alerts of the record-by-record calls) and the metrics
    (:meth:`~learners.metrics.MetricSuite.update_many`: the same scores) take the batch's records
    at once after it. A learner held here runs a step's ops as the second pass reaches it
    (:class:`~jobs.stages.learner_calls.InProcess`), a sharded one runs the whole batch before
    (:class:`~jobs.stages.learner_calls.Sharded`).

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
        shards: int = 1,
        shard_actors: typing.Mapping[str, typing.Sequence] | None = None,
        shard_timeout_s: float = 120.0,
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
        self.shards = shards
        if shards > 1 and initial is not None:
            raise ValueError("a trained model (--init-model) cannot start a sharded learner: run it with one shard")
        models = {name: registry.make(name, seed) for name in self.learners}
        if initial is not None and initial.learner in models:
            models[initial.learner] = initial.model_copy()  # --init-model; a checkpoint restored later wins over it
        if shards > 1:
            actors = shard_actors or {}
            self._learners = {
                name: Sharded(ShardedModel(model, shards, RayExecutor(actors.get(name, ()), shard_timeout_s)))
                for name, model in models.items()
            }
        else:
            self._learners = {name: InProcess(model) for name, model in models.items()}
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
        if initial is not None and initial.learner in self._learners:
            self._learned[initial.learner] = initial.learned
            self._universe = LabelUniverse(initial.labels)
        self._timing: tuple[float, float | None] | None = None  # the batch in process: started, extract seconds
        self._since_sized = model_size_every  # size the models after the first batch
        # For the live page: per-label hits of the top labels, events with detail, partition snapshots.
        self._tallies = {name: LabelTally() for name in self.learners}
        self._recent_events: dict[str, list[dict]] = {name: [] for name in self.learners}
        self._snapshot_at = float("-inf")

    @property
    def _models(self) -> dict[str, MultiLabelClassifier]:
        """The learners by name (a sharded one: its :class:`~learners.sharding.ShardedModel`)."""
        return {name: learner.model for name, learner in self._learners.items()}

    def process(self, batch: Batch) -> tuple[Scored, dict]:
        """Predict every new record of the batch, learn the labelled and the newly joined ones.

        Messages at positions a restored checkpoint already covers are skipped: they were
        learned before the crash, and learning them again would learn them twice. Records and
        late labels beyond the label or feature space (``limits``) are refused.
        """
        self._require_ready()
        self._offsets.update(batch.moved)  # a new log (jobs.outage.offsets_past_end): its offsets start again
        self._timing = (time.perf_counter(), batch.extract_s)
        refused: list[tuple[tuple[str, int, int], bytes, bytes, RecordError]] = []
        steps = self._take_in(batch, refused)
        outputs: dict[str, list] = {name: [] for name in self.learners}
        events: list[dict] = []
        ids, origin = [], []
        drift = []  # the drift monitor's observations, taken at once after the loop
        scored = 0
        position = dict(self._offsets)
        ops = [step.ops for step in steps]
        runs = [learner.run(ops, position) for learner in self._learners.values()]
        scored_steps: list[_Step] = []
        for step, *results in zip(steps, *runs):
            if step.new:
                ids.append(step.record_id)
                origin.append(step.ts)
                for name, learner_results in zip(self._learners, results):
                    scores, predicted = learner_results[0]
                    scores = dict(zip(map(str, scores), map(float, scores.values())))
                    outputs[name].append((predicted_on(predicted), scores, self._learned[name]))
                    step.predictions[name] = predicted
                if self._drift is not None:
                    drift.append(self._drift.inputs_observation(step.x, step.where, step.record_id, step.ts))
            if step.feedback is None:
                continue
            scored_steps.append(step)
            if step.ops and isinstance(step.ops[-1], Learn):
                for name, learner_results in zip(self._learners, results):
                    self._taught(name, learner_results[-1], events)
            if not step.correction:
                if self._drift is not None:
                    drift.append(self._drift.labels_observation(step.feedback.labels, step.predictions, step.where,
                                                                step.record_id, step.ts, dict(self._learned), self._models))
                scored += 1
        alerts = self._drift.observe(drift) if drift else []
        self._score(scored_steps)
        window = {name: suite.get_window() for name, suite in self._suites.items()}
        result = Scored(ids, origin, batch.consumed_at, outputs, events, scored, window, refused, alerts)
        return result, self.stats(len(ids), window)

    def _take_in(self, batch: Batch, refused: list) -> list[_Step]:
        """The first pass: the batch's new records and late labels taken in, each as a step of ops."""
        steps: list[_Step] = []
        for i, record in enumerate(batch.records):
            if batch.positions and self._seen(batch.positions[i]):
                continue
            refusal = self._beyond_spaces((*(record.labels or ()), *(record.known or ())), record.features)
            if refusal is not None:
                position = batch.positions[i] if batch.positions else ("", 0, -1)
                refused.append((position, record.key, encode_json(record.to_json()), refusal))
                continue
            x = record.features
            where = batch.positions[i] if batch.positions else None
            step = _Step(x, {}, [Predict(x)], record.id, batch.origin[i], where, new=True)
            feedback = record if record.labels is not None else None
            if feedback is None:
                feedback = self._join.add_record(record.id, (x, step.predictions), ts=batch.origin[i])
            if feedback is not None:
                self._target(step, feedback, learn=True)
                self._join.remember(record.id, (x, step.predictions), ts=batch.origin[i])
            steps.append(step)
        for update, position, ts in batch.updates:
            if self._seen(position):
                continue
            refusal = self._beyond_spaces((*update.labels, *(update.known or ())), None)
            if refusal is not None:
                refused.append((position, update.id.encode("utf-8"), encode_json(update.to_json()), refusal))
                continue
            learned = self._join.correction(update.id)
            if learned is not None:
                # A record already learned: its prediction on arrival is scored apart against the new labels.
                step = _Step(*learned, [], update.id, ts, position, correction=True)
                self._target(step, update, learn=self.learn_corrections)
                steps.append(step)
                continue
            waiting = self._join.add_label(update.id, update, ts)
            if waiting is not None:
                step = _Step(*waiting, [], update.id, ts, position)  # scored with the prediction made before the label
                self._target(step, update, learn=True)
                self._join.remember(update.id, waiting, ts)
                steps.append(step)
        return steps

    def _target(self, step: _Step, feedback, learn: bool) -> None:
        """Give ``step`` the labels of ``feedback`` (a record or label update) and, if ``learn``, their ``Learn`` op."""
        step.feedback = feedback
        step.mask = label_mask(feedback)
        step.y = self._universe.target(feedback.labels, feedback.known or ())
        if learn:
            step.ops.append(Learn(step.x, step.y, step.mask))

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

    def _score(self, steps: list[_Step]) -> None:
        """Score the predictions made on the steps' records against their labels, the batch at
        once: with the other scores, or apart for a correction (a label update for a record
        already learned)."""
        first_labels = [step for step in steps if not step.correction]
        corrections = [step for step in steps if step.correction]
        for name in self._learners:
            for chosen, suite in ((first_labels, self._suites[name]), (corrections, self._correction_suites[name])):
                if chosen:
                    suite.update_many([step.y for step in chosen], [step.predictions[name] for step in chosen], [step.mask for step in chosen])
            tally = self._tallies[name]
            for step in first_labels:
                tally.observe(step.feedback.labels, predicted_on(step.predictions[name]))

    def _taught(self, name: str, result, events: list[dict]) -> None:
        """Count what a learner's ``Learn`` gave: learned (with its events), or a partial target refused."""
        if isinstance(result, PartialLabelsUnsupported):
            # Counted in the summary; the job goes on with the learners that can.
            if not self._partial_refused[name]:
                logger.warning("%s; its partial targets are not learned (counted as partial_refused)", result)
            self._partial_refused[name] += 1
            return
        self._learned[name] += 1
        for event in result:
            self._events[name][event.level, event.kind] += 1
            events.append(event.to_dict())
            if len(self._recent_events[name]) < EVENTS_PER_BATCH:
                self._recent_events[name].append(events[-1])

    # -- checkpoints --------------------------------------------------------------------------------

    def _owner(self) -> list[str]:
        return self.learners if self.shards == 1 else [*self.learners, f"{self.shards} shards"]

    def _state(self) -> dict:
        """The models (sharded: their heads), metrics, label and feature spaces, join buffer and offsets taken in."""
        return {
            "offsets": dict(self._offsets),
            "models": {name: learner.state() for name, learner in self._learners.items()},
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
        for name, learner in self._learners.items():
            learner.load_state(state["models"][name])
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

    def stats(self, processed: int = 0, window: dict | None = None) -> dict:
        """Per learner: windowed scores, drift events since the last call, sampled size and clusters.

        For the live page (:mod:`jobs.dashboard`) also: the first events since the last call with
        their detail, hits and misses of the most frequent labels, and every few seconds a snapshot
        of the label partition (learners that have one). ``window``: the windowed scores per
        learner where the caller has just computed them.
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
                "window": window[name] if window is not None else self._suites[name].get_window(),
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
        """Per learner: cumulative and windowed scores, records learned, model size (a sharded
        learner's: its shards' together), the shards it runs on."""
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
                "shards": self.shards,
            }
            for name, model in self._models.items()
        }
