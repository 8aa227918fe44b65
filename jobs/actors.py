"""The pipeline's stages as plain classes, and their Ray actor shells.

Each stage is an ordinary object, tested without Ray; :func:`remote_stages` wraps them with
``ray.remote`` and nothing else. Micro-batches flow between them:

* :class:`ConsumerStage` polls a micro-batch of messages, parses them, dead-letters the bad ones
  and returns a :class:`Batch` plus a small :class:`PollInfo`; it commits offsets when told.
* :class:`FeatureStage` embeds text records and optionally standardises numeric ones.
* :class:`LearnerStage` holds one or more learners; for each record in order every learner
  predicts, then learns. It returns the predictions (:class:`Scored`) and small stats.
* :class:`PublisherStage` publishes the serving learner's predictions and the drift alerts,
  flushes, and only then returns its acknowledgement.

Which learners share a learner actor is decided by the pipeline, not by the learners.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
import typing
import uuid

from jobs.champion import ChampionSelector
from jobs.checkpoint import CheckpointError, CheckpointStore
from jobs.config import ExtractorConfig
from jobs.label_join import LabelJoin
from jobs.outage import commit_until_done, flush_until_delivered, offsets_past_end
from jobs.dashboard import EVENTS_PER_BATCH, SNAPSHOT_EVERY_S, LabelTally, partition_snapshot
from jobs.drift_stage import DriftConfig, StageMonitor
from jobs.webhook import AlertmanagerSink
from jobs.features import NumericStandardizer, TextEmbedder
from jobs.predictions_file import PredictionsFile
from learners import registry
from learners.base import LabelMask, MultiLabelClassifier, PartialLabelsUnsupported
from learners.metrics import MetricSuite
from learners.model_file import ModelFile
from stream.kafka import DeadLetterSink, KafkaConfig, Message, RecordSink, RecordSource, next_offsets
from stream.records import (
    LabelUpdate,
    ModelEvent,
    Prediction,
    Record,
    RecordError,
    RecordLimits,
    encode_json,
    parse_label_update,
    parse_record,
)

logger = logging.getLogger(__name__)

#: Version of what a stage's checkpoint holds; a checkpoint of another version is refused.
CHECKPOINT_FORMAT = 3

#: Kind of the drift-topic event published when another learner starts serving.
CHAMPION_SWITCH = "champion_switch"

#: Key of the label-join counts in a learner stage's stats (beside the learners' names).
JOIN_STATS = "_label_join"

#: Key of a learner stage's stats holding the seconds its batch spent in the extractor and in it.
STAGE_TIMES = "_stage_seconds"


@dataclasses.dataclass(slots=True)
class Batch:
    """A micro-batch of good records in stream order.

    ``origin`` holds, per record, the Kafka timestamp of its message (epoch seconds): where the
    end-to-end latency starts. ``consumed_at`` is when the batch was polled. ``positions`` holds
    each record's ``(topic, partition, offset)`` (how a restored learner skips what its checkpoint
    covers), and ``updates`` the late labels polled from the labels topic with their position and
    timestamp.
    """

    records: list[Record]
    origin: list[float]
    consumed_at: float
    positions: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    updates: list[tuple[LabelUpdate, tuple[str, int, int], float]] = dataclasses.field(default_factory=list)
    extract_s: float | None = None  # seconds the extractor spent on it (None: it did not go through it)
    # Partitions found read past their log's end and moved (to this offset) by the policy: the
    # learners take the new log's offsets from there instead of skipping them as seen.
    moved: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class PollInfo:
    """The small part of a poll the driver reads: counts, the offsets to commit, partitions assigned.

    ``partitions`` is 0 until the consumer's group join has finished: until then an empty poll
    does not mean the input is idle. ``texts`` counts the good records that carry text, which
    only the extractor can turn into features. ``first`` holds, per partition, the offset of the
    batch's first message (with ``offsets``, the range a crash of a learner on it points at).
    ``lost`` counts dead letters that could not be published at all since the last poll.
    """

    consumed: int
    good: int
    dead_letters: dict[str, int]
    offsets: dict[tuple[str, int], int]
    partitions: int
    texts: int = 0
    first: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    lost: int = 0
    seconds: float = 0.0  # the poll's time: waiting for messages, parsing, dead-lettering
    offset_gaps: int = 0  # partitions found read past their log's end (jobs.outage.offsets_past_end)


@dataclasses.dataclass(slots=True)
class Scored:
    """Predictions of a learner actor for one batch.

    ``outputs[learner][i]`` is ``(labels predicted on, scores, model version)`` for record ``i``,
    the model version being the number of records the learner had learned from. ``refused``
    holds ``(position, key, value, error)`` of the records and late labels the learner actor
    refused (label or feature space full); the value is the parsed message encoded again.
    """

    ids: list[str]
    origin: list[float]
    consumed_at: float
    outputs: dict[str, list[tuple[tuple[str, ...], dict[str, float], int]]]
    events: list[dict]
    scored: int = 0
    window: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    refused: list[tuple[tuple[str, int, int], bytes, bytes, RecordError]] = dataclasses.field(default_factory=list)
    alerts: list[dict] = dataclasses.field(default_factory=list)  # the drift monitor's (jobs.drift_stage)


class StageRestarted(RuntimeError):
    """A checkpointing stage was given work before the driver restored it (Ray restarted the actor)."""



class Restartable:
    """A stage Ray may restart, whose state goes into the job's checkpoints.

    Each construction of the actor is a new incarnation. With a checkpoint location, an
    incarnation takes no work until the driver has called :meth:`restore` (with the epoch every
    stage holds intact, or ``None`` for a fresh start): restores are all-or-nothing across the
    stages, and a stage Ray restarted on its own refuses work (:class:`StageRestarted`) rather
    than go on from a state the others do not share. The driver compares incarnations to tell a
    restarted actor from the one it killed (a kill takes effect asynchronously).

    Subclasses name their checkpoint's owner (:meth:`_owner`) and say what their state is
    (:meth:`_state`, :meth:`_apply_state`).
    """

    #: What the stage is called in its errors.
    STAGE = "stage"

    def __init__(self, checkpoint_uri: str | None = None, checkpoint_keep: int = 3, checkpoint_key: bytes | None = None):
        self.incarnation = uuid.uuid4().hex
        self.checkpoint_uri = checkpoint_uri
        self.checkpoint_keep = checkpoint_keep
        self._store = None if checkpoint_uri is None else CheckpointStore(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self._ready = self._store is None
        self.restored_epoch: int | None = None

    def started_as(self) -> str:
        """This incarnation (a new value each time Ray restarts the actor)."""
        return self.incarnation

    def checkpoint_epochs(self) -> tuple[list[int], bool]:
        """The epochs of this stage's intact checkpoints, and whether there are checkpoint files at all."""
        if self._store is None:
            return [], False
        return self._store.epochs(), self._store.has_files()

    def restore(self, epoch: int | None) -> None:
        """Go on from this stage's checkpoint of ``epoch`` (``None``: from a fresh state); then take work."""
        if epoch is not None:
            self._apply_state(load_checkpoint(self._store, self.checkpoint_uri, self._owner(), epoch))
            logger.info("%s restored from %s (epoch %d)", self.STAGE, self.checkpoint_uri, epoch)
        self.restored_epoch = epoch
        self._ready = True

    def checkpoint(self, epoch: int | None = None) -> None:
        """Write this stage's state as its checkpoint of ``epoch`` (a restarted, unrestored stage refuses)."""
        if self._store is None:
            raise CheckpointError(f"this {self.STAGE} has no checkpoint location")
        self._require_ready()
        self._store.save({"format": CHECKPOINT_FORMAT, "owner": self._owner(), **self._state()}, epoch)

    def _require_ready(self) -> None:
        if not self._ready:
            raise StageRestarted(
                f"{self.STAGE} restarted (checkpoints in {self.checkpoint_uri}): it takes work only once the "
                "driver has restored every stage from the same checkpoint"
            )

    def _owner(self) -> list[str]:
        raise NotImplementedError

    def _state(self) -> dict:
        raise NotImplementedError

    def _apply_state(self, state: dict) -> None:
        raise NotImplementedError


def load_checkpoint(store: CheckpointStore, uri: str, owner: list[str], epoch: int) -> dict:
    """The intact checkpoint of ``epoch`` written by a stage like this one.

    ``owner`` says whose state a checkpoint holds (a learner stage's or the publisher's learner
    names, the extractor's ``["extractor"]``): a checkpoint of another owner, or of another format,
    is refused rather than half used.
    """
    state = store.load(epoch)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("owner") != owner:
        raise CheckpointError(
            f"the checkpoint in {uri} belongs to {state.get('owner')} (format {state.get('format')}), "
            f"this stage is {owner} (format {CHECKPOINT_FORMAT})"
        )
    return state


class ConsumerStage:
    """Consumer of the input topic: poll, parse, dead-letter, commit on demand.

    Offsets are never committed automatically: :meth:`commit` is called by the driver once the
    batch's predictions are published (or, with checkpoints, once a checkpoint covers them). Dead
    letters are flushed before any commit, so a message counts as done only once its dead letter
    or its prediction is on the broker.

    Parameters
    ----------
    config
        Kafka settings; the group id and the input and dead-letter topics come from it.
    batch_size
        Most messages per poll.
    poll_timeout_s
        Longest a poll waits for the first message.
    labels
        Also read the labels topic (late labels, ``{id, labels}``).
    limits
        Limits of a message (see :class:`~stream.records.RecordLimits`) and of its dead letter.

    """

    def __init__(
        self,
        config: KafkaConfig,
        batch_size: int,
        poll_timeout_s: float,
        labels: bool = False,
        limits: RecordLimits | None = None,
    ):
        self.config = config
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.labels = labels
        self.limits = RecordLimits() if limits is None else limits
        topics = [config.topics.records, config.topics.labels] if labels else [config.topics.records]
        self._source = RecordSource(config, topics)
        self._sink = RecordSink(config)
        self._dead_letters = DeadLetterSink(self._sink, config.topics.deadletter, self.limits)
        self._lost_reported = 0
        # Positions of records a learner actor died on twice in a row: dead-lettered, never handed out.
        self._quarantined: set[tuple[str, int, int]] = set()
        self._rewind: dict[tuple[str, int], int] | None = None
        self._rewind_time_ms: int | None = None
        # Records fetched ahead of the labels topic, in stream time (see _align).
        self._held: collections.deque[Message] = collections.deque()
        self._labels_seen_ts = float("-inf")
        self._held_bytes = 0
        self._warned_overflow = False
        # Partitions moved by the offsets_out_of_range policy, not yet told to the learners, and their count.
        self._moved: dict[tuple[str, int], int] = {}
        self._gaps = 0

    def rewind(self, offsets: dict[tuple[str, int], int]) -> None:
        """Read on from the offsets a restored checkpoint covers, as soon as partitions are assigned.

        Partitions the checkpoint does not cover are read again from the group's committed
        offset (from the start when there is none): nothing of them was learned for sure.
        """
        self._rewind = dict(offsets)
        self._apply_rewind()

    def start_at_time(self, timestamp_ms: int) -> None:
        """Read every partition from its first message at or after ``timestamp_ms`` (a replay), once assigned."""
        self._rewind, self._rewind_time_ms = {}, timestamp_ms
        self._apply_rewind()

    def _apply_rewind(self) -> set[tuple[str, int]]:
        assigned = self._source.assignment()
        if self._rewind is None or not assigned:
            return set()
        if self._rewind_time_ms is not None:
            self._rewind, self._rewind_time_ms = self._source.offsets_for_time(self._rewind_time_ms), None
        for topic, partition in assigned:
            offset = self._rewind.get((topic, partition))
            if offset is None:
                offset = self._source.committed(topic, partition) or 0
            self._source.seek(topic, partition, offset)
        self._rewind = None
        # Records held back for the labels are read again from the new offsets; handed out now they
        # would come before the ones between the rewind offset and them.
        self._held.clear()
        self._held_bytes = 0
        return assigned

    def poll(self, isolate: dict[tuple[str, int], tuple[int, int]] | None = None) -> tuple[Batch, PollInfo]:
        """Poll a micro-batch, parse it, dead-letter what is bad.

        ``isolate`` maps input partitions to offset ranges ``[start, end)`` a learner actor died
        on: a record in one of them comes in a batch of its own, so that a record that kills a
        learner again is known (see :meth:`quarantine`).
        """
        started = time.perf_counter()
        messages = self._source.poll_batch(self.batch_size, self.poll_timeout_s)
        if self._rewind is not None:
            # Messages fetched before the seek (a group join just assigned the partition) come again after it.
            rewound = self._apply_rewind()
            messages = [m for m in messages if (m.topic, m.partition) not in rewound]
        moved = offsets_past_end(self._source, self._sink, self.config)
        if moved:
            # Read again from where the policy put them; the learners hear of it with the next batch.
            messages = [m for m in messages if (m.topic, m.partition) not in moved]
            self._moved |= moved
            self._gaps += len(moved)
        if self.labels:
            messages = self._align(messages)
        if isolate:
            messages = self._isolate(messages, isolate)
        consumed_at = time.time()
        batch = Batch([], [], consumed_at)
        if messages and self._moved:
            batch.moved, self._moved = self._moved, {}
        dead: collections.Counter[str] = collections.Counter()
        for message in messages:
            ts = message.timestamp_ms / 1000 if message.timestamp_ms is not None else consumed_at
            position = (message.topic, message.partition, message.offset)
            try:
                if message.topic == self.config.topics.records:
                    if position in self._quarantined:
                        raise RecordError("crashed_learner", "a learner actor died on this record twice in a row")
                    batch.records.append(parse_record(message.value, message.key, limits=self.limits))
                    batch.origin.append(ts)
                    batch.positions.append(position)
                else:
                    batch.updates.append((parse_label_update(message.value, message.key, limits=self.limits), position, ts))
            except RecordError as error:
                self._dead_letters.send(message, error)
                dead[error.reason] += 1
        texts = sum(record.text is not None for record in batch.records)
        good = len(batch.records) + len(batch.updates)
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            first.setdefault((message.topic, message.partition), message.offset)
        lost, self._lost_reported = self._dead_letters.lost - self._lost_reported, self._dead_letters.lost
        info = PollInfo(
            len(messages), good, dict(dead), next_offsets(messages), len(self._source.assignment()), texts, first, lost,
            seconds=time.perf_counter() - started,
        )
        if self._gaps:
            info, self._gaps = dataclasses.replace(info, offset_gaps=self._gaps), 0
        return batch, info

    def quarantine(self, positions: typing.Iterable[tuple[str, int, int]]) -> None:
        """Dead-letter the records at ``positions`` (reason ``crashed_learner``) instead of handing them out."""
        self._quarantined.update(positions)

    def _isolate(self, messages: list[Message], ranges: dict[tuple[str, int], tuple[int, int]]) -> list[Message]:
        """Cut the batch before the first message in ``ranges``, or to that message alone when it comes first.

        The partitions cut short are read again from their first message left out.
        """
        cut = next(
            (
                i
                for i, m in enumerate(messages)
                if (m.topic, m.partition) in ranges
                and ranges[m.topic, m.partition][0] <= m.offset < ranges[m.topic, m.partition][1]
            ),
            None,
        )
        if cut is None:
            return messages
        keep = max(cut, 1)
        resume: dict[tuple[str, int], int] = {}
        for message in messages[keep:]:
            resume.setdefault((message.topic, message.partition), message.offset)
        for (topic, partition), offset in resume.items():
            self._source.seek(topic, partition, offset)
        if resume and self._held:
            # Held records of those partitions come again after the seek.
            kept = collections.deque(m for m in self._held if (m.topic, m.partition) not in resume)
            self._held_bytes = sum(len(m.value or b"") for m in kept)
            self._held = kept
        return messages[:keep]

    def _align(self, messages: list[Message]) -> list[Message]:
        """Hand out records no earlier (in Kafka time) than the labels read so far, or once the labels are caught up.

        The client fetches the two topics independently and may run far ahead on one; records
        read long before the labels that were sent right after them would be predicted by a
        model that has not learned anything those labels teach, which the real delay never
        implied. Held records are not handed out, so their offsets are neither learned nor
        committed.

        The client hands out one partition's fetched data before the next one's, so labels
        fetched together with a backlog of records come only after all of it: records are held up
        to one fetch response's worth (``fetch_max_bytes``), what the client may buffer anyway.
        Beyond that (labels far behind the records) the oldest are handed out regardless, so
        memory stays bounded; that is logged once.
        """
        out = []
        for message in messages:
            if message.topic == self.config.topics.records:
                self._held.append(message)
                self._held_bytes += len(message.value or b"")
            else:
                out.append(message)
                if message.timestamp_ms is not None:
                    self._labels_seen_ts = max(self._labels_seen_ts, message.timestamp_ms / 1000)
        released = 0
        caught_up = None  # looked up at most once per poll
        while self._held and released < self.batch_size:
            head = self._held[0]
            if head.timestamp_ms is not None and head.timestamp_ms / 1000 > self._labels_seen_ts:
                if self._held_bytes > self.config.fetch_max_bytes:
                    if not self._warned_overflow:
                        logger.warning("labels far behind the records: handing out records ahead of them",
                                       extra={"held_bytes": self._held_bytes, "limit_bytes": self.config.fetch_max_bytes})
                        self._warned_overflow = True
                else:
                    if caught_up is None:
                        caught_up = self._labels_caught_up()
                    if not caught_up:
                        break
            self._held.popleft()
            self._held_bytes -= len(head.value or b"")
            out.append(head)
            released += 1
        return out

    def _labels_caught_up(self) -> bool:
        return self._source.fetched_to_end(self.config.topics.labels)

    def commit(self, offsets: dict[tuple[str, int], int]) -> int:
        """Flush the dead letters, then commit ``offsets``; returns the dead letters lost since the last poll
        (they are logged; their records are committed past like the others)."""
        # While the broker is down these wait for it (jobs.outage); the driver knows why they take long.
        flush_until_delivered(self._dead_letters, "sending dead letters")
        commit_until_done(lambda: self._source.commit(offsets), "committing offsets")
        lost, self._lost_reported = self._dead_letters.lost - self._lost_reported, self._dead_letters.lost
        return lost

    def lag(self) -> dict[int, int]:
        """Messages left per input partition (see :meth:`stream.kafka.RecordSource.lag` on accuracy)."""
        topic = self.config.topics.records
        return {partition: lag for (_, partition), lag in self._source.lag(topic=topic).items()}

    def close(self) -> None:
        self._dead_letters.flush()
        self._sink.close()
        self._source.close()


class FeatureStage(Restartable):
    """Turns every record into numeric features.

    Text records are embedded with :class:`~jobs.features.TextEmbedder` (loaded at the first
    text record, so numeric streams never pay for torch); numeric records pass through, or are
    standardised online when ``config.standardize`` is set.

    Parameters
    ----------
    config
        Extractor settings.
    checkpoint_uri
        Folder (path or fsspec URI) of the stage's checkpoints, written with the learners'
        (:meth:`checkpoint`): the online standardisation's statistics, restored with the other
        stages (:meth:`restore`), so that a restarted job transforms records as before.
    checkpoint_keep
        Checkpoints kept in that folder.
    checkpoint_key
        HMAC key that signs the checkpoints, and without which none is read.

    """

    STAGE = "extractor"
    OWNER = ["extractor"]

    def __init__(
        self,
        config: ExtractorConfig,
        checkpoint_uri: str | None = None,
        checkpoint_keep: int = 3,
        checkpoint_key: bytes | None = None,
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.config = config
        self._embedder: TextEmbedder | None = None
        self._scaler = NumericStandardizer() if config.standardize else None

    def _owner(self) -> list[str]:
        return self.OWNER

    def _state(self) -> dict:
        """The online standardisation's statistics (``None`` without standardisation)."""
        return {"scaler": self._scaler}

    def _apply_state(self, state: dict) -> None:
        if (state["scaler"] is None) != (self._scaler is None):
            raise CheckpointError(
                f"the checkpoint in {self.checkpoint_uri} was written with standardize={state['scaler'] is not None}, "
                f"this job runs standardize={self.config.standardize}"
            )
        self._scaler = state["scaler"]

    def transform(self, batch: Batch) -> Batch:
        self._require_ready()
        started = time.perf_counter()
        texts = [i for i, record in enumerate(batch.records) if record.text is not None]
        if not texts and self._scaler is None:
            return batch
        records = list(batch.records)
        if texts:
            embedded = self._text_embedder().transform([records[i].text for i in texts])
            for i, features in zip(texts, embedded):
                records[i] = dataclasses.replace(records[i], features=features, text=None)
        if self._scaler is not None:
            embedded_at = set(texts)
            for i, record in enumerate(records):
                if i not in embedded_at:
                    records[i] = dataclasses.replace(record, features=self._scaler.learn_transform_one(record.features))
        return dataclasses.replace(batch, records=records, extract_s=time.perf_counter() - started)

    def _text_embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = TextEmbedder(
                model=self.config.text_model,
                device=self.config.device,
                batch_size=self.config.batch_size,
                max_length=self.config.max_length,
                num_threads=self.config.num_cpus,
                quantize=self.config.quantize,
            )
        return self._embedder


class LabelUniverse:
    """Turns a record's list of labels that are on into a full ``dict[label, bool]``.

    A record names only the labels that are on; the target a learner gets holds every label
    seen so far on the stream, this record's included, with the absent ones off.

    Examples
    --------
    >>> universe = LabelUniverse()
    >>> universe.target(("b",))
    {'b': True}
    >>> universe.target(("a",))
    {'b': False, 'a': True}

    """

    def __init__(self, labels: typing.Iterable[str] = ()):
        self._labels: dict[str, None] = dict.fromkeys(labels)  # insertion-ordered set

    @property
    def labels(self) -> list[str]:
        """The labels seen so far, in the order they were first seen."""
        return list(self._labels)

    @property
    def size(self) -> int:
        """Labels seen so far."""
        return len(self._labels)

    def unseen(self, labels: typing.Iterable[str]) -> set[str]:
        """Those of ``labels`` not seen so far."""
        return {label for label in labels if label not in self._labels}

    def target(self, on: typing.Iterable[str], judged_off: typing.Iterable[str] = ()) -> dict[str, bool]:
        """The full target of a record whose labels ``on`` are on; ``judged_off`` names labels
        judged off (partial feedback), which join the universe like the labels that are on."""
        on = set(on)
        for label in sorted(on | set(judged_off)):
            self._labels.setdefault(label, None)
        return {label: label in on for label in self._labels}


def label_mask(message) -> LabelMask | None:
    """The :class:`~learners.base.LabelMask` of a record or label update that says which labels
    were judged (``known`` / ``unknown``), ``None`` when every label was."""
    if message.known is not None:
        return LabelMask(known=frozenset(message.known))
    if message.unknown is not None:
        return LabelMask(unknown=frozenset(message.unknown))
    return None


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


def extractor_gpus(device: str, cluster_gpus: float) -> int:
    """GPUs the extractor actor asks Ray for: one when it may use CUDA and the cluster has a GPU.

    The driver may have no GPU while the cluster's workers do, so this looks at the cluster's
    resources rather than at ``torch.cuda`` in the driver.

    Examples
    --------
    >>> extractor_gpus("auto", cluster_gpus=2), extractor_gpus("auto", cluster_gpus=0), extractor_gpus("cpu", 1)
    (1, 0, 0)

    """
    if device == "cpu":
        return 0
    if device == "cuda":
        if cluster_gpus <= 0:
            raise ValueError("extractor device 'cuda' was requested but the Ray cluster has no GPU")
        return 1
    return 1 if cluster_gpus > 0 else 0


def remote_stages():
    """The Ray actor classes of the four stages (``ray`` is imported only here)."""
    import ray

    return (
        ray.remote(ConsumerStage),
        ray.remote(FeatureStage),
        ray.remote(LearnerStage),
        ray.remote(PublisherStage),
    )
