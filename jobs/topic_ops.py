"""Operating a job's topics by hand: its consumer group's offsets, and its dead letters.

Behind ``tagstream offsets show|reset|skip`` and ``tagstream deadletters stats|replay``
(:mod:`jobs.cli_ops`). Everything here speaks the standard Kafka protocol through kafka-python:

* Offsets are read with the admin client (``OffsetFetch``) and changed with it
  (``OffsetCommit`` from outside the group). Kafka refuses that while the group has members, so
  a running job's offsets cannot be changed under it: stop the job, change them, start it again.
* The end of a partition is found by reading from the end the broker reports until nothing more
  comes: some brokers (the embedded one) report the base offset of the last batch rather than
  the offset after the last message, and "latest" must not re-deliver that batch.
* Dead letters are read from the start of the dead-letter topic to its end, outside any group.
  A replay sends each selected one back to the input topic it came from, with its original key,
  value and headers, plus a header ``tagstream.replayed-from`` naming the dead letter's
  coordinates. Replaying twice sends the records twice: select by time (``since``) to replay
  only what was dead-lettered after the previous replay.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import typing

import kafka
import kafka.errors
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from stream.errors import KafkaClientError, KafkaTimeout, RecordError
from stream.kafka import KafkaConfig, RecordSink, topic_partitions
from stream.records import DeadLetter, parse_dead_letter

logger = logging.getLogger(__name__)

Partition = tuple[str, int]

#: Header added to a replayed dead letter: ``<dead-letter topic>/<partition>/<offset>``.
REPLAYED_FROM = "tagstream.replayed-from"

#: How long a read waits for more messages before taking a partition as read to its end.
END_POLL_MS = 500

#: Errors Kafka answers an offset change with while the group has members.
_GROUP_ACTIVE = (
    kafka.errors.UnknownMemberIdError,
    kafka.errors.IllegalGenerationError,
    kafka.errors.RebalanceInProgressError,
)


class OffsetsError(KafkaClientError):
    """An offset operation cannot be done; the message says why (a running job, an unknown partition)."""


def parse_moment(text: str) -> datetime.datetime:
    """A point in time from epoch seconds or ISO 8601 (UTC when no offset is given).

    >>> parse_moment("2026-01-02T03:04:05").isoformat()
    '2026-01-02T03:04:05+00:00'
    >>> parse_moment("0").isoformat()
    '1970-01-01T00:00:00+00:00'

    """
    text = text.strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), tz=datetime.timezone.utc)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def _reader(config: KafkaConfig) -> kafka.KafkaConsumer:
    """A consumer outside any group (it only reads assigned partitions and never commits)."""
    reader = config.model_copy(update={"group_id": None})
    try:
        return kafka.KafkaConsumer(**reader.client_kwargs("consumer"))
    except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError) as error:
        raise KafkaClientError(f"no broker reachable at {config.bootstrap_servers}", error) from error


def _admin(config: KafkaConfig) -> kafka.KafkaAdminClient:
    try:
        return kafka.KafkaAdminClient(**config.client_kwargs("admin"))
    except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError) as error:
        raise KafkaClientError(f"no broker reachable at {config.bootstrap_servers}", error) from error


def read_to_end(consumer: kafka.KafkaConsumer, tps: list[TopicPartition]) -> typing.Iterator:
    """Every message of the assigned ``tps`` from their current positions up to where they end now."""
    while True:
        fetched = consumer.poll(timeout_ms=END_POLL_MS, max_records=1000)
        if not fetched:
            return
        for messages in fetched.values():
            yield from messages


def partition_ends(consumer: kafka.KafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after the last message of each partition, read rather than trusted (see the module)."""
    if not tps:
        return {}
    reported = consumer.end_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, reported[tp])
    for _ in read_to_end(consumer, tps):
        pass
    return {tp: consumer.position(tp) for tp in tps}


@dataclasses.dataclass(frozen=True)
class PartitionOffsets:
    """Where a group stands on one partition: ``committed`` (``None``: nothing committed), the
    partition's first offset ``start`` and the offset after its last message ``end``."""

    topic: str
    partition: int
    committed: int | None
    start: int
    end: int

    @property
    def lag(self) -> int:
        """Messages the group has still to read (from the start when it committed nothing)."""
        position = self.start if self.committed is None else self.committed
        return max(0, self.end - position)


@dataclasses.dataclass(frozen=True)
class OffsetChange:
    """One partition's committed offset before and after a reset or a skip."""

    topic: str
    partition: int
    before: int | None
    after: int


class GroupOffsets:
    """The committed offsets of one consumer group on some topics.

    Parameters
    ----------
    config
        Connection settings (its group id is not used: ``group`` is).
    group
        The consumer group, the job's ``kafka.group_id``.
    topics
        The topics whose partitions are shown and changed (the job's input topics).

    """

    def __init__(self, config: KafkaConfig, group: str, topics: typing.Sequence[str]):
        self.config = config
        self.group = group
        self.topics = list(topics)
        self._partitions = [TopicPartition(t, p) for topic in self.topics for t, p in topic_partitions(config, topic)]

    def _committed(self, admin) -> dict[TopicPartition, int | None]:
        try:
            found = admin.list_group_offsets({self.group: self._partitions}).get(self.group, {})
        except kafka.errors.KafkaError as error:
            raise OffsetsError(f"reading the offsets of group {self.group!r} failed", error) from error
        return {tp: (found[tp].offset if tp in found and found[tp].offset >= 0 else None) for tp in self._partitions}

    def show(self) -> list[PartitionOffsets]:
        """Committed offset, start and end of every partition, in topic and partition order."""
        admin, consumer = _admin(self.config), _reader(self.config)
        try:
            committed = self._committed(admin)
            starts = consumer.beginning_offsets(self._partitions)
            ends = partition_ends(consumer, self._partitions)
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout("reading partition offsets timed out", error) from error
        finally:
            consumer.close(autocommit=False)
            admin.close()
        return [PartitionOffsets(tp.topic, tp.partition, committed[tp], starts[tp], ends[tp]) for tp in self._partitions]

    def _select(self, topic: str | None, partition: int | None) -> list[TopicPartition]:
        chosen = [tp for tp in self._partitions if (topic is None or tp.topic == topic) and (partition is None or tp.partition == partition)]
        if not chosen:
            where = f"partition {partition} of " if partition is not None else ""
            raise OffsetsError(f"no {where}{topic or ' or '.join(self.topics)} (partitions: {[(tp.topic, tp.partition) for tp in self._partitions]})")
        return chosen

    def reset(
        self,
        to: typing.Literal["earliest", "latest"] | datetime.datetime,
        *,
        topic: str | None = None,
        partition: int | None = None,
        dry_run: bool = False,
    ) -> list[OffsetChange]:
        """Point the group at the start or the end of the partitions, or at the first message at or after a time.

        A time after the last message means the end. ``topic`` and ``partition`` narrow the
        partitions changed; ``dry_run`` only computes the change.
        """
        chosen = self._select(topic, partition)
        consumer = _reader(self.config)
        try:
            if to == "earliest":
                target = consumer.beginning_offsets(chosen)
            elif to == "latest":
                target = partition_ends(consumer, chosen)
            else:
                target = self._offsets_at(consumer, chosen, to)
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout("looking up offsets timed out", error) from error
        finally:
            consumer.close(autocommit=False)
        return self._commit(target, dry_run)

    @staticmethod
    def _offsets_at(consumer, chosen: list[TopicPartition], moment: datetime.datetime) -> dict[TopicPartition, int]:
        timestamp_ms = int(moment.timestamp() * 1000)
        found = consumer.offsets_for_times(dict.fromkeys(chosen, timestamp_ms))
        ends = partition_ends(consumer, chosen)
        out = {}
        for tp in chosen:
            hit = found.get(tp)
            # A broker owes a message at or after the time; anything else (none, or an answer with
            # an earlier or unknown timestamp, as some brokers give) means no such message: the end.
            out[tp] = hit.offset if hit is not None and hit.timestamp is not None and hit.timestamp >= timestamp_ms else ends[tp]
        return out

    def skip(self, count: int, *, partition: int, topic: str | None = None, dry_run: bool = False) -> list[OffsetChange]:
        """Move the group ``count`` messages further on one partition (not past its end).

        A group that committed nothing there skips from the partition's start.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        chosen = self._select(topic or self.topics[0], partition)
        admin, consumer = _admin(self.config), _reader(self.config)
        try:
            committed = self._committed(admin)
            starts = consumer.beginning_offsets(chosen)
            ends = partition_ends(consumer, chosen)
        finally:
            consumer.close(autocommit=False)
            admin.close()
        target = {}
        for tp in chosen:
            position = committed[tp] if committed[tp] is not None else starts[tp]
            target[tp] = min(ends[tp], position + count)
        return self._commit(target, dry_run)

    def _commit(self, target: dict[TopicPartition, int], dry_run: bool) -> list[OffsetChange]:
        admin = _admin(self.config)
        try:
            before = self._committed(admin)
            changes = [OffsetChange(tp.topic, tp.partition, before[tp], offset) for tp, offset in sorted(target.items())]
            if dry_run:
                return changes
            try:
                results = admin.alter_group_offsets(self.group, {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in target.items()})
            except kafka.errors.KafkaError as error:
                raise OffsetsError(f"changing the offsets of group {self.group!r} failed", error) from error
        finally:
            admin.close()
        failed = {tp: error for tp, error in results.items() if error is not kafka.errors.NoError}
        if any(issubclass(error, _GROUP_ACTIVE) for error in failed.values()):
            raise OffsetsError(
                f"group {self.group!r} has active members (is a job running?): stop it first; Kafka changes the "
                "offsets of an idle group only"
            )
        if failed:
            raise OffsetsError(f"changing the offsets of group {self.group!r} failed: {failed}")
        logger.info("offsets of group %s changed: %s", self.group, changes)
        return changes


# -- dead letters -----------------------------------------------------------------------------------


@dataclasses.dataclass
class DeadLetterStats:
    """What the dead-letter topic holds: counts by reason and by source topic, time span, last error per reason.

    ``unreadable`` counts messages that are not tagstream dead letters (headers missing).
    """

    total: int = 0
    by_reason: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    by_source: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    last_error: dict[str, str] = dataclasses.field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None
    unreadable: int = 0

    def add(self, letter: DeadLetter) -> None:
        self.total += 1
        self.by_reason[letter.reason] += 1
        self.by_source[letter.source_topic] += 1
        self.last_error[letter.reason] = letter.error_message
        self.first_ts = letter.ts if self.first_ts is None else min(self.first_ts, letter.ts)
        self.last_ts = letter.ts if self.last_ts is None else max(self.last_ts, letter.ts)


def dead_letters(config: KafkaConfig) -> typing.Iterator[tuple[typing.Any, DeadLetter | None]]:
    """Every message of the dead-letter topic, from its start to where it ends now, with its
    decoded dead letter (``None`` when it is not one)."""
    topic = config.topics.deadletter
    tps = [TopicPartition(t, p) for t, p in topic_partitions(config, topic)]
    consumer = _reader(config)
    try:
        consumer.assign(tps)
        ends = partition_ends(consumer, tps)
        for tp in tps:
            consumer.seek_to_beginning(tp)
        done = {tp for tp in tps if consumer.position(tp) >= ends[tp]}
        while len(done) < len(tps):
            fetched = consumer.poll(timeout_ms=END_POLL_MS * 4, max_records=1000)
            if not fetched:
                raise KafkaTimeout(f"reading {topic} stopped short of its end: {ends}")
            for tp, messages in fetched.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue
                    try:
                        letter = parse_dead_letter(message.value, message.key, list(message.headers or ()))
                    except RecordError:
                        letter = None
                    yield message, letter
                if consumer.position(tp) >= ends[tp]:
                    done.add(tp)
    finally:
        consumer.close(autocommit=False)


def dead_letter_stats(config: KafkaConfig) -> DeadLetterStats:
    """Count what the dead-letter topic holds."""
    stats = DeadLetterStats()
    for _, letter in dead_letters(config):
        if letter is None:
            stats.unreadable += 1
        else:
            stats.add(letter)
    return stats


@dataclasses.dataclass
class ReplayResult:
    """What a replay did: dead letters sent back by reason and by topic, and those left, by why."""

    replayed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    to_topics: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    not_selected: int = 0
    other_topic: int = 0
    unreadable: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


def replay_dead_letters(
    config: KafkaConfig,
    *,
    reasons: typing.Collection[str] = (),
    since: datetime.datetime | None = None,
    dry_run: bool = False,
) -> ReplayResult:
    """Send dead letters back to the input topic they came from: original key, value and headers.

    Only dead letters of the job's input topics (records and labels) are replayed; ``reasons``
    (any of them; all when empty) and ``since`` (dead-lettered at or after) select which.
    ``dry_run`` counts what would be sent and sends nothing.
    """
    inputs = {config.topics.records, config.topics.labels}
    after = None if since is None else since.timestamp()
    result = ReplayResult()
    sink = None if dry_run else RecordSink(config)
    try:
        for message, letter in dead_letters(config):
            if letter is None:
                result.unreadable += 1
                continue
            if (reasons and letter.reason not in reasons) or (after is not None and letter.ts < after):
                result.not_selected += 1
                continue
            if letter.source_topic not in inputs:
                result.other_topic += 1
                continue
            if sink is not None:
                headers = [*letter.source_headers, (REPLAYED_FROM, f"{message.topic}/{message.partition}/{message.offset}")]
                sink.send(letter.source_topic, letter.value, key=letter.key, headers=headers)
            result.replayed[letter.reason] += 1
            result.to_topics[letter.source_topic] += 1
        if sink is not None:
            sink.flush()
    finally:
        if sink is not None:
            sink.close()
    logger.info("dead letters replayed: %s", dict(result.replayed))
    return result
