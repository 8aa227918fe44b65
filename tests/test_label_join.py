"""The late-label join: by id, bounded by count and stream time, every unjoined item counted."""

from __future__ import annotations

import pytest

from jobs.label_join import LabelJoin


def test_labels_join_waiting_records_and_records_join_early_labels():
    join = LabelJoin(max_records=10, max_age_s=100.0)
    assert join.add_record("r1", "p1", ts=0.0) is None
    assert join.add_label("r1", ("a",), ts=1.0) == "p1"
    assert join.add_label("r2", ("b",), ts=2.0) is None
    assert join.add_record("r2", "p2", ts=3.0) == ("b",)
    assert join.counts() == {
        "joined": 2, "expired_records": 0, "expired_labels": 0, "unmatched_labels": 0, "corrections": 0,
        "waiting_records": 0, "waiting_labels": 0,
    }


def test_the_count_bound_expires_the_oldest_and_late_labels_are_counted_as_expired():
    join = LabelJoin(max_records=2, max_age_s=100.0)
    for i in range(3):
        join.add_record(f"r{i}", i, ts=float(i))
    assert join.add_label("r0", ("a",), ts=4.0) is None  # r0 left the buffer: its label came too late
    assert join.add_label("r2", ("a",), ts=5.0) == 2
    counts = join.counts()
    assert (counts["expired_records"], counts["expired_labels"], counts["waiting_records"]) == (1, 1, 1)


def test_the_age_bound_uses_stream_time():
    join = LabelJoin(max_records=100, max_age_s=10.0)
    join.add_record("old", 0, ts=0.0)
    join.add_label("orphan", ("a",), ts=0.0)
    join.add_record("new", 1, ts=11.0)  # both older items are now past max_age_s
    counts = join.counts()
    assert (counts["expired_records"], counts["unmatched_labels"], counts["waiting_records"]) == (1, 1, 1)
    assert join.add_label("old", ("a",), ts=12.0) is None
    assert join.counts()["expired_labels"] == 1


def test_withheld_and_unknown_labels_are_counted_exactly():
    join = LabelJoin(max_records=5, max_age_s=1e9)
    withheld = {3, 7, 11}
    for i in range(20):
        join.add_record(f"r{i}", i, ts=float(i))
        if i >= 2 and i - 2 not in withheld:
            assert join.add_label(f"r{i - 2}", ("a",), ts=float(i)) == i - 2
    for i in range(4):
        join.add_label(f"unknown-{i}", ("a",), ts=20.0)
    counts = join.counts()
    assert counts["joined"] == 18 - len(withheld)
    assert counts["expired_records"] + counts["waiting_records"] == len(withheld) + 2  # the last two never got labels
    assert counts["unmatched_labels"] + counts["waiting_labels"] == 4


@pytest.mark.parametrize("bounds", [{"max_records": 0, "max_age_s": 1.0}, {"max_records": 1, "max_age_s": 0.0}])
def test_bad_bounds_are_refused(bounds):
    with pytest.raises(ValueError):
        LabelJoin(**bounds)


def test_join_outcomes_are_exported_as_counters_and_the_buffers_as_gauges():
    from jobs.telemetry import PipelineMetrics

    metrics = PipelineMetrics(window=10)
    metrics.observe_label_join({"joined": 5, "unmatched_labels": 2, "waiting_records": 3})
    metrics.observe_label_join({"joined": 5, "unmatched_labels": 2, "waiting_records": 3})  # a second actor's report
    metrics.observe_label_join({"joined": 7, "unmatched_labels": 2, "waiting_records": 1})
    assert metrics.value("tagstream_label_join_total", outcome="joined") == 7
    assert metrics.value("tagstream_label_join_total", outcome="unmatched_labels") == 2
    assert metrics.value("tagstream_label_join_waiting", side="records") == 1
    metrics.observe_label_join({"joined": 4})  # an actor restored from a checkpoint counts from there
    metrics.observe_label_join({"joined": 6})
    assert metrics.value("tagstream_label_join_total", outcome="joined") == 9


def test_a_label_for_a_record_already_learned_is_a_correction():
    join = LabelJoin(max_records=2, max_age_s=100.0)
    assert join.correction("r1") is None
    join.remember("r1", "p1", ts=0.0)
    assert join.correction("r1") == "p1"
    assert join.correction("r1") == "p1"  # every further label message is another correction
    assert join.counts()["corrections"] == 2


def test_learned_records_are_remembered_within_the_same_bounds():
    join = LabelJoin(max_records=2, max_age_s=100.0)
    for i in range(3):
        join.remember(f"r{i}", f"p{i}", ts=float(i))
    assert join.correction("r0") is None  # beyond the count
    assert join.correction("r2") == "p2"
    join.remember("r3", "p3", ts=500.0)
    assert join.correction("r2") is None  # beyond the age
    assert join.counts()["corrections"] == 1
