"""Late labels end to end: joined by id from the labels topic, scored with the earlier prediction, counted."""

from __future__ import annotations

import dataclasses
import itertools
import time

import pytest

from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.consumer import ConsumerStage
from jobs.stages.labels import LabelUniverse
from learners import registry
from learners.evaluate import Prequential
from stream.kafka import RecordSink, ensure_topics
from stream.records import LabelUpdate

LEARNER = "mlhat"
RECORDS = 1500



def run(kafka_config, **overrides):
    defaults = {"kafka": kafka_config, "learners": [LEARNER], "seed": 2, "batch_size": 100, "idle_timeout_s": 4.0}
    config = JobConfig(**(defaults | overrides))
    return run_pipeline(config)


@pytest.mark.integration
def test_the_consumer_hands_out_records_no_further_ahead_of_their_labels_than_the_delay(kafka_config):
    # Both topics hold their whole backlog before the consumer starts, so the client fetches all
    # records before any label: the consumer must hold them back, not run the whole delay ahead.
    ensure_topics(kafka_config, partitions=1)
    batch_size = 100
    produce(kafka_config, list(itertools.islice(dataset_records("yeast"), RECORDS)), label_delay=50)
    stage = ConsumerStage(kafka_config, batch_size=batch_size, poll_timeout_s=0.05, labels=True)
    records = labels = 0
    lead = []
    deadline = time.monotonic() + 60
    try:
        while (records < RECORDS or labels < RECORDS) and time.monotonic() < deadline:
            batch, _ = stage.poll()
            labels += len(batch.updates)
            records += len(batch.records)
            lead.append(records - labels)
    finally:
        stage.close()
    assert records == labels == RECORDS
    assert max(lead) <= 50 + batch_size


@pytest.mark.integration
@pytest.mark.slow
def test_labels_fifty_records_late_score_close_to_no_delay(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("yeast"), RECORDS))
    produced = produce(kafka_config, records, label_delay=50)
    assert produced.label_updates == RECORDS
    summary = run(kafka_config)
    universe = LabelUniverse()
    no_delay = Prequential({LEARNER: registry.make(LEARNER, 2)}, report_every=None).run(
        [(record.features, universe.target(record.labels)) for record in records]
    )[LEARNER]
    result = summary.learners[LEARNER]
    assert summary.predictions_out == RECORDS
    assert result["learned"] == result["scored"] == RECORDS
    assert summary.label_join["joined"] == RECORDS
    assert summary.label_join["expired_labels"] == summary.label_join["unmatched_labels"] == 0
    assert result["cumulative"]["micro_f1"] == pytest.approx(no_delay.cumulative["micro_f1"], abs=0.03)


@pytest.mark.integration
def test_withheld_and_unknown_labels_are_counted_exactly(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("yeast"), 300))
    withheld = {f"yeast-{i}" for i in range(10, 300, 37)}
    sent = [dataclasses.replace(r, labels=None) if r.id in withheld else r for r in records]
    produce(kafka_config, sent, label_delay=20)
    with RecordSink(kafka_config) as sink:
        for i in range(7):
            sink.send(kafka_config.topics.labels, LabelUpdate(f"nobody-{i}", ("a",)).to_json(), key=f"nobody-{i}")
        sink.flush()
    summary = run(kafka_config, join_max_records=1000)
    join = summary.label_join
    assert join["joined"] == 300 - len(withheld)
    assert join["expired_records"] + join["waiting_records"] == len(withheld)
    assert join["unmatched_labels"] + join["waiting_labels"] + join["expired_labels"] == 7
    assert summary.learners[LEARNER]["learned"] == 300 - len(withheld)
