"""The input side: poll, parse, dead-letter, commit on demand."""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
import typing

from jobs.outage import commit_until_done, flush_until_delivered, offsets_past_end
from jobs.stages.messages import Batch, PollInfo
from stream.kafka import DeadLetterSink, KafkaConfig, Message, RecordSink, RecordSource, next_offsets
from stream.records import RecordError, RecordLimits, parse_label_update, parse_record

logger = logging.getLogger(__name__)


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
                # Read again after a recovery, a record dead-lettered before is not counted twice.
                if self._dead_letters.send(message, error):
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
