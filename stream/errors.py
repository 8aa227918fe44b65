"""Exceptions raised by :mod:`stream`. Every one of them derives from :class:`StreamError`."""

from __future__ import annotations


class StreamError(Exception):
    """Root of every error raised by :mod:`stream`."""


class ArffError(StreamError, ValueError):
    """An ARFF file (or its companion label XML) cannot be read as a multi-label dataset.

    Parameters
    ----------
    file
        The file at fault.
    line
        1-based line number of the offending line, or ``None`` when the problem is not tied to
        one line (for example which attributes are labels).
    reason
        What is wrong, for people.

    """

    def __init__(self, file, line: int | None, reason: str):
        where = str(file) if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {reason}")
        self.file = str(file)
        self.line = line
        self.reason = reason


class DatasetShapeError(StreamError, ValueError):
    """A registered dataset's file does not have the shape the registry expects."""


class DatasetMissingError(StreamError, FileNotFoundError):
    """A registered dataset's file is not where the registry looks for it."""


class UnknownDatasetError(StreamError, KeyError):
    """A dataset name is neither registered nor the path of an existing file."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes included.
        return str(self.args[0]) if self.args else ""


class RecordError(StreamError, ValueError):
    """A message does not follow its topic's schema.

    Parameters
    ----------
    reason
        One of the fixed reason codes in :data:`stream.records.REASONS`; it becomes a metric label
        and the ``reason`` header of the dead letter, so it never contains free text.
    message
        What is wrong and where, for people.

    """

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    def __reduce__(self):
        # Sent between Ray actors: rebuild it from its two parts, not from the joined text.
        return type(self), (self.reason, self.message)


class KafkaClientError(StreamError):
    """A Kafka operation failed. Wraps the client's error, if there is one.

    ``code`` is the Kafka protocol error code (``None`` when the failure happened on the client
    side) and ``description`` the client's explanation.
    """

    def __init__(self, message: str, error: BaseException | None = None):
        super().__init__(message if error is None else f"{message}: {error}")
        self.error = error
        self.code: int | None = getattr(error, "errno", None)
        self.description: str = (getattr(error, "description", None) or str(error)) if error is not None else message


class KafkaTimeout(KafkaClientError):
    """A Kafka operation did not finish within its timeout."""


class BrokerUnavailable(KafkaClientError):
    """No broker of the configured bootstrap servers could be reached."""


class ProduceError(KafkaClientError):
    """The broker did not accept one or more produced messages."""


class FlushTimeout(KafkaTimeout):
    """Produced messages were still not acknowledged when the flush timeout expired."""


class CommitError(KafkaClientError):
    """Committing consumer offsets failed (for example after a rebalance took the partition away)."""


class TopicError(KafkaClientError):
    """Creating or describing topics failed."""
