"""The sink catalogue: short name -> description and constructor, like :mod:`learners.registry`.

A sink is where the publisher stage writes what one batch published. A new sink is one module
that defines a class following :class:`Sink` and registers it with :func:`register`; a job lists
it in ``JobConfig.sinks``. Names are resolved in the driver (:func:`resolve`) before the broker
starts, and the publisher actor is handed the resolved entries, so a sink registered in the
driver's process reaches the actor with it (Ray pickles the entry's class).

Examples
--------
>>> @register("count", "Counts the predictions it was given")
... class CountingSink:
...     def __init__(self, context):
...         self.count = 0
...     def write(self, batch):
...         self.count += len(batch.predictions)
...     def flush(self):
...         pass
...     def close(self):
...         pass
>>> [entry.name for entry in resolve(["count"])]
['count']
>>> resolve(["nope"])
Traceback (most recent call last):
...
jobs.sinks.registry.UnknownSinkError: unknown sink 'nope'; choose from: ...
>>> del SINKS["count"]

"""

from __future__ import annotations

import dataclasses
import typing

from jobs.catalogue import Catalogue, Entry, UnknownNameError
from stream.kafka import KafkaConfig, RecordSink


@dataclasses.dataclass(frozen=True)
class Published:
    """What one batch published: the predictions, the model events and the drift alerts (each a
    JSON-ready dict, in publish order) and the publish time."""

    predictions: list[dict]
    model_events: list[dict]
    alerts: list[dict]
    ts: float


@dataclasses.dataclass(frozen=True)
class SinkContext:
    """What a sink may be built from: the job's Kafka settings and the publisher's producer (shared
    with its dead letters), and the settings of the built-in optional sinks."""

    kafka: KafkaConfig
    records: RecordSink
    predictions_file: str | None = None
    alertmanager_url: str | None = None


class Sink(typing.Protocol):
    """A destination of published batches.

    The publisher calls :meth:`write` for each batch, then :meth:`flush` on every sink in the
    job's order before it acknowledges the batch (the driver then commits the input offsets): a
    sink that must not lose a batch makes it durable in :meth:`flush`, or in :meth:`write`. After a
    restart from a checkpoint the batches after it are written again (at least once).
    """

    def __init__(self, context: SinkContext) -> None: ...

    def write(self, batch: Published) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class UnknownSinkError(UnknownNameError):
    """A sink name nothing is registered under."""


SINKS = Catalogue("sink", UnknownSinkError)
register = SINKS.register


def resolve(names: typing.Iterable[str]) -> list[Entry]:
    """The entries of ``names``, in order; an unknown name raises :class:`UnknownSinkError`."""
    return [SINKS.lookup(name) for name in names]
