"""Kafka I/O against the real embedded broker: config, topics, commits and resume, dead letters, produce, tail."""

from __future__ import annotations

import hashlib
import io
import itertools
import time

import kafka.codec
import pydantic
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from jobs import cli_stream
from jobs.produce import dataset_records, jsonl_records, produce
from jobs.tail import format_message, preview, tail
from stream.datasets import open_dataset
from jobs.broker import EmbeddedBroker
from stream.errors import BrokerUnavailable, FlushTimeout, KafkaClientError, ProduceError, RecordError, TopicError
from stream.kafka import (
    DeadLetterSink,
    KafkaConfig,
    Message,
    RecordSink,
    RecordSource,
    ensure_topics,
    next_offsets,
    topic_partitions,
)
from stream.records import (
    ModelEvent,
    Prediction,
    RecordLimits,
    encode_json,
    parse_dead_letter,
    parse_label_update,
    parse_record,
)

pytestmark = pytest.mark.integration

GOEMOTIONS = "/work/shared/datasets/text/goemotions.jsonl.gz"


def consume(source: RecordSource, expected: int, timeout_s: float = 30.0) -> list[Message]:
    """Poll until ``expected`` messages arrived (or the deadline passes), then a little more for extras."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < expected and time.monotonic() < deadline:
        messages.extend(source.poll_batch(timeout_s=0.5))
    messages.extend(source.poll_batch(timeout_s=0.5))
    return messages


def send_all(config: KafkaConfig, topic: str, values, keys=None) -> None:
    with RecordSink(config) as sink:
        for value, key in zip(values, keys or itertools.repeat(None)):
            sink.send(topic, value, key=key)
        sink.flush()


# -- config --------------------------------------------------------------------------------------


def test_config_rejects_what_cannot_work():
    with pytest.raises(pydantic.ValidationError, match="host:port"):
        KafkaConfig(bootstrap_servers="localhost")
    with pytest.raises(pydantic.ValidationError, match="needs sasl_mechanism"):
        KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u")
    with pytest.raises(pydantic.ValidationError, match="heartbeat"):
        KafkaConfig(session_timeout_ms=2000, heartbeat_interval_ms=2000)
    with pytest.raises(pydantic.ValidationError):
        KafkaConfig(acks=2)


def test_config_keeps_the_password_secret_until_the_client_needs_it():
    config = KafkaConfig(
        bootstrap_servers=" a:1 , b:2 ",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2",
        ssl_cafile="/etc/ca.pem",
    )
    assert "hunter2" not in repr(config) and "hunter2" not in config.model_dump_json()
    producer = config.client_kwargs("producer")
    assert producer["bootstrap_servers"] == ["a:1", "b:2"]
    assert producer["sasl_plain_password"] == "hunter2" and producer["sasl_mechanism"] == "SCRAM-SHA-512"
    assert producer["ssl_cafile"] == "/etc/ca.pem" and producer["acks"] == "all"
    consumer = config.client_kwargs("consumer")
    assert consumer["enable_auto_commit"] is False and consumer["session_timeout_ms"] == 6000
    with pytest.raises(ValueError, match="role"):
        config.client_kwargs("streams")


def test_unreachable_broker_is_a_named_error_after_the_connect_timeout():
    config = KafkaConfig(bootstrap_servers="127.0.0.1:9", connect_timeout_s=1.0)
    with pytest.raises(BrokerUnavailable, match="127.0.0.1:9"):
        RecordSink(config)
    with pytest.raises(BrokerUnavailable):
        RecordSource(config, ["t"])


# -- topics --------------------------------------------------------------------------------------


def test_ensure_topics_is_idempotent(kafka_config):
    created = ensure_topics(kafka_config, partitions=3)
    assert sorted(created) == sorted(kafka_config.topics.all())
    assert ensure_topics(kafka_config, partitions=3) == []
    assert topic_partitions(kafka_config, kafka_config.topics.records) == [
        (kafka_config.topics.records, p) for p in range(3)
    ]


def test_partitions_of_a_missing_topic_is_a_named_error(kafka_config):
    with pytest.raises(TopicError, match="does not exist"):
        topic_partitions(kafka_config, kafka_config.topics.drift)


# -- consume, commit, resume ---------------------------------------------------------------------


def test_round_trip_with_manual_commits_resumes_exactly_after_the_committed_offsets(kafka_config):
    topic = kafka_config.topics.records
    ensure_topics(kafka_config, [topic], partitions=2)
    values = [{"id": f"r{i}", "features": [i]} for i in range(40)]
    send_all(kafka_config, topic, values, keys=[value["id"] for value in values])

    with RecordSource(kafka_config, [topic]) as first:
        seen = consume(first, 40)
        assert sorted(parse_record(m.value, m.key).id for m in seen) == sorted(v["id"] for v in values)
        assert first.assignment() == {(topic, 0), (topic, 1)}
        # Done with only the first few of each partition; the rest must come again.
        done = [m for m in seen if m.offset < 5]
        first.commit(next_offsets(done))
        assert first.committed(topic, 0) == 5 and first.committed(topic, 1) == 5

    with RecordSource(kafka_config, [topic]) as second:
        again = consume(second, len(seen) - len(done))
    coordinates = lambda messages: sorted((m.partition, m.offset) for m in messages)  # noqa: E731
    assert coordinates(again) == coordinates(m for m in seen if m.offset >= 5)


def test_poll_batch_respects_the_batch_size_and_returns_empty_on_timeout(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.records
    send_all(kafka_config, topic, [{"n": i} for i in range(25)])
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        sizes = []
        deadline = time.monotonic() + 30
        while sum(sizes) < 25 and time.monotonic() < deadline:
            batch = source.poll_batch(max_records=10, timeout_s=1.0)
            sizes.append(len(batch))
        assert sum(sizes) == 25 and max(sizes) <= 10
        assert source.poll_batch(max_records=10, timeout_s=0.2) == []


def test_seek_rereads_from_an_offset(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.records
    send_all(kafka_config, topic, [{"n": i} for i in range(10)])
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        assert len(consume(source, 10)) == 10
        source.seek(topic, 0, 7)
        assert [m.offset for m in consume(source, 3)] == [7, 8, 9]


def test_lag_is_a_gauge_of_what_is_left(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.records
    with RecordSink(kafka_config) as sink:
        for i in range(10):
            sink.send(topic, {"n": i})
            sink.flush()  # one batch per message, so even tansu's end offsets move
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        # Apache Kafka reports 10; tansu reports the last batch's base offset (9).
        assert 9 <= source.lag()[(topic, 0)] <= 10
        consume(source, 10)
        assert source.lag() == {(topic, 0): 0}


def test_fetched_to_end_needs_a_fetch_and_then_every_fetched_message_read(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.labels
    send_all(kafka_config, topic, [{"n": i} for i in range(10)])
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        assert not source.fetched_to_end(topic)  # nothing fetched yet: the end is unknown, not reached
        first = source.poll_batch(max_records=3, timeout_s=5.0)
        assert len(first) == 3 and not source.fetched_to_end(topic)
        consume(source, 7)
        assert source.fetched_to_end(topic)
        assert source.fetched_to_end("a-topic-not-assigned")


def test_sink_refuses_an_oversize_message_with_a_named_error(kafka_config):
    with RecordSink(kafka_config) as sink:
        with pytest.raises(ProduceError, match=kafka_config.topics.records):
            sink.send(kafka_config.topics.records, b"x" * (2 << 20))


def test_sink_sends_headers_and_raw_bytes(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.predictions
    prediction = Prediction("r1", ("a",), {"a": 0.75}, "br-ht", 3, 1.5, 1767225600.0)
    with RecordSink(kafka_config) as sink:
        sink.send(topic, prediction.to_json(), key="r1", headers={"trace": "t-1", "raw": b"\x00\x01"})
        sink.send(topic, b"\xffnot json", key=b"r2")
        sink.flush()
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        first, second = consume(source, 2)
    assert first.key == b"r1" and dict(first.headers) == {"trace": b"t-1", "raw": b"\x00\x01"}
    assert first.value == encode_json(prediction.to_json())
    assert second.value == b"\xffnot json" and second.key == b"r2"


# -- dead letters --------------------------------------------------------------------------------


def test_dead_letters_keep_the_original_bytes_key_and_headers(kafka_config):
    ensure_topics(kafka_config)
    records_topic, dead_topic = kafka_config.topics.records, kafka_config.topics.deadletter
    bad = [b'{"id": "r1", "features": {"a": NaN}}', b"\xff\xfe garbage", None]
    with RecordSink(kafka_config) as sink:
        for i, value in enumerate(bad):
            sink.send(records_topic, value, key=f"k{i}", headers=[("trace", f"t{i}")])
        sink.send(records_topic, {"id": "ok", "text": "fine"}, key="ok")
        sink.flush()

    with RecordSource(kafka_config, partitions=[(records_topic, 0)]) as source:
        messages = consume(source, 4)
    good = []
    with RecordSink(kafka_config) as sink:
        dead = DeadLetterSink(sink, dead_topic)
        for message in messages:
            try:
                good.append(parse_record(message.value, message.key))
            except RecordError as error:
                dead.send(message, error)
        sink.flush()
    assert [record.id for record in good] == ["ok"]

    with RecordSource(kafka_config, partitions=[(dead_topic, 0)]) as source:
        letters = [parse_dead_letter(m.value, m.key, m.headers) for m in consume(source, 3)]
    assert [letter.value for letter in letters] == bad
    assert [letter.key for letter in letters] == [b"k0", b"k1", b"k2"]
    assert [letter.reason for letter in letters] == ["non_finite", "encoding", "tombstone"]
    assert {letter.error_class for letter in letters} == {"RecordError"}
    assert [(letter.source_topic, letter.source_partition, letter.source_offset) for letter in letters] == [
        (records_topic, 0, 0),
        (records_topic, 0, 1),
        (records_topic, 0, 2),
    ]
    assert [letter.source_headers for letter in letters] == [(("trace", f"t{i}".encode()),) for i in range(3)]
    assert all(time.time() - 60 < letter.ts <= time.time() for letter in letters)


def test_dead_letter_of_another_error_needs_a_reason(kafka_config):
    ensure_topics(kafka_config)
    message = Message(kafka_config.topics.records, 0, 9, b"k", b"{}")
    with RecordSink(kafka_config) as sink:
        dead = DeadLetterSink(sink, kafka_config.topics.deadletter)
        with pytest.raises(ValueError, match="give a reason"):
            dead.send(message, KeyError("x"))
        dead.send(message, KeyError("x"), reason="extract")
        sink.flush()
    with RecordSource(kafka_config, partitions=[(kafka_config.topics.deadletter, 0)]) as source:
        (letter,) = consume(source, 1)
    decoded = parse_dead_letter(letter.value, letter.key, letter.headers)
    assert (decoded.reason, decoded.error_class, decoded.source_offset) == ("extract", "KeyError", 9)


def _dead_letters(config: KafkaConfig, expected: int) -> list:
    with RecordSource(config.model_copy(update={"group_id": None}), partitions=[(config.topics.deadletter, 0)]) as source:
        return [parse_dead_letter(m.value, m.key, m.headers) for m in consume(source, expected)]


def test_a_dead_letter_beyond_what_the_topic_takes_keeps_its_head_size_and_hash(kafka_config):
    ensure_topics(kafka_config)
    value = b'{"id": "big", "text": "' + b"x" * 2_400_000 + b'"}'
    message = Message(kafka_config.topics.records, 0, 41, b"big", value, (("trace", b"t1"),))
    limits = RecordLimits(dead_letter_head_bytes=1000)
    with RecordSink(kafka_config) as sink:
        dead = DeadLetterSink(sink, kafka_config.topics.deadletter, limits)
        assert dead.send(message, RecordError("oversize", "too big"))
        dead.flush()
        assert dead.lost == 0
    (letter,) = _dead_letters(kafka_config, 1)
    assert letter.truncated and letter.original_bytes == len(value)
    assert letter.sha256 == hashlib.sha256(value).hexdigest()
    assert letter.value == value[:1000]
    assert (letter.reason, letter.source_offset, letter.key, letter.source_headers) == ("oversize", 41, b"big", (("trace", b"t1"),))
    assert letter.group == kafka_config.group_id


def test_a_dead_letter_the_producer_refuses_goes_again_as_its_head_or_is_counted_lost(kafka_config):
    """The topic takes more than this producer sends: the refusal comes from the client, at send."""
    ensure_topics(kafka_config)
    small = kafka_config.model_copy(update={"max_request_size": 200_000})
    value = b"{" + b"z" * 150_000  # not JSON, under the topic's size, over the producer's request size with headers
    near = Message(kafka_config.topics.records, 0, 7, None, value + b"z" * 60_000)
    with RecordSink(small) as sink:
        dead = DeadLetterSink(sink, kafka_config.topics.deadletter, RecordLimits(dead_letter_head_bytes=50_000))
        assert dead.send(near, RecordError("json", "bad"))
        dead.flush()
        assert dead.lost == 0
        hopeless = DeadLetterSink(sink, kafka_config.topics.deadletter, RecordLimits(dead_letter_head_bytes=300_000))
        assert hopeless.send(Message(kafka_config.topics.records, 0, 8, None, value * 3), RecordError("json", "bad"))
        hopeless.flush()  # no error: the consumer commits past it
        assert hopeless.lost == 1
    (letter,) = _dead_letters(kafka_config, 1)
    assert (letter.source_offset, letter.original_bytes, len(letter.value)) == (7, len(near.value), 50_000)


def test_each_input_position_is_dead_lettered_once_across_restarts(kafka_config):
    ensure_topics(kafka_config)
    records = kafka_config.topics.records
    messages = [Message(records, 0, offset, None, b"{oops") for offset in range(5)]
    with RecordSink(kafka_config) as sink:
        first = DeadLetterSink(sink, kafka_config.topics.deadletter)
        assert [first.send(m, RecordError("json", "bad")) for m in messages[:3]] == [True] * 3
        assert not first.send(messages[1], RecordError("json", "bad"))  # rewound within one incarnation
        first.flush()
        restarted = DeadLetterSink(sink, kafka_config.topics.deadletter)
        assert [restarted.send(m, RecordError("json", "bad")) for m in messages] == [False] * 3 + [True] * 2
        other_group = DeadLetterSink(sink, kafka_config.topics.deadletter, group="another-job")
        assert other_group.send(messages[0], RecordError("json", "bad"))
        restarted.flush()
    letters = _dead_letters(kafka_config, 6)
    assert sorted((letter.group, letter.source_offset) for letter in letters) == sorted(
        [(kafka_config.group_id, offset) for offset in range(5)] + [("another-job", 0)]
    )


# -- produce -------------------------------------------------------------------------------------


def test_produce_a_dataset_slice(kafka_config):
    ensure_topics(kafka_config)
    stats = produce(kafka_config, dataset_records("yeast"), limit=30)
    assert (stats.records, stats.label_updates) == (30, 0)
    with RecordSource(kafka_config, partitions=[(kafka_config.topics.records, 0)]) as source:
        got = [parse_record(m.value, m.key) for m in consume(source, 30)]
    expected = list(open_dataset("yeast").take(30))
    assert [record.id for record in got] == [f"yeast-{i}" for i in range(30)]
    assert [record.features for record in got] == [x for x, _ in expected]
    assert [set(record.labels) for record in got] == [{label for label, on in y.items() if on} for _, y in expected]


def test_produce_a_text_slice_with_delayed_labels(kafka_config):
    ensure_topics(kafka_config)
    source_records = list(itertools.islice(jsonl_records(GOEMOTIONS), 12))
    stats = produce(kafka_config, source_records, label_delay=5)
    assert (stats.records, stats.label_updates) == (12, 12)
    with RecordSource(kafka_config, partitions=[(kafka_config.topics.records, 0)]) as source:
        sent = [parse_record(m.value, m.key) for m in consume(source, 12)]
    with RecordSource(kafka_config, partitions=[(kafka_config.topics.labels, 0)]) as source:
        updates = [parse_label_update(m.value, m.key) for m in consume(source, 12)]
    assert [(r.id, r.text) for r in sent] == [(r.id, r.text) for r in source_records]
    assert all(record.labels is None for record in sent)
    assert [(u.id, u.labels) for u in updates] == [(r.id, r.labels) for r in source_records]


def test_produce_paces_to_the_rate(kafka_config):
    stats = produce(kafka_config, itertools.islice(jsonl_records(GOEMOTIONS), 11), rate=50)
    # 11 records at 50/s: the last one is due 0.2 s after the first.
    assert stats.records == 11 and stats.seconds >= 0.2


def test_a_bad_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y", "labels": "z"}\n')
    with pytest.raises(RecordError, match=r"bad.jsonl:2: record 'b': labels must be a list"):
        list(jsonl_records(path))


def test_produce_rejects_bad_arguments(kafka_config):
    with pytest.raises(ValueError, match="rate"):
        produce(kafka_config, [], rate=-1)
    with pytest.raises(ValueError, match="label_delay"):
        produce(kafka_config, [], label_delay=-1)


# -- tail ----------------------------------------------------------------------------------------


def test_tail_prints_predictions_drift_alerts_model_events_and_dead_letters(kafka_config):
    ensure_topics(kafka_config)
    model_event = ModelEvent.from_event(
        {"learner": "mlhat", "level": "local", "kind": "split", "instance": 7, "labels": ["a"], "node": "n1", "detail": {}},
        ts=1.0,
    )
    where = {"index": 40, "topic": kafka_config.topics.records, "partition": 0, "offset": 40, "record_id": "r40", "ts": None}
    alert = {
        "event_id": "e1f2", "level": "drift", "kind": "prior", "severity": "high", "labels": ["a"], "learner": None,
        "clusters": [], "window": {"first": where | {"index": 12}, "last": where}, "model_version": None,
        "detector": "prior.a", "statistic": {"name": "z", "value": 5.0, "threshold": 3.0}, "job": "j", "detail": {},
        "ts": 1.0,
    }  # fmt: skip
    with RecordSink(kafka_config) as sink:
        sink.send(kafka_config.topics.predictions, Prediction("r9", ("a",), {"a": 0.9, "b": 0.1}, "br-ht", 4, 2.0, 1.0).to_json())
        sink.send(kafka_config.topics.predictions, b"[broken")
        sink.send(kafka_config.topics.drift, alert)
        sink.send(kafka_config.topics.drift, model_event.to_json())  # not a drift alert: shown as unreadable
        sink.send(kafka_config.topics.model_events, model_event.to_json())
        DeadLetterSink(sink, kafka_config.topics.deadletter).send(
            Message(kafka_config.topics.records, 0, 3, b"k", b"[red]\xff\x1b[2J"), RecordError("encoding", "not UTF-8 at byte 5")
        )
        sink.flush()
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    assert tail(kafka_config, "predictions", console=console, from_beginning=True, limit=2) == 2
    assert tail(kafka_config, "drift", console=console, from_beginning=True, limit=2) == 2
    assert tail(kafka_config, "model-events", console=console, from_beginning=True, limit=1) == 1
    assert tail(kafka_config, "deadletter", console=console, from_beginning=True, limit=1) == 1
    assert tail(kafka_config, "labels", console=console, from_beginning=True, idle_timeout_s=0.5) == 0
    text = out.getvalue()
    assert "r9 -> a" in text and "a=0.90" in text and "br-ht v4" in text
    assert "unreadable (json)" in text
    assert "drift prior high records 12..40 labels=a prior.a e1f2" in text
    assert "unreadable (schema): drift alert lacks field(s)" in text
    assert "local split mlhat @7 node=n1 labels=a" in text
    assert f"encoding RecordError from {kafka_config.topics.records}[0]@3" in text
    assert "value=[red]\\xff\\x1b[2J" in text


def test_preview_escapes_what_a_terminal_would_interpret():
    assert preview(b'{"id": 1}\xff\x1b[2J') == '{"id": 1}\\xff\\x1b[2J'
    assert preview(None) == "<null>"
    assert preview(b"x" * 500, limit=10) == "x" * 9 + "…"


def test_format_message_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown topic kind"):
        format_message("metrics", Message("t", 0, 0, None, b"{}"))


# -- command line --------------------------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    cli_stream.register(app)
    return app


def test_cli_produce_then_tail(cli, kafka_config, monkeypatch):
    topics = kafka_config.topics
    env = {
        "TAGSTREAM_KAFKA__TOPICS__RECORDS": topics.records,
        "TAGSTREAM_KAFKA__TOPICS__LABELS": topics.labels,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ensure_topics(kafka_config)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["produce", "--file", GOEMOTIONS, "--limit", "3", "--label-delay", "1", "-b", kafka_config.bootstrap_servers],
    )
    assert result.exit_code == 0, result.output
    assert f"sent 3 records to {topics.records} and 3 label updates to {topics.labels}" in result.output
    result = runner.invoke(
        cli, ["tail", "records", "--from-beginning", "--limit", "3", "-b", kafka_config.bootstrap_servers]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("predict only") == 3


def test_cli_reports_a_missing_topic_and_bad_arguments(cli, kafka_config):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["tail", "drift", "--topic", kafka_config.topics.drift, "-b", kafka_config.bootstrap_servers]
    )
    assert result.exit_code == 1 and "does not exist" in result.output
    assert runner.invoke(cli, ["produce", "-b", kafka_config.bootstrap_servers]).exit_code == 2
    assert runner.invoke(cli, ["tail", "metrics"]).exit_code == 2


def test_seek_on_a_partition_not_assigned_is_a_named_error(kafka_config):
    ensure_topics(kafka_config)
    topic = kafka_config.topics.records
    with RecordSource(kafka_config, partitions=[(topic, 0)]) as source:
        with pytest.raises(KafkaClientError, match="not assigned"):
            source.seek(topic, 1, 0)
        with pytest.raises(ValueError, match="offset"):
            source.seek(topic, 0, -1)


def test_flush_times_out_with_a_named_error_when_the_broker_is_gone():
    with EmbeddedBroker() as private:
        config = KafkaConfig(bootstrap_servers=private.bootstrap_servers, max_block_ms=2000)
        ensure_topics(config, ["t"])
        sink = RecordSink(config)
        sink.send("t", b"1")
        sink.flush()
    sink.send("t", b"2")
    with pytest.raises(FlushTimeout, match="unacknowledged after 1.0 s"):
        sink.flush(timeout_s=1.0)
    with pytest.raises(FlushTimeout, match="closing"):
        sink.close(timeout_s=0)


def test_compression_codecs_are_checked_when_configured():
    assert KafkaConfig(compression_type="gzip").client_kwargs("producer")["compression_type"] == "gzip"
    for codec, available, package in [
        ("lz4", kafka.codec.has_lz4(), "lz4"),
        ("zstd", kafka.codec.has_zstd(), "zstandard"),
        ("snappy", kafka.codec.has_snappy(), "python-snappy"),
    ]:
        if available:
            assert KafkaConfig(compression_type=codec).compression_type == codec
        else:
            with pytest.raises(pydantic.ValidationError, match=f"pip install {package}"):
                KafkaConfig(compression_type=codec)


def test_gzip_compressed_messages_round_trip(kafka_config):
    config = kafka_config.model_copy(update={"compression_type": "gzip"})
    ensure_topics(config)
    send_all(config, config.topics.records, [{"id": f"r{i}", "text": "x" * 200} for i in range(20)])
    with RecordSource(config, partitions=[(config.topics.records, 0)]) as source:
        assert [parse_record(m.value).id for m in consume(source, 20)] == [f"r{i}" for i in range(20)]
