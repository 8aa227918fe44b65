"""A broker that refuses oversize messages, as Apache Kafka does (jobs.broker_limit), and what the
dead-letter sink does when the broker, not the client, refuses a dead letter (issue 14).

What these tests exercise, precisely: tansu (which takes any size) behind
:class:`jobs.broker_limit.SizeLimitProxy`, which answers a Produce request's partitions whose record
batch is over the topic's limit with Kafka's error ``MESSAGE_TOO_LARGE`` (10), decoded by the
real kafka-python client as ``MessageSizeTooLargeError``, and forwards everything else to tansu.
The limit is Apache Kafka's default ``message.max.bytes`` (1,048,588 bytes) unless a test sets
another; a topic's own limit stands for Kafka's topic setting ``max.message.bytes``.
"""

from __future__ import annotations

import hashlib
import logging

import kafka.errors
import pytest

from jobs.broker import EmbeddedBroker
from jobs.broker_limit import KAFKA_MESSAGE_MAX_BYTES, batch_sizes
from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import produce
from stream.kafka import DeadLetterSink, KafkaConfig, Message, RecordSink, RecordSource, ensure_topics
from stream.records import Record, RecordError, RecordLimits, parse_dead_letter

from helpers import read_topic


@pytest.fixture(scope="module")
def kafka_sized_broker():
    """A broker of this module with Kafka's default size limit (its topics' own limits set per test)."""
    with EmbeddedBroker(max_message_bytes=KAFKA_MESSAGE_MAX_BYTES) as running:
        yield running


@pytest.fixture
def sized_config(kafka_config, kafka_sized_broker) -> KafkaConfig:
    return kafka_config.model_copy(update={"bootstrap_servers": kafka_sized_broker.bootstrap_servers, "max_request_size": 4_000_000})


def test_batch_sizes_walk_the_record_batches_of_a_partition():
    assert batch_sizes(None) == []
    assert batch_sizes(b"\x00" * 8 + (5).to_bytes(4, "big") + b"abcde") == [17]


def test_a_topic_limit_needs_a_broker_limit():
    with pytest.raises(ValueError, match="needs max_message_bytes"):
        EmbeddedBroker(topic_max_message_bytes={"t": 10})


@pytest.mark.integration
def test_the_broker_refuses_a_batch_over_the_limit_of_its_topic_and_takes_the_rest(kafka_sized_broker, sized_config):
    ensure_topics(sized_config, partitions=1)
    topics = sized_config.topics
    kafka_sized_broker.set_topic_max_message_bytes(topics.records, 3_000_000)  # as kafka-configs --alter would
    refused_before = kafka_sized_broker.refused_batches
    with RecordSink(sized_config) as sink:
        small = sink.send(topics.predictions, b"fits")
        over = sink.send(topics.predictions, b"x" * (KAFKA_MESSAGE_MAX_BYTES + 1), checked=False)
        allowed = sink.send(topics.records, b"y" * 2_000_000)  # its topic takes more
        sink.flush()
        assert small.succeeded() and allowed.succeeded()
        assert isinstance(over.exception, kafka.errors.MessageSizeTooLargeError)
        assert "max.message.bytes" in str(over.exception)
        after = sink.send(topics.predictions, b"still served")  # the connection goes on
        sink.flush()
        assert after.succeeded()
    assert kafka_sized_broker.refused_batches == refused_before + 1
    assert [m.value for m in read_topic(sized_config, topics.predictions, 2)] == [b"fits", b"still served"]
    assert [len(m.value) for m in read_topic(sized_config, topics.records, 1)] == [2_000_000]


def _near_mib_message(config: KafkaConfig) -> Message:
    """A bad message just under 1 MiB (so under ``max_record_bytes``) whose dead letter, with its
    headers, is over the broker's 1,048,588 bytes."""
    value = b"{" + b"n" * (1_048_500 - 1)
    return Message(config.topics.records, 0, 17, b"near", value, (("trace", b"t7"),))


@pytest.mark.integration
def test_a_dead_letter_the_broker_refuses_is_stored_as_its_head_with_size_hash_and_position(kafka_sized_broker, sized_config):
    ensure_topics(sized_config, partitions=1)
    message = _near_mib_message(sized_config)
    # The job's limits let the whole dead letter go (the operator set them above the broker's):
    # only the broker refuses it.
    limits = RecordLimits(dead_letter_max_bytes=1_100_000)
    refused_before = kafka_sized_broker.refused_batches
    with RecordSink(sized_config) as sink:
        dead = DeadLetterSink(sink, sized_config.topics.deadletter, limits)
        assert dead.send(message, RecordError("json", "not JSON"))
        dead.flush()
        assert dead.lost == 0
    assert kafka_sized_broker.refused_batches == refused_before + 1
    (raw,) = read_topic(sized_config, sized_config.topics.deadletter, 1)
    letter = parse_dead_letter(raw.value, raw.key, raw.headers)
    assert letter.truncated and letter.original_bytes == len(message.value)
    assert letter.sha256 == hashlib.sha256(message.value).hexdigest()
    assert letter.value == message.value[: limits.dead_letter_head_bytes]
    assert (letter.reason, letter.source_topic, letter.source_partition, letter.source_offset) == (
        "json", message.topic, 0, 17,
    )  # fmt: skip
    assert letter.key == b"near" and letter.source_headers == (("trace", b"t7"),)


@pytest.mark.integration
def test_a_dead_letter_whose_head_is_refused_too_is_counted_and_logged(kafka_sized_broker, sized_config, caplog):
    ensure_topics(sized_config, partitions=1)
    kafka_sized_broker.set_topic_max_message_bytes(sized_config.topics.deadletter, 20_000)  # smaller than any head
    message = _near_mib_message(sized_config)
    with RecordSink(sized_config) as sink, caplog.at_level(logging.ERROR, logger="stream.kafka"):
        dead = DeadLetterSink(sink, sized_config.topics.deadletter, RecordLimits(dead_letter_max_bytes=1_100_000))
        assert dead.send(message, RecordError("json", "not JSON"))
        dead.flush()  # no error: the caller commits past it
        assert dead.lost == 1
    assert f"dead letter of {message.topic}[0]@17 could not be published even cut to its head" in caplog.text
    assert read_topic(sized_config, sized_config.topics.deadletter) == []


# -- a job against the size-limited broker -------------------------------------------------------


def _good(count: int, start: int = 0) -> list[Record]:
    return [Record(f"g{i}", features={"a": float(i % 7)}, labels=(f"l{i % 3}",)) for i in range(start, start + count)]


def _job(kafka: KafkaConfig, limits: RecordLimits) -> JobConfig:
    return JobConfig(kafka=kafka, learners=["majority"], batch_size=20, idle_timeout_s=5.0, limits=limits,
                     labels_topic=False, metrics_port=0, dashboard_port=0)  # fmt: skip


@pytest.mark.integration
@pytest.mark.slow
def test_a_job_dead_letters_records_beyond_the_brokers_limit_as_heads_or_counts_them_lost(
    ray_local, kafka_sized_broker, sized_config, unique_name
):
    """Two records the dead-letter topic cannot take whole: one beyond the broker's limit (2.4 MB,
    which only the input topic, set to take 4 MB, accepts) and one just under 1 MiB whose dead
    letter, with its headers, is over the broker's 1,048,588 bytes (the job's own dead-letter limit
    lets it go whole: the broker refuses it). Then the same input again, for a second job whose
    dead-letter topic refuses even their heads."""
    ensure_topics(sized_config, partitions=1)
    kafka_sized_broker.set_topic_max_message_bytes(sized_config.topics.records, 4_000_000)
    oversize = b'{"id": "big", "text": "' + b"x" * 2_400_000 + b'"}'
    near_mib = _near_mib_message(sized_config).value
    produce(sized_config, _good(30))
    with RecordSink(sized_config) as sink:
        for value in (oversize, near_mib):
            sink.send(sized_config.topics.records, value)
        sink.flush()
    produce(sized_config, _good(30, start=30))
    limits = RecordLimits(dead_letter_max_bytes=1_100_000)
    refused_before = kafka_sized_broker.refused_batches

    summary = run_pipeline(_job(sized_config, limits), expected=62)
    assert summary.dead_letters == {"oversize": 1, "json": 1} and summary.dead_letters_lost == 0
    assert summary.learners["majority"]["learned"] == 60
    assert kafka_sized_broker.refused_batches > refused_before  # the near-MiB dead letter, refused whole
    letters = {
        letter.source_offset: letter
        for letter in (parse_dead_letter(m.value, m.key, m.headers) for m in read_topic(sized_config, sized_config.topics.deadletter, 2))
    }
    assert sorted(letters) == [30, 31]
    for offset, value in ((30, oversize), (31, near_mib)):
        letter = letters[offset]
        assert letter.truncated and letter.original_bytes == len(value)
        assert letter.sha256 == hashlib.sha256(value).hexdigest()
        assert letter.value == value[: limits.dead_letter_head_bytes]

    # Even the heads refused: counted and committed past (the consumer actor logs each position, as
    # the sink's own test checks).
    hopeless = sized_config.model_copy(
        update={"group_id": unique_name("group"), "topics": sized_config.topics.model_copy(update={"deadletter": unique_name("deadletter")})}
    )
    ensure_topics(hopeless, [hopeless.topics.deadletter], partitions=1)
    kafka_sized_broker.set_topic_max_message_bytes(hopeless.topics.deadletter, 20_000)
    summary = run_pipeline(_job(hopeless, limits), expected=62)
    assert summary.dead_letters_lost == 2 and summary.learners["majority"]["learned"] == 60
    with RecordSource(hopeless, partitions=[(hopeless.topics.records, 0)]) as source:
        assert source.committed(hopeless.topics.records, 0) == 62
    assert read_topic(hopeless, hopeless.topics.deadletter) == []
