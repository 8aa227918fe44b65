"""Kafka I/O over the standard protocol (kafka-python): one typed config, a consumer, producers, topics.

* :class:`KafkaConfig` holds every connection and client setting and turns them into kafka-python
  keyword arguments with :meth:`KafkaConfig.client_kwargs`.
* :class:`RecordSource` consumes micro-batches of :class:`Message` and commits explicit offsets
  (never automatically), so a record counts as done only when the caller says so.
* :class:`RecordSink` produces JSON (or raw bytes) with keys and headers; :class:`DeadLetterSink`
  forwards rejected messages with their original bytes and the headers of
  :func:`stream.records.dead_letter_headers`.
* :func:`ensure_topics` creates missing topics, idempotently; :func:`topic_partitions` lists a topic's
  partitions.

Every blocking call takes a timeout (from the config unless given) and raises a named
:mod:`stream.errors` exception when it expires.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import typing

import kafka
import kafka.codec
import kafka.errors
import pydantic
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata, TopicPartition

from stream import records
from stream.errors import (
    BrokerUnavailable,
    CommitError,
    FlushTimeout,
    KafkaClientError,
    KafkaTimeout,
    ProduceError,
    RecordError,
    TopicError,
)

__all__ = [
    "DeadLetterSink",
    "KafkaConfig",
    "Message",
    "RecordSink",
    "RecordSource",
    "TopicNames",
    "ensure_topics",
    "next_offsets",
    "topic_partitions",
]

logger = logging.getLogger(__name__)

#: (topic, partition)
Partition = tuple[str, int]


class TopicNames(pydantic.BaseModel):
    """Names of tagstream's six topics."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    records: str = "tagstream.records"
    predictions: str = "tagstream.predictions"
    drift: str = "tagstream.drift"
    model_events: str = "tagstream.model-events"
    deadletter: str = "tagstream.deadletter"
    labels: str = "tagstream.labels"

    def all(self) -> list[str]:
        return [self.records, self.predictions, self.drift, self.model_events, self.deadletter, self.labels]


#: Compression type -> (whether its codec is importable, the package that provides it).
_CODECS = {
    "gzip": (kafka.codec.has_gzip, "(nothing: it is built in)"),
    "snappy": (kafka.codec.has_snappy, "python-snappy"),
    "lz4": (kafka.codec.has_lz4, "lz4"),
    "zstd": (kafka.codec.has_zstd, "zstandard"),
}


class KafkaConfig(pydantic.BaseModel):
    """Everything needed to talk to a Kafka cluster. Built once at the entrypoint and passed whole.

    The defaults suit the embedded broker and a small real cluster alike; in particular the short
    session timeout (6 s, heartbeat 2 s) keeps a consumer group's first join near 3 s.

    Parameters
    ----------
    bootstrap_servers
        Comma-separated ``host:port`` list.
    client_id
        Client id reported to the brokers.
    topics
        Topic names.
    group_id
        Consumer group; ``None`` for a consumer that only reads assigned partitions and never commits.
    auto_offset_reset
        Where a group without a committed offset starts.
    session_timeout_ms, heartbeat_interval_ms, max_poll_interval_ms
        Group membership timeouts.
    poll_timeout_s
        Default wait of :meth:`RecordSource.poll_batch` for the first message.
    fetch_max_wait_ms
        Longest the broker may hold a fetch that has no data yet. Kafka's default is 500 ms; the
        embedded broker holds fetches about that long even when records arrive meanwhile, so a
        lower value bounds the time records sit in the topic (one consumer at 1,000 records/s:
        p50 129 ms at 500, 29 ms at 100, 12 ms at 20). In the full pipeline on 2 cores, 100 gave
        the lowest p99 end-to-end latency; lower values cost more fetch round trips than they save.
    max_poll_records
        Default micro-batch size.
    fetch_max_bytes
        Most bytes a fetch response should carry (Kafka's default, 50 MiB; a broker returns at
        least one batch, and the embedded one may return more).
    request_timeout_ms
        Timeout of one request to a broker.
    connect_timeout_s
        How long to wait for the first connection to the cluster.
    commit_timeout_s, flush_timeout_s, admin_timeout_s
        Timeouts of offset commits, producer flushes and topic administration.
    offsets_out_of_range
        What a consumer does with a partition it reads past the end of its log (truncated,
        recreated, another cluster): ``fail`` (stop), or go on from the ``earliest`` or ``latest``
        offset; an alert is published either way (see :func:`jobs.outage.offsets_past_end`).
    idempotent_producer
        Kafka's idempotent producer (no duplicates when a send is retried). Off by default: its
        producer id lives in the broker's state, and a broker that lost it (an in-memory broker
        restarted, a recreated cluster) refuses every later send (``UnknownProducerIdError``); the
        predictions are at-least-once anyway (deduplicate by key).
    delivery_timeout_ms
        How long the producer keeps trying to deliver a message (a day: a broker outage must not
        lose predictions; the job waits for the broker meanwhile, see :mod:`jobs.outage`).
    acks, linger_ms, batch_size, compression_type, max_block_ms, max_request_size
        Producer settings (``max_block_ms``: longest a send waits for metadata or buffer space;
        ``max_request_size``: the largest message, with key and headers, a producer sends: a
        job sets it from its :class:`~stream.records.RecordLimits`).
    security_protocol, sasl_mechanism, sasl_username, sasl_password, ssl_cafile
        Security of a real cluster.

    Examples
    --------
    >>> config = KafkaConfig(bootstrap_servers="a:9092,b:9092", group_id="g1")
    >>> kwargs = config.client_kwargs("consumer")
    >>> kwargs["bootstrap_servers"], kwargs["group_id"], kwargs["enable_auto_commit"]
    (['a:9092', 'b:9092'], 'g1', False)
    >>> KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u",
    ...             sasl_password="p").client_kwargs("admin")["sasl_plain_password"]
    'p'

    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "tagstream"
    topics: TopicNames = TopicNames()
    group_id: str | None = "tagstream"
    auto_offset_reset: typing.Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = pydantic.Field(6000, gt=0)
    heartbeat_interval_ms: int = pydantic.Field(2000, gt=0)
    max_poll_interval_ms: int = pydantic.Field(300_000, gt=0)
    poll_timeout_s: float = pydantic.Field(1.0, ge=0)
    fetch_max_wait_ms: int = pydantic.Field(100, ge=0)
    max_poll_records: int = pydantic.Field(500, gt=0)
    fetch_max_bytes: int = pydantic.Field(52_428_800, gt=0)
    request_timeout_ms: int = pydantic.Field(30_000, gt=0)
    connect_timeout_s: float = pydantic.Field(10.0, gt=0)
    commit_timeout_s: float = pydantic.Field(10.0, gt=0)
    flush_timeout_s: float = pydantic.Field(30.0, gt=0)
    admin_timeout_s: float = pydantic.Field(30.0, gt=0)
    acks: typing.Literal[0, 1, "all"] = "all"
    linger_ms: int = pydantic.Field(5, ge=0)
    batch_size: int = pydantic.Field(65_536, gt=0)
    compression_type: typing.Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    max_block_ms: int = pydantic.Field(10_000, gt=0)
    delivery_timeout_ms: int = pydantic.Field(86_400_000, gt=0)
    idempotent_producer: bool = False
    offsets_out_of_range: typing.Literal["fail", "earliest", "latest"] = "fail"
    max_request_size: int = pydantic.Field(1_048_576, gt=0)
    security_protocol: typing.Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: typing.Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: pydantic.SecretStr | None = None
    ssl_cafile: str | None = None

    @pydantic.field_validator("bootstrap_servers")
    @classmethod
    def _servers_listed(cls, value: str) -> str:
        servers = [server.strip() for server in value.split(",") if server.strip()]
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bootstrap server {server!r} is not host:port")
        if not servers:
            raise ValueError("bootstrap_servers is empty")
        return ",".join(servers)

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> KafkaConfig:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.compression_type is not None and not _CODECS[self.compression_type][0]():
            raise ValueError(f"compression {self.compression_type} needs: pip install {_CODECS[self.compression_type][1]}")
        if self.security_protocol.startswith("SASL"):
            if not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
                raise ValueError(f"{self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password")
        return self

    def client_kwargs(self, role: typing.Literal["consumer", "producer", "admin"]) -> dict:
        """Keyword arguments for kafka-python's ``KafkaConsumer``, ``KafkaProducer`` or ``KafkaAdminClient``."""
        common: dict = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "bootstrap_timeout_ms": int(self.connect_timeout_s * 1000),
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            common["sasl_mechanism"] = self.sasl_mechanism
            common["sasl_plain_username"] = self.sasl_username
            common["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile is not None:
            common["ssl_cafile"] = self.ssl_cafile
        if role == "consumer":
            return common | {
                "group_id": self.group_id,
                "enable_auto_commit": False,
                "auto_offset_reset": self.auto_offset_reset,
                "session_timeout_ms": self.session_timeout_ms,
                "heartbeat_interval_ms": self.heartbeat_interval_ms,
                "max_poll_interval_ms": self.max_poll_interval_ms,
                "max_poll_records": self.max_poll_records,
                "fetch_max_wait_ms": self.fetch_max_wait_ms,
                "fetch_max_bytes": self.fetch_max_bytes,
            }
        if role == "producer":
            return common | {
                "acks": self.acks,
                "linger_ms": self.linger_ms,
                "batch_size": self.batch_size,
                "compression_type": self.compression_type,
                "max_block_ms": self.max_block_ms,
                "delivery_timeout_ms": self.delivery_timeout_ms,
                "enable_idempotence": self.idempotent_producer,
                "max_request_size": self.max_request_size,
            }
        if role == "admin":
            return common
        raise ValueError(f"role must be consumer, producer or admin, got {role!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One consumed message with its coordinates; a plain object, cheap to send to a Ray actor."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None


def next_offsets(messages: typing.Iterable[Message]) -> dict[Partition, int]:
    """The offsets to commit once ``messages`` are done: per partition, the highest offset + 1.

    Examples
    --------
    >>> batch = [Message("t", 0, 7, None, b"{}"), Message("t", 1, 3, None, b"{}"), Message("t", 0, 8, None, b"{}")]
    >>> next_offsets(batch)
    {('t', 0): 9, ('t', 1): 4}

    """
    out: dict[Partition, int] = {}
    for message in messages:
        coordinates = (message.topic, message.partition)
        if message.offset >= out.get(coordinates, 0):
            out[coordinates] = message.offset + 1
    return out


def _connect(factory, what: str, config: KafkaConfig, role: str):
    try:
        return factory(**config.client_kwargs(role))
    except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError) as error:
        raise BrokerUnavailable(
            f"{what}: no broker reachable at {config.bootstrap_servers} within {config.connect_timeout_s} s", error
        ) from error


class RecordSource:
    """Consumer of micro-batches with explicit offset commits.

    Either joins ``config.group_id`` subscribed to ``topics`` (partitions are balanced over the
    group's members, and start at the group's committed offsets) or reads the given ``partitions``
    directly (no group join; commits still go to ``config.group_id`` when it is set).

    Parameters
    ----------
    config
        Connection and consumer settings.
    topics
        Topics to subscribe to through the group.
    partitions
        ``(topic, partition)`` pairs to read directly instead.

    """

    def __init__(
        self,
        config: KafkaConfig,
        topics: typing.Sequence[str] | None = None,
        *,
        partitions: typing.Sequence[Partition] | None = None,
    ):
        if (topics is None) == (partitions is None):
            raise ValueError("give exactly one of topics (group subscription) or partitions (direct assignment)")
        if topics is not None and config.group_id is None:
            raise ValueError("subscribing to topics needs config.group_id")
        self.config = config
        self.topics = None if topics is None else list(topics)
        self.partitions = None if partitions is None else list(partitions)
        self._consumer = _connect(kafka.KafkaConsumer, "consumer", config, "consumer")
        self._topic_ids: dict = {}  # topic -> id when first read (see out_of_range)
        if self.topics is not None:
            self._consumer.subscribe(self.topics)
        else:
            self._consumer.assign([TopicPartition(topic, partition) for topic, partition in self.partitions])

    def poll_batch(self, max_records: int | None = None, timeout_s: float | None = None) -> list[Message]:
        """Up to ``max_records`` messages, waiting at most ``timeout_s`` for the first one.

        After the first message arrives it only adds what is already fetched, and nothing more
        once ``timeout_s`` has passed, so a batch is as large as the backlog allows without a
        steady trickle stretching the poll. An empty list means nothing arrived within the
        timeout; that is not an error.
        """
        max_records = self.config.max_poll_records if max_records is None else max_records
        timeout_s = self.config.poll_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        batch: list[Message] = []
        while len(batch) < max_records:
            wait_ms = 0 if batch else max(0, int((deadline - time.monotonic()) * 1000))
            try:
                fetched = self._consumer.poll(timeout_ms=wait_ms, max_records=max_records - len(batch))
            except kafka.errors.KafkaError as error:
                raise KafkaClientError("poll failed", error) from error
            if not fetched:
                if batch or time.monotonic() >= deadline:
                    break
                continue
            for consumed in fetched.values():
                batch.extend(
                    Message(
                        topic=item.topic,
                        partition=item.partition,
                        offset=item.offset,
                        key=item.key,
                        value=item.value,
                        headers=tuple(item.headers or ()),
                        timestamp_ms=item.timestamp,
                    )
                    for item in consumed
                )
            if time.monotonic() >= deadline:
                break
        return batch

    def commit(self, offsets: typing.Mapping[Partition, int], timeout_s: float | None = None) -> None:
        """Commit, for each ``(topic, partition)``, the offset of the next message to read.

        Use :func:`next_offsets` on the messages that are done.
        """
        if not offsets:
            return
        timeout_s = self.config.commit_timeout_s if timeout_s is None else timeout_s
        to_commit = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        try:
            self._consumer.commit(to_commit, timeout_ms=int(timeout_s * 1000))
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"commit of {dict(offsets)} did not finish within {timeout_s} s", error) from error
        except (kafka.errors.KafkaError, kafka.errors.IllegalStateError) as error:
            raise CommitError(f"commit of {dict(offsets)} failed", error) from error

    def committed(self, topic: str, partition: int, timeout_s: float | None = None) -> int | None:
        """The group's committed offset of one partition, ``None`` if it has none."""
        timeout_s = self.config.commit_timeout_s if timeout_s is None else timeout_s
        try:
            return self._consumer.committed(TopicPartition(topic, partition), timeout_ms=int(timeout_s * 1000))
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"reading the committed offset of {topic}[{partition}] timed out", error) from error

    def assignment(self) -> set[Partition]:
        """The partitions this consumer reads now (empty until a group join has finished)."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Read ``topic[partition]`` from ``offset`` on, at the next poll. The partition must be assigned."""
        if (topic, partition) not in self.assignment():
            raise KafkaClientError(f"cannot seek {topic}[{partition}]: it is not assigned to this consumer")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self._consumer.seek(TopicPartition(topic, partition), offset)

    def seek_to_beginning(self) -> None:
        """Read every assigned partition from its first message."""
        self._consumer.seek_to_beginning()

    def seek_to_tail(self, count: int, timeout_s: float | None = None) -> None:
        """Read only the last ``count`` messages (or fewer) of every assigned partition."""
        timeout_s = self.config.request_timeout_ms / 1000 if timeout_s is None else timeout_s
        assigned = list(self._consumer.assignment())
        try:
            starts = self._consumer.beginning_offsets(assigned, timeout_ms=int(timeout_s * 1000))
            ends = self._consumer.end_offsets(assigned, timeout_ms=int(timeout_s * 1000))
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"offset lookup did not finish within {timeout_s} s", error) from error
        for tp in assigned:
            self._consumer.seek(tp, max(starts[tp], ends[tp] - count))

    def seek_to_end(self) -> None:
        """Read only messages produced from now on, on every assigned partition."""
        self._consumer.seek_to_end()

    def fetched_to_end(self, topic: str) -> bool:
        """Whether every assigned partition of ``topic`` is read up to the end the last fetch reported.

        No request is sent: it compares positions with the high watermarks of past fetch responses.
        A partition not fetched yet is not read to its end: its end is unknown, and taking it as
        reached would let a caller run ahead of data it has not seen. The consumer fetches every
        assigned partition, so an unknown end lasts one fetch round trip. (Fetch responses carry the
        true end; ``end_offsets`` does not on the embedded broker, see :meth:`lag`.)
        """
        for tp in self._consumer.assignment():
            if tp.topic == topic:
                highwater = self._consumer.highwater(tp)
                if highwater is None or self._consumer.position(tp) < highwater:
                    return False
        return True

    def out_of_range(self) -> dict[Partition, tuple[int, int | None, str]]:
        """Assigned partitions whose position no longer means anything in their log:
        ``{(topic, partition): (position, end, why)}``, ``why`` being ``"past_end"`` or ``"recreated"``.

        No request is sent. ``past_end``: the position lies beyond the end reported by the last
        fetch response (a fetch past the end returns no record and the log's true end): the log is
        shorter than this consumer expects (truncated, recreated, another cluster's). ``recreated``:
        the cluster's metadata gives the topic another id than when this consumer first read it
        (deleted and created again, or a broker that keeps topics in memory restarted), whatever the
        positions; ``end`` is then the reported end if known. The ids seen are updated, so a
        recreation is reported once.
        """
        out: dict[Partition, tuple[int, int | None, str]] = {}
        assigned = self._consumer.assignment()
        cluster = self._consumer._client.cluster  # kafka-python keeps topic ids only there
        for topic in {tp.topic for tp in assigned}:
            topic_id = cluster.topic_id(topic)
            if topic_id is None:
                continue
            known = self._topic_ids.setdefault(topic, topic_id)
            if known != topic_id:
                self._topic_ids[topic] = topic_id
                for tp in assigned:
                    if tp.topic == topic:
                        out[topic, tp.partition] = (self._consumer.position(tp), self._consumer.highwater(tp), "recreated")
        for tp in assigned:
            end = self._consumer.highwater(tp)
            if end is None or (tp.topic, tp.partition) in out:
                continue
            position = self._consumer.position(tp)
            if position is not None and position > end:
                out[tp.topic, tp.partition] = (position, end, "past_end")
        return out

    def offsets_for_time(self, timestamp_ms: int, timeout_s: float | None = None) -> dict[Partition, int]:
        """Per assigned partition, the first offset with a timestamp at or after ``timestamp_ms`` (else the end)."""
        timeout_s = self.config.request_timeout_ms / 1000 if timeout_s is None else timeout_s
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        try:
            found = self._consumer.offsets_for_times(dict.fromkeys(assigned, timestamp_ms), timeout_ms=int(timeout_s * 1000))
            ends = self._consumer.end_offsets(assigned, timeout_ms=int(timeout_s * 1000))
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"offset lookup by time did not finish within {timeout_s} s", error) from error
        return {(tp.topic, tp.partition): found[tp].offset if found.get(tp) is not None else ends[tp] for tp in assigned}

    def end_offset(self, topic: str, partition: int, timeout_s: float | None = None) -> int:
        """The end of one partition's log as ``end_offsets`` reports it (low on the embedded broker, see :meth:`lag`)."""
        timeout_s = self.config.request_timeout_ms / 1000 if timeout_s is None else timeout_s
        tp = TopicPartition(topic, partition)
        try:
            return self._consumer.end_offsets([tp], timeout_ms=int(timeout_s * 1000))[tp]
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"reading the end of {topic}[{partition}] did not finish within {timeout_s} s", error) from error

    def lag(self, timeout_s: float | None = None, topic: str | None = None) -> dict[Partition, int]:
        """Messages left to read per assigned partition (of ``topic`` only, when given): end offset minus position.

        On Apache Kafka this is exact. The embedded broker (tansu) under-reports end offsets (the
        base offset of the last batch rather than the last offset + 1), so there the lag can read
        low, never below 0 here: use it as a gauge, not for exact accounting.
        """
        timeout_s = self.config.request_timeout_ms / 1000 if timeout_s is None else timeout_s
        # Only the partitions asked about: looking up a position can reset one that was never fetched.
        assigned = [tp for tp in self._consumer.assignment() if topic is None or tp.topic == topic]
        if not assigned:
            return {}
        try:
            ends = self._consumer.end_offsets(assigned, timeout_ms=int(timeout_s * 1000))
            return {
                (tp.topic, tp.partition): max(0, ends[tp] - self._consumer.position(tp, timeout_ms=int(timeout_s * 1000)))
                for tp in assigned
            }
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(f"lag lookup did not finish within {timeout_s} s", error) from error

    def close(self, timeout_s: float | None = None) -> None:
        """Leave the group (without committing anything) and close the connections."""
        timeout_s = self.config.commit_timeout_s if timeout_s is None else timeout_s
        self._consumer.close(autocommit=False, timeout_ms=int(timeout_s * 1000))

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


Headers = typing.Sequence[tuple[str, bytes | str | None]] | typing.Mapping[str, bytes | str | None]


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


class RecordSink:
    """Producer of JSON (or raw bytes) messages with keys and headers.

    Sending is asynchronous: a failed delivery surfaces as :class:`~stream.errors.ProduceError`
    from the next :meth:`send` or :meth:`flush`. Flush before committing the input offsets that the
    produced messages account for.

    Parameters
    ----------
    config
        Connection and producer settings.

    """

    def __init__(self, config: KafkaConfig):
        self.config = config
        self._producer = _connect(kafka.KafkaProducer, "producer", config, "producer")
        # Delivery callbacks run on the producer's I/O thread.
        self._lock = threading.Lock()
        self._failed = 0
        self._last_failure: BaseException | None = None

    def _on_error(self, error: BaseException) -> None:
        with self._lock:
            self._failed += 1
            self._last_failure = error

    def _raise_failures(self) -> None:
        with self._lock:
            count, last = self._failed, self._last_failure
            self._failed, self._last_failure = 0, None
        if count:
            raise ProduceError(f"{count} message(s) were not delivered; last error", last)

    def send(
        self,
        topic: str,
        value: bytes | typing.Mapping | None,
        *,
        key: bytes | str | None = None,
        headers: Headers | None = None,
        checked: bool = True,
    ):
        """Queue one message. A mapping is encoded as compact JSON; bytes go as they are.

        Returns the delivery future. With ``checked`` false a failed delivery is left to the
        caller (who inspects the future after :meth:`flush`) instead of raising later.
        """
        self._raise_failures()
        payload = value if value is None or isinstance(value, bytes) else records.encode_json(value)
        items = headers.items() if isinstance(headers, typing.Mapping) else (headers or ())
        try:
            future = self._producer.send(
                topic,
                value=payload,
                key=_as_bytes(key),
                headers=[(name, _as_bytes(raw)) for name, raw in items],
            )
        except kafka.errors.KafkaTimeoutError as error:
            raise KafkaTimeout(
                f"send to {topic} blocked longer than max_block_ms={self.config.max_block_ms}", error
            ) from error
        except kafka.errors.KafkaError as error:
            raise ProduceError(f"send to {topic} failed", error) from error
        if checked:
            future.add_errback(self._on_error)
        return future

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued message is acknowledged; raise if one failed or time runs out."""
        timeout_s = self.config.flush_timeout_s if timeout_s is None else timeout_s
        try:
            self._producer.flush(timeout=timeout_s)
        except kafka.errors.KafkaTimeoutError as error:
            raise FlushTimeout(f"messages still unacknowledged after {timeout_s} s", error) from error
        self._raise_failures()

    def close(self, timeout_s: float | None = None) -> None:
        """Flush what is queued (within ``timeout_s``) and close."""
        timeout_s = self.config.flush_timeout_s if timeout_s is None else timeout_s
        try:
            self._producer.close(timeout=timeout_s)
        except kafka.errors.KafkaTimeoutError as error:
            raise FlushTimeout(f"closing: messages still unacknowledged after {timeout_s} s", error) from error

    def __enter__(self) -> RecordSink:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


#: Errors of a message too large for the producer or the broker: its dead letter keeps only a head.
_TOO_LARGE = (kafka.errors.MessageSizeTooLargeError, kafka.errors.RecordListTooLargeError)


class DeadLetterSink:
    """Forwards rejected messages to the dead-letter topic, byte for byte, with the reason in headers.

    Nothing here may stop the consumer (a poison pill):

    * a dead letter larger than ``limits.dead_letter_max_bytes``, or one the producer or broker
      refuses as too large, keeps only the first ``limits.dead_letter_head_bytes`` of its value,
      with headers ``value.truncated``, ``value.bytes`` (the original size) and ``value.sha256``;
    * when even that is refused, the message is counted in :attr:`lost`, its position is logged,
      and the caller commits past it like any other dead letter;
    * each input position is dead-lettered once: when a restarted job sends its first dead letter,
      the last ``limits.dead_letter_scan`` dead letters per partition of the topic are read back,
      and a message whose position (of this consumer group) is among them is not sent again.

    Parameters
    ----------
    sink
        The producer to send with (shared with the other outputs).
    topic
        The dead-letter topic.
    limits
        Sizes of dead letters, and how far back to look for ones already sent.
    group
        The consumer group the rejected messages were read by (header ``source.group``).

    """

    def __init__(self, sink: RecordSink, topic: str, limits: records.RecordLimits | None = None, group: str | None = None):
        self.sink = sink
        self.topic = topic
        self.limits = records.DEFAULT_LIMITS if limits is None else limits
        self.group = sink.config.group_id if group is None else group
        self.lost = 0
        # (message, headers, future, whole value sent) of dead letters not yet flushed.
        self._pending: list[tuple[Message, list, typing.Any, bool]] = []
        # Positions already dead-lettered (read back lazily, then as sent), oldest first, bounded.
        self._sent: dict[tuple[str, int, int], None] | None = None

    def send(self, message: Message, error: BaseException, *, reason: str | None = None) -> bool:
        """Dead-letter ``message`` because of ``error``; ``False`` when its position was dead-lettered before.

        ``reason`` defaults to the code of a :class:`~stream.errors.RecordError`; for any other
        error name the failing step (a short fixed word: it becomes a metric label).
        """
        if reason is None:
            if not isinstance(error, RecordError):
                raise ValueError(f"give a reason for dead-lettering on {type(error).__name__}")
            reason = error.reason
        position = (message.topic, message.partition, message.offset)
        if position in self._already_sent():
            logger.info("dead letter %s[%d]@%d (%s) was published before", *position, reason)
            return False
        headers = records.dead_letter_headers(
            reason=reason,
            error_class=type(error).__name__,
            error_message=str(error),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            ts=time.time(),
            source_headers=message.headers,
            group=self.group,
        )
        logger.warning("dead letter %s[%d]@%d: %s (%s)", *position, reason, type(error).__name__)
        whole = _size(message.value, message.key, headers) <= self.limits.dead_letter_max_bytes
        if whole:
            try:
                future = self.sink.send(self.topic, message.value, key=message.key, headers=headers, checked=False)
            except ProduceError as failure:
                if not isinstance(failure.error, _TOO_LARGE):
                    raise
                whole = False
        if not whole:
            future = self._send_head(message, headers)
        self._remember(position)
        if future is not None:
            self._pending.append((message, headers, future, whole))
        return True

    def flush(self, timeout_s: float | None = None) -> None:
        """Flush the producer; dead letters refused as too large go again as a head, or are counted lost."""
        self.sink.flush(timeout_s)
        while self._pending:
            pending, self._pending = self._pending, []
            for message, headers, future, whole in pending:
                if not future.failed():
                    continue
                failure = future.exception
                if not isinstance(failure, _TOO_LARGE):
                    raise ProduceError(f"dead letter of {message.topic}[{message.partition}]@{message.offset} failed", failure)
                if not whole:
                    self._lose(message, failure)
                    continue
                future = self._send_head(message, headers)
                if future is not None:
                    self._pending.append((message, headers, future, False))
            if self._pending:
                self.sink.flush(timeout_s)

    def _send_head(self, message: Message, headers: list):
        value = message.value or b""
        head_headers = [*_cut_headers(headers), *records.truncation_headers(value)]
        key = None if message.key is None else message.key[: records.DEAD_LETTER_KEY_BYTES]
        try:
            return self.sink.send(
                self.topic, value[: self.limits.dead_letter_head_bytes], key=key, headers=head_headers, checked=False
            )
        except ProduceError as failure:
            if not isinstance(failure.error, _TOO_LARGE):
                raise
            self._lose(message, failure.error)
            return None

    def _lose(self, message: Message, failure: BaseException) -> None:
        self.lost += 1
        logger.error(
            "dead letter of %s[%d]@%d could not be published even cut to its head (%s): skipped",
            message.topic,
            message.partition,
            message.offset,
            failure,
        )

    def _already_sent(self) -> dict[tuple[str, int, int], None]:
        if self._sent is None:
            self._sent = {}
            if self.limits.dead_letter_scan:
                for position in self._read_back():
                    self._remember(position)
        return self._sent

    def _remember(self, position: tuple[str, int, int]) -> None:
        sent = self._already_sent()
        sent[position] = None
        if len(sent) > 4 * self.limits.dead_letter_scan:
            del sent[next(iter(sent))]

    def _read_back(self) -> list[tuple[str, int, int]]:
        """Positions of this group's dead letters among the last ``dead_letter_scan`` per partition of the topic."""
        reader = self.sink.config.model_copy(update={"group_id": None})
        try:
            partitions = topic_partitions(reader, self.topic)
        except TopicError:
            return []
        source = RecordSource(reader, partitions=partitions)
        positions = []
        try:
            source.seek_to_tail(self.limits.dead_letter_scan)
            deadline = time.monotonic() + reader.request_timeout_ms / 1000
            while not source.fetched_to_end(self.topic) and time.monotonic() < deadline:
                for letter in source.poll_batch(1000, 0.2):
                    try:
                        parsed = records.parse_dead_letter(letter.value, letter.key, letter.headers)
                    except RecordError:
                        continue  # not one of ours
                    if parsed.group == self.group:
                        positions.append((parsed.source_topic, parsed.source_partition, parsed.source_offset))
        finally:
            source.close()
        logger.info("read back %d dead letters of group %s from %s", len(positions), self.group, self.topic)
        return positions


def _size(value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return len(value or b"") + len(key or b"") + sum(len(name) + len(raw) for name, raw in headers)


def _cut_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The headers of a dead letter cut to its head: the rejected message's own headers kept short."""
    out, kept = [], 0
    for name, raw in headers:
        if name.startswith(records.SOURCE_HEADER_PREFIX):
            kept += 1
            if kept > _HEAD_SOURCE_HEADERS:
                continue
            raw = raw[: records.DEAD_LETTER_SOURCE_HEADER_BYTES]
        out.append((name, raw))
    return out


#: Source headers a dead letter cut to its head keeps (each cut as well), so that it fits its room.
_HEAD_SOURCE_HEADERS = 8


def _admin(config: KafkaConfig, timeout_s: float) -> KafkaAdminClient:
    # Each admin request then waits at most timeout_s.
    return _connect(KafkaAdminClient, "admin", config.model_copy(update={"request_timeout_ms": int(timeout_s * 1000)}), "admin")


def ensure_topics(
    config: KafkaConfig,
    topics: typing.Sequence[str] | None = None,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    timeout_s: float | None = None,
) -> list[str]:
    """Create those of ``topics`` (default: all five of ``config.topics``) that do not exist yet.

    Existing topics are left as they are, whatever their partition count. Returns the names created.
    """
    topics = config.topics.all() if topics is None else list(topics)
    timeout_s = config.admin_timeout_s if timeout_s is None else timeout_s
    admin = _admin(config, timeout_s)
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
        if not missing:
            return []
        response = admin.create_topics(
            {topic: {"num_partitions": partitions, "replication_factor": replication_factor} for topic in missing},
            timeout_ms=int(timeout_s * 1000),
            raise_errors=False,
        )
        created = []
        for result in response["topics"]:
            error = kafka.errors.for_code(result["error_code"])
            if error is kafka.errors.NoError:
                created.append(result["name"])
            elif error is not kafka.errors.TopicAlreadyExistsError:
                raise TopicError(f"creating topic {result['name']!r} failed", error(result.get("error_message")))
        if created:
            admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
        logger.info("created topics %s (%d partitions)", created, partitions)
        return created
    except kafka.errors.KafkaTimeoutError as error:
        raise KafkaTimeout(f"topic administration did not finish within {timeout_s} s", error) from error
    except kafka.errors.KafkaError as error:
        raise TopicError(f"creating topics {topics} failed", error) from error
    finally:
        admin.close()


def topic_partitions(config: KafkaConfig, topic: str, *, timeout_s: float | None = None) -> list[Partition]:
    """All ``(topic, partition)`` pairs of an existing topic, for reading it without a group."""
    timeout_s = config.admin_timeout_s if timeout_s is None else timeout_s
    admin = _admin(config, timeout_s)
    try:
        (described,) = admin.describe_topics([topic])
    except kafka.errors.KafkaTimeoutError as error:
        raise KafkaTimeout(f"describing topic {topic!r} did not finish within {timeout_s} s", error) from error
    except kafka.errors.KafkaError as error:
        raise TopicError(f"describing topic {topic!r} failed", error) from error
    finally:
        admin.close()
    error = kafka.errors.for_code(described["error_code"])
    if error is kafka.errors.UnknownTopicOrPartitionError:
        raise TopicError(f"topic {topic!r} does not exist on {config.bootstrap_servers}")
    if error is not kafka.errors.NoError:
        raise TopicError(f"describing topic {topic!r} failed", error())
    return sorted((topic, partition["partition_index"]) for partition in described["partitions"])
