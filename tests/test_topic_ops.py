"""Offsets and dead-letter operations (``tagstream offsets``, ``tagstream deadletters``) against the real embedded broker."""

from __future__ import annotations

import datetime
import time

import pytest
import typer
from typer.testing import CliRunner

from jobs import cli_ops
from jobs.stages.consumer import ConsumerStage
from jobs.topic_ops import REPLAYED_FROM, GroupOffsets, OffsetsError, dead_letter_stats, parse_moment, replay_dead_letters
from stream.kafka import RecordSink, RecordSource, ensure_topics
from stream.records import dead_letter_headers
from tests.helpers import read_topic


def produce(config, topic: str, count: int, start: int = 0) -> None:
    with RecordSink(config) as sink:
        for i in range(start, start + count):
            sink.send(topic, {"id": f"r{i}", "features": [float(i)]}, key=f"r{i}")
        sink.flush()


def per_partition(config, topic: str, expected: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for message in read_topic(config, topic, expected):
        counts[message.partition] = counts.get(message.partition, 0) + 1
    return counts


@pytest.fixture
def records_topic(kafka_config):
    ensure_topics(kafka_config, [kafka_config.topics.records], partitions=2)
    return kafka_config.topics.records


def first_offsets_read_by_group(config, topic: str) -> dict[int, int]:
    """Join the group and read once: the first offset the group hands out on each partition."""
    source = RecordSource(config, [topic])
    first: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not source.assignment() or len(first) < len(source.assignment())):
            for message in source.poll_batch(100, 0.5):
                first.setdefault(message.partition, message.offset)
            if source.assignment() and time.monotonic() > deadline - 50:
                break
    finally:
        source.close()
    return first


def test_show_reports_true_ends_and_lag_of_a_group_that_committed_nothing(kafka_config, records_topic):
    produce(kafka_config, records_topic, 30)
    counts = per_partition(kafka_config, records_topic, 30)
    rows = GroupOffsets(kafka_config, kafka_config.group_id, [records_topic]).show()
    assert [(row.topic, row.partition) for row in rows] == [(records_topic, 0), (records_topic, 1)]
    for row in rows:
        assert row.committed is None
        assert (row.start, row.end, row.lag) == (0, counts.get(row.partition, 0), counts.get(row.partition, 0))


def test_reset_to_latest_earliest_and_a_time_and_skip(kafka_config, records_topic):
    produce(kafka_config, records_topic, 20)
    time.sleep(0.3)
    middle = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.3)
    produce(kafka_config, records_topic, 20, start=20)
    before = per_partition(kafka_config, records_topic, 40)
    offsets = GroupOffsets(kafka_config, kafka_config.group_id, [records_topic])
    ends = {row.partition: row.end for row in offsets.show()}
    assert sum(ends.values()) == 40

    changes = offsets.reset("latest")
    assert {c.partition: (c.before, c.after) for c in changes} == {p: (None, end) for p, end in ends.items()}
    assert all(row.lag == 0 for row in offsets.show())

    offsets.reset("earliest")
    assert {row.partition: row.committed for row in offsets.show()} == {0: 0, 1: 0}

    first_half = {}
    for message in read_topic(kafka_config, records_topic, 40):
        if int(message.key.decode()[1:]) < 20:
            first_half[message.partition] = first_half.get(message.partition, 0) + 1
    offsets.reset(middle)
    assert {row.partition: row.committed for row in offsets.show()} == {p: first_half.get(p, 0) for p in (0, 1)}
    offsets.reset(middle + datetime.timedelta(days=1))  # after the last message: the end
    assert {row.partition: row.committed for row in offsets.show()} == ends

    offsets.reset("earliest", partition=1)
    busy = max(before, key=before.get)
    offsets.reset("earliest", partition=busy)
    (skip,) = offsets.skip(3, partition=busy)
    assert (skip.before, skip.after) == (0, 3)
    (clamped,) = offsets.skip(10_000, partition=busy)
    assert clamped.after == ends[busy]

    dry = offsets.reset("earliest", partition=busy, dry_run=True)
    assert dry[0].after == 0 and offsets.show()[busy].committed == ends[busy]


def test_a_consumer_of_the_group_reads_on_from_a_skip(kafka_config, records_topic):
    produce(kafka_config, records_topic, 30)
    offsets = GroupOffsets(kafka_config, kafka_config.group_id, [records_topic])
    counts = per_partition(kafka_config, records_topic, 30)
    busy = max(counts, key=counts.get)
    offsets.reset("earliest")
    offsets.skip(2, partition=busy)
    first = first_offsets_read_by_group(kafka_config, records_topic)
    assert first[busy] == 2
    assert all(offset == 0 for partition, offset in first.items() if partition != busy)


def test_offsets_of_a_group_with_members_are_refused(kafka_config, records_topic):
    produce(kafka_config, records_topic, 5)
    source = RecordSource(kafka_config, [records_topic])
    try:
        deadline = time.monotonic() + 60
        while not source.assignment() and time.monotonic() < deadline:
            source.poll_batch(10, 0.5)
        assert source.assignment()
        with pytest.raises(OffsetsError, match="active members"):
            GroupOffsets(kafka_config, kafka_config.group_id, [records_topic]).reset("latest")
    finally:
        source.close()


def test_unknown_partition_is_a_clear_error(kafka_config, records_topic):
    with pytest.raises(OffsetsError, match="no partition 7"):
        GroupOffsets(kafka_config, kafka_config.group_id, [records_topic]).skip(1, partition=7)


def test_parse_moment_rejects_garbage():
    assert parse_moment("2026-01-01T00:00:00+02:00").utcoffset() == datetime.timedelta(hours=2)
    with pytest.raises(ValueError, match="neither epoch seconds nor an ISO 8601"):
        parse_moment("yesterday")


# -- dead letters -----------------------------------------------------------------------------------


def dead_letter_bad_records(config) -> None:
    """Send bad records through a real consumer stage, which dead-letters them."""
    ensure_topics(config)
    with RecordSink(config) as sink:
        sink.send(config.topics.records, b"not json", key="a", headers=[("trace", b"t-1")])
        sink.send(config.topics.records, b'{"id": "b", "features": [1], "colour": 1}', key="b")
        sink.send(config.topics.records, b"{also not json", key="c")
        sink.send(config.topics.records, {"id": "good", "features": [1.0]}, key="good")
        sink.flush()
    stage = ConsumerStage(config, batch_size=10, poll_timeout_s=1.0)
    try:
        consumed, offsets, deadline = 0, {}, time.monotonic() + 60
        while consumed < 4 and time.monotonic() < deadline:
            _, info = stage.poll()
            consumed += info.consumed
            offsets.update(info.offsets)
        stage.commit(offsets)  # as the job does once the batch is done
    finally:
        stage.close()


def test_stats_count_dead_letters_by_reason_and_source(kafka_config):
    dead_letter_bad_records(kafka_config)
    stats = dead_letter_stats(kafka_config)
    assert stats.total == 3 and stats.unreadable == 0
    assert stats.by_reason == {"json": 2, "unknown_field": 1}
    assert stats.by_source == {kafka_config.topics.records: 3}
    assert "colour" in stats.last_error["unknown_field"]
    assert stats.first_ts <= stats.last_ts <= time.time()


def test_replay_sends_original_bytes_key_and_headers_back_and_the_consumer_reads_them(kafka_config):
    dead_letter_bad_records(kafka_config)
    # A dead letter of a good record, as a since-fixed bug in a later step would have left it.
    fixed = b'{"id": "fixed", "features": [2.0]}'
    headers = dead_letter_headers(
        reason="features", error_class="Bug", error_message="fixed since", topic=kafka_config.topics.records,
        partition=0, offset=99, ts=time.time(),
    )
    with RecordSink(kafka_config) as sink:
        sink.send(kafka_config.topics.deadletter, fixed, key="fixed", headers=headers)
        sink.send(kafka_config.topics.deadletter, b"{}", key="x", headers=[("reason", b"json")])  # not a dead letter

    dry = replay_dead_letters(kafka_config, reasons={"json"}, dry_run=True)
    assert dry.replayed == {"json": 2} and dry.unreadable == 1
    assert len(read_topic(kafka_config, kafka_config.topics.records)) == 4  # nothing sent

    result = replay_dead_letters(kafka_config, reasons={"json", "features"})
    assert result.replayed == {"json": 2, "features": 1} and result.not_selected == 1 and result.unreadable == 1
    replayed = read_topic(kafka_config, kafka_config.topics.records, 7)[4:]
    assert [(m.key, m.value) for m in replayed] == [(b"a", b"not json"), (b"c", b"{also not json"), (b"fixed", fixed)]
    assert dict(replayed[0].headers)["trace"] == b"t-1"
    assert all(dict(m.headers)[REPLAYED_FROM].startswith(kafka_config.topics.deadletter.encode()) for m in replayed)

    # The job's consumer takes the fixed record and dead-letters the still-bad ones again.
    stage = ConsumerStage(kafka_config, batch_size=10, poll_timeout_s=1.0)
    try:
        good, consumed, deadline = [], 0, time.monotonic() + 60
        while consumed < 3 and time.monotonic() < deadline:
            batch, info = stage.poll()
            consumed += info.consumed
            good.extend(record.id for record in batch.records)
    finally:
        stage.close()
    assert good == ["fixed"]
    assert dead_letter_stats(kafka_config).by_reason == {"json": 4, "unknown_field": 1, "features": 1}

    later = replay_dead_letters(kafka_config, since=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    assert later.total == 0 and later.not_selected == 6


# -- the commands -----------------------------------------------------------------------------------


@pytest.fixture
def ops_app():
    app = typer.Typer()
    cli_ops.register(app)
    return app


def job_env(config) -> dict[str, str]:
    env = {"TAGSTREAM_KAFKA__GROUP_ID": config.group_id, "TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": config.bootstrap_servers}
    for name, topic in config.topics.model_dump().items():
        env[f"TAGSTREAM_KAFKA__TOPICS__{name.upper()}"] = topic
    return env


def test_offsets_and_deadletters_commands(ops_app, kafka_config, monkeypatch):
    for name, value in job_env(kafka_config).items():
        monkeypatch.setenv(name, value)
    dead_letter_bad_records(kafka_config)
    runner = CliRunner()
    shown = runner.invoke(ops_app, ["offsets", "show"])
    assert shown.exit_code == 0, shown.output
    assert kafka_config.topics.records in shown.output and kafka_config.topics.labels in shown.output

    reset = runner.invoke(ops_app, ["offsets", "reset", "--to", "earliest", "--topic", "records"])
    assert reset.exit_code == 0, reset.output
    skipped = runner.invoke(ops_app, ["offsets", "skip", "--partition", "0", "-n", "2"])
    assert skipped.exit_code == 0 and " 2" in skipped.output.splitlines()[-2]

    bad_time = runner.invoke(ops_app, ["offsets", "reset", "--to", "soon"])
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output

    stats = runner.invoke(ops_app, ["deadletters", "stats"])
    assert stats.exit_code == 0 and "3 dead letters" in stats.output and "unknown_field" in stats.output
    replay = runner.invoke(ops_app, ["deadletters", "replay", "--reason", "unknown_field", "--dry-run"])
    assert replay.exit_code == 0 and "would replay 1 dead letters (unknown_field 1)" in replay.output


def test_commands_without_a_broker_say_so(ops_app, monkeypatch):
    monkeypatch.delenv("TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    result = CliRunner().invoke(ops_app, ["offsets", "show"])
    assert result.exit_code == 2 and "no Kafka given" in result.output
