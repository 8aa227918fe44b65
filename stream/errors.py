"""Exceptions raised by :mod:`stream`. Every one of them derives from :class:`StreamError`."""

from __future__ import annotations


class StreamError(Exception):
    """Root of every error raised by :mod:`stream`."""


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
