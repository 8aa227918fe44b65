"""Replay a dataset or a JSON Lines file into the input topic, optionally paced and with delayed labels."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import logging
import os
import pathlib
import time
import typing

from stream.datasets import open_dataset
from stream.kafka import KafkaConfig, RecordSink
from stream.records import MAX_RECORD_BYTES, LabelUpdate, Record, RecordError, parse_record
from stream.text import TextDataset, TextFields

logger = logging.getLogger(__name__)


def dataset_records(
    name_or_path: str, *, id_prefix: str | None = None, text_fields: TextFields | None = None
) -> typing.Iterator[Record]:
    """The rows of a registered dataset (or any multi-label ARFF or JSONL text file) as records with ids.

    ARFF rows become feature records with ids ``<prefix>-<row number>`` (the dataset's name as
    default prefix) and the labels that are on, in the dataset's label order. Text datasets
    become text records with their own ids (generated where the file has none), read with
    ``text_fields``.
    """
    dataset = open_dataset(name_or_path, text_fields=text_fields)
    if isinstance(dataset, TextDataset):
        for instance in dataset:
            yield Record(id=instance.id, text=instance.text, labels=instance.labels)
        return
    prefix = dataset.name if id_prefix is None else id_prefix
    for row, (x, y) in enumerate(dataset):
        yield Record(id=f"{prefix}-{row}", features=x, labels=tuple(label for label, on in y.items() if on))


def jsonl_records(path: os.PathLike | str, *, max_bytes: int = MAX_RECORD_BYTES) -> typing.Iterator[Record]:
    """The records of a JSON Lines file (gzip-compressed when it ends in ``.gz``), one per line.

    Each line must be a valid input record (see :mod:`stream.records`); the raw-text sets
    (``{"id", "text", "labels"}``) are. A bad line raises :class:`~stream.errors.RecordError`
    naming the file and line.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        for lineno, line in enumerate(lines, start=1):
            try:
                yield parse_record(line.rstrip(b"\r\n"), max_bytes=max_bytes)
            except RecordError as error:
                raise RecordError(error.reason, f"{path}:{lineno}: {error.message}") from None


@dataclasses.dataclass(frozen=True)
class ProduceStats:
    """What :func:`produce` sent."""

    records: int
    label_updates: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


def produce(
    config: KafkaConfig,
    records: typing.Iterable[Record],
    *,
    rate: float = 0.0,
    limit: int | None = None,
    label_delay: int | None = None,
    topic: str | None = None,
) -> ProduceStats:
    """Send ``records`` to the input topic and wait until the broker has acknowledged them all.

    Parameters
    ----------
    config
        Connection settings and topic names.
    records
        What to send, in order.
    rate
        Records per second; 0 sends as fast as possible.
    limit
        Stop after this many records.
    label_delay
        When set to K, records go out without their labels, and ``{id, labels}`` goes to the
        labels topic right after the record K positions later (0: right after the record itself).
        Records that had no labels get no label update.
    topic
        Input topic; ``config.topics.records`` by default.

    """
    if rate < 0:
        raise ValueError(f"rate must be >= 0, got {rate}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if label_delay is not None and label_delay < 0:
        raise ValueError(f"label_delay must be >= 0, got {label_delay}")
    topic = config.topics.records if topic is None else topic
    pending: collections.deque[tuple[int, LabelUpdate]] = collections.deque()
    sent = updates = 0
    start = time.monotonic()
    with RecordSink(config) as sink:

        def release(up_to: int) -> int:
            released = 0
            while pending and pending[0][0] <= up_to:
                _, update = pending.popleft()
                sink.send(config.topics.labels, update.to_json(), key=update.id)
                released += 1
            return released

        for record in records:
            if limit is not None and sent >= limit:
                break
            if rate > 0:
                wait = start + sent / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            if label_delay is not None and record.labels is not None:
                pending.append((sent + label_delay, LabelUpdate(record.id, record.labels)))
                record = dataclasses.replace(record, labels=None)
            sink.send(topic, record.to_json(), key=record.key)
            updates += release(sent)
            sent += 1
        updates += release(float("inf"))
        sink.flush()
    stats = ProduceStats(records=sent, label_updates=updates, seconds=time.monotonic() - start)
    logger.info("produced %d records and %d label updates to %s in %.2f s", sent, updates, topic, stats.seconds)
    return stats
