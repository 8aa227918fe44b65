"""A message size limit in front of the embedded broker, as Apache Kafka's ``message.max.bytes``.

tansu takes record batches of any size, so a job's handling of a broker that refuses a message
(an oversize record's dead letter, above all) could not be exercised against it. Apache Kafka
refuses a record batch larger than ``message.max.bytes`` (a topic may set its own
``max.message.bytes``) with the error ``MESSAGE_TOO_LARGE`` for that partition, and takes the
request's other partitions. :class:`SizeLimitProxy` does the same between the clients and tansu:

* it forwards every request and response unchanged, except Produce requests holding a record
  batch over the limit of its topic;
* from such a request it removes the partitions with an oversize batch, forwards the rest (if any)
  and adds the removed partitions to the broker's response with error code 10
  (``MESSAGE_TOO_LARGE``), so the client sees what a Kafka broker would answer; a request left
  with no partition is answered by the proxy itself, in its turn among the responses;
* a Produce request with ``acks=0`` gets no response: its oversize partitions are dropped, as the
  records of an ``acks=0`` request a Kafka broker refuses are lost.

Requests are decoded and encoded with kafka-python's own protocol classes; the broker's address
advertised to clients must be the proxy's, so that every connection passes through it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import socket
import struct
import threading
import typing

from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse

logger = logging.getLogger(__name__)

#: Apache Kafka's default ``message.max.bytes``: 1 MiB plus the record batch's header (1,048,588).
KAFKA_MESSAGE_MAX_BYTES = 1_048_588

#: Kafka's error code for a record batch over the size limit.
MESSAGE_TOO_LARGE = 10

_PRODUCE = 0
_FRAME = struct.Struct(">i")
_REQUEST_START = struct.Struct(">hhi")  # api key, api version, correlation id
# A record batch (magic 2) starts with base offset (int64) and batch length (int32): the length
# counts the bytes after those 12.
_BATCH_HEAD = struct.Struct(">qi")


def batch_sizes(records: bytes | None) -> list[int]:
    """Sizes of the record batches in a partition's ``records`` field, each with its 12-byte head.

    >>> batch_sizes(b"")
    []
    >>> batch_sizes(_BATCH_HEAD.pack(0, 3) + b"abc" + _BATCH_HEAD.pack(1, 1) + b"d")
    [15, 13]

    """
    sizes, view, position = [], memoryview(records or b""), 0
    while position + _BATCH_HEAD.size <= len(view):
        _, length = _BATCH_HEAD.unpack_from(view, position)
        sizes.append(_BATCH_HEAD.size + length)
        position += _BATCH_HEAD.size + length
    return sizes


class SizeLimitProxy:
    """Forwards Kafka connections from ``listen`` to ``upstream``, refusing oversize record batches.

    Parameters
    ----------
    upstream
        ``(host, port)`` of the broker.
    max_message_bytes
        Largest record batch a topic takes (Kafka's ``message.max.bytes``).
    topic_max_message_bytes
        Limits of single topics (Kafka's topic setting ``max.message.bytes``).
    host, port
        Where the proxy listens; port 0 picks a free one (see :attr:`port`).

    Examples
    --------
    >>> proxy = SizeLimitProxy(("127.0.0.1", 9092), max_message_bytes=1000, topic_max_message_bytes={"big": 10_000})
    >>> proxy.limit("big"), proxy.limit("other")
    (10000, 1000)

    """

    def __init__(
        self,
        upstream: tuple[str, int],
        max_message_bytes: int = KAFKA_MESSAGE_MAX_BYTES,
        topic_max_message_bytes: typing.Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.upstream = upstream
        self.max_message_bytes = max_message_bytes
        self.topic_max_message_bytes = dict(topic_max_message_bytes or {})
        self.refused = 0
        self._server = socket.create_server((host, port))
        self.host, self.port = self._server.getsockname()[:2]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    def limit(self, topic: str) -> int:
        return self.topic_max_message_bytes.get(topic, self.max_message_bytes)

    def start(self) -> SizeLimitProxy:
        self._thread = threading.Thread(target=self._accept, name=f"size-limit-proxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and close every connection (clients see the broker go away)."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, set()
        with contextlib.suppress(OSError):
            self._server.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                broker = socket.create_connection(self.upstream, timeout=5)
                broker.settimeout(None)
            except OSError as error:
                # Expected while the broker starts or is stopped: the client sees a closed connection.
                logger.debug("size-limit proxy: broker %s:%d unreachable (%s)", *self.upstream, error)
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    broker.close()
                    return
                self._sockets.update((client, broker))
            _Connection(self, client, broker).start()


@dataclasses.dataclass(frozen=True, slots=True)
class _Owed:
    """A response owed to the client: the broker's to a forwarded request (with the partitions the
    proxy refused from it, to add), or one the proxy ``written`` itself."""

    correlation_id: int
    version: int = 0
    refused: dict[str, list[tuple[int, int]]] | None = None
    written: bytes | None = None


class _OutOfStep(Exception):
    """A response that is not the one owed next (the proxy lost track: the connection is closed)."""


class _Connection:
    """One client connection: requests go up in one thread, responses come down in another, in order."""

    def __init__(self, proxy: SizeLimitProxy, client: socket.socket, broker: socket.socket):
        self.proxy = proxy
        self.client = client
        self.broker = broker
        # Responses owed to the client, in request order.
        self._owed: collections.deque[_Owed] = collections.deque()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._requests, daemon=True).start()
        threading.Thread(target=self._responses, daemon=True).start()

    def _requests(self) -> None:
        try:
            while (frame := _read_frame(self.client)) is not None:
                self._request(frame)
        except OSError as error:
            logger.debug("size-limit proxy: connection closed (%s)", error)
        except Exception:
            logger.exception("size-limit proxy: request not understood; closing the connection")
        finally:
            self._close()

    def _request(self, frame: bytes) -> None:
        api_key, version, correlation_id = _REQUEST_START.unpack_from(frame)
        if api_key != _PRODUCE:
            with self._lock:
                self._owed.append(_Owed(correlation_id))
            self.broker.sendall(_FRAME.pack(len(frame)) + frame)
            return
        request = ProduceRequest.decode(frame, version=version, header=True)
        refused = self._remove_oversize(request)
        if not refused:
            if request.expect_response():
                with self._lock:
                    self._owed.append(_Owed(correlation_id))
            self.broker.sendall(_FRAME.pack(len(frame)) + frame)
            return
        self.proxy.refused += sum(len(partitions) for partitions in refused.values())
        if not request.expect_response():
            if request.topic_data:
                self.broker.sendall(_encode(request))
            return
        if request.topic_data:
            with self._lock:
                self._owed.append(_Owed(correlation_id, version, refused))
            self.broker.sendall(_encode(request))
            return
        response = ProduceResponse(responses=[], throttle_time_ms=0, version=version)
        response.with_header(correlation_id=correlation_id)
        _add_refused(response, refused, version)
        answer = bytes(_encode(response))
        with self._lock:
            if self._owed:  # after the responses owed before it
                self._owed.append(_Owed(correlation_id, written=answer))
            else:
                self.client.sendall(answer)

    def _remove_oversize(self, request) -> dict[str, list[tuple[int, int]]]:
        """Take the partitions whose batches exceed their topic's limit out of ``request``;
        returns ``{topic: [(partition, largest batch), ...]}``."""
        refused: dict[str, list[tuple[int, int]]] = {}
        kept_topics = []
        for topic in request.topic_data:
            limit = self.proxy.limit(topic.name)
            kept = []
            for partition in topic.partition_data:
                largest = max(batch_sizes(partition.records), default=0)
                if largest > limit:
                    refused.setdefault(topic.name, []).append((partition.index, largest))
                    logger.info("size-limit proxy: %s[%d] batch of %d bytes over %d refused", topic.name, partition.index, largest, limit)
                else:
                    kept.append(partition)
            topic.partition_data = kept
            if kept:
                kept_topics.append(topic)
        request.topic_data = kept_topics
        return refused

    def _responses(self) -> None:
        try:
            while (frame := _read_frame(self.broker)) is not None:
                self._response(frame)
        except _OutOfStep as error:
            logger.error("size-limit proxy: %s; closing the connection", error)
        except OSError as error:
            logger.debug("size-limit proxy: connection closed (%s)", error)
        except Exception:
            logger.exception("size-limit proxy: response not understood; closing the connection")
        finally:
            self._close()

    def _response(self, frame: bytes) -> None:
        (correlation_id,) = _FRAME.unpack_from(frame)
        # Sent under the lock: a response the proxy writes itself must not overtake this one.
        with self._lock:
            owed = self._owed.popleft()
            if owed.correlation_id != correlation_id or owed.written is not None:
                raise _OutOfStep(f"the broker answered request {correlation_id} when {owed.correlation_id} was next")
            if not owed.refused:
                self.client.sendall(_FRAME.pack(len(frame)) + frame)
            else:
                response = ProduceResponse.decode(frame, version=owed.version, header=True)
                _add_refused(response, owed.refused, owed.version)
                self.client.sendall(_encode(response))
            # Responses the proxy wrote itself, owed right after this one.
            while self._owed and self._owed[0].written is not None:
                self.client.sendall(self._owed.popleft().written)

    def _close(self) -> None:
        for sock in (self.client, self.broker):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        with self.proxy._lock:
            self.proxy._sockets.difference_update((self.client, self.broker))


def _encode(message) -> bytes:
    # The version is the message's own (decoded or constructed with it): kafka-python's encode
    # given a version also writes it into the header, which a response header has no field for.
    return message.encode(header=True, framed=True)


def _add_refused(response, refused: dict[str, list[tuple[int, int]]], version: int) -> None:
    topics = {topic.name: topic for topic in response.responses}
    for name, partitions in refused.items():
        entries = [
            ProduceResponse.TopicProduceResponse.PartitionProduceResponse(
                index=index,
                error_code=MESSAGE_TOO_LARGE,
                base_offset=-1,
                log_append_time_ms=-1,
                log_start_offset=-1,
                record_errors=[],
                error_message=f"record batch of {size} bytes is larger than the topic's max.message.bytes",
                version=version,
            )
            for index, size in partitions
        ]
        if name in topics:
            topics[name].partition_responses.extend(entries)
        else:
            response.responses.append(
                ProduceResponse.TopicProduceResponse(name=name, partition_responses=entries, version=version)
            )


def _read_frame(sock: socket.socket) -> bytes | None:
    """One size-prefixed Kafka frame (without its size); ``None`` at the end of the stream."""
    head = _read_exactly(sock, _FRAME.size)
    if head is None:
        return None
    (size,) = _FRAME.unpack(head)
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
