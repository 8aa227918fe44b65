"""Partial label feedback and corrections in the learner stage, in process and through the pipeline.

In process, :class:`jobs.stages.learner.LearnerStage` is fed hand-made batches: records whose late labels
say which labels were not judged (``unknown``) or which were (``known``), and second label
messages for records already learned (corrections). Through the pipeline, the records go to the
real embedded broker without labels and their partial labels follow on the labels topic.
"""

from __future__ import annotations

import itertools
import random

import pytest

from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from learners.base import LabelMask
from learners.evaluate import Prequential
from learners.registry import make
from stream.kafka import RecordSink, ensure_topics
from stream.records import LabelUpdate, Record

OFFSETS = itertools.count()  # positions on the labels topic: a stage skips a position it has taken in


def _stage(learners=("no-change",), **kwargs) -> LearnerStage:
    return LearnerStage(list(learners), seed=1, window=50, model_size_every=10**6, **kwargs)


def _record(record_id: str, x: float, labels=None, **judged) -> Record:
    return Record(record_id, features={"x": x}, labels=labels, **judged)


def _updates(*updates: LabelUpdate) -> list:
    return [(update, ("tagstream.labels", 0, next(OFFSETS)), float(i)) for i, update in enumerate(updates)]


def test_a_partial_late_label_teaches_and_scores_only_the_judged_labels():
    stage = _stage()
    stage.process(Batch([_record("r0", 0.0, ("a", "c"))], [0.0], 0.0))  # a and c on, all judged
    stage.process(Batch([_record("r1", 1.0)], [1.0], 1.0))  # predicted {a, c}; its labels come late
    stage.process(Batch([], [], 2.0, updates=_updates(LabelUpdate("r1", ("a",), unknown=("c",)))))
    summary = stage.summary()["no-change"]
    assert summary["learned"] == summary["scored"] == 2
    # r1 is scored on a only (right): c, predicted on and not on in the update, was not judged.
    assert summary["cumulative"]["subset_accuracy"] == 0.5
    assert stage._models["no-change"].predict_one({}) == {"a": True, "c": True}  # c kept its last judged value


def test_a_record_may_carry_its_partial_labels_inline_and_known_names_the_judged_ones():
    stage = _stage()
    stage.process(Batch([_record("r0", 0.0, ("a", "b"))], [0.0], 0.0))
    stage.process(Batch([_record("r1", 0.0, ("z",), known=("z", "a"))], [1.0], 1.0))
    # a judged off, z on (new), b not judged: it stays on.
    assert stage._models["no-change"].predict_one({}) == {"a": False, "b": True, "z": True}
    assert stage.summary()["no-change"]["scored"] == 2


def test_a_learner_that_cannot_learn_partial_labels_is_counted_and_the_job_goes_on():
    stage = _stage(("majority", "no-change"))
    stage.process(Batch([_record("r0", 0.0, ("a",)), _record("r1", 0.0, ("a",), unknown=("b",))], [0.0, 0.0], 0.0))
    summary = stage.summary()
    assert summary["majority"]["partial_refused"] == 1 and summary["majority"]["learned"] == 1
    assert summary["no-change"]["partial_refused"] == 0 and summary["no-change"]["learned"] == 2
    assert summary["majority"]["scored"] == 2  # scoring does not depend on the learner


@pytest.mark.parametrize("learn_corrections", [True, False])
def test_a_second_label_message_is_a_correction_scored_apart_and_taught_if_configured(learn_corrections):
    stage = _stage(learn_corrections=learn_corrections)
    stage.process(Batch([_record("r0", 0.0, ("a",)), _record("r1", 0.0)], [0.0, 1.0], 1.0))  # r1 predicted {a}
    stage.process(Batch([], [], 2.0, updates=_updates(LabelUpdate("r1", ("b",)))))  # r1 learned: {b}
    before = stage.summary()["no-change"]
    stage.process(Batch([], [], 3.0, updates=_updates(LabelUpdate("r1", ("a",)))))  # no: {a} after all
    after = stage.summary()["no-change"]
    assert after["label_join"]["corrections"] == 1
    assert after["scored"] == before["scored"] == 2  # the main scores count r1 once
    assert after["cumulative"] == before["cumulative"]
    # Scored apart: the prediction made when r1 arrived ({a}) against the corrected labels ({a}).
    assert after["corrections"]["scored"] == 1
    assert after["corrections"]["cumulative"]["subset_accuracy"] == 1.0
    assert after["corrections"]["taught"] is learn_corrections
    assert after["learned"] == before["learned"] + (1 if learn_corrections else 0)
    assert stage._models["no-change"].predict_one({}) == ({"a": True, "b": False} if learn_corrections else {"a": False, "b": True})


def test_a_correction_may_be_partial_too():
    stage = _stage()
    stage.process(Batch([_record("r0", 0.0, ("a", "b"))], [0.0], 0.0))
    stage.process(Batch([], [], 1.0, updates=_updates(LabelUpdate("r0", ("a",), unknown=("b",)))))
    assert stage.summary()["no-change"]["label_join"]["corrections"] == 1
    assert stage._models["no-change"].predict_one({}) == {"a": True, "b": True}



@pytest.mark.integration
def test_late_labels_with_unknown_through_the_pipeline(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    records = list(itertools.islice(dataset_records("emotions"), 300))
    labels = sorted({label for record in records for label in record.labels})
    rng = random.Random(3)
    partial = {record.id: rng.sample(labels, 2) for record in records if rng.random() < 0.5}
    produce(kafka_config, [Record(r.id, features=r.features) for r in records])
    with RecordSink(kafka_config) as sink:
        for record in records:
            unknown = partial.get(record.id)
            on = tuple(label for label in record.labels if unknown is None or label not in unknown)
            update = LabelUpdate(record.id, on, unknown=tuple(unknown) if unknown else None)
            sink.send(kafka_config.topics.labels, update.to_json(), key=record.id)
        sink.flush()
    config = JobConfig(kafka=kafka_config, learners=["cc", "majority"], seed=2, batch_size=50, idle_timeout_s=4.0)
    summary = run_pipeline(config)

    assert summary.label_join["joined"] == len(records)
    chain, majority = summary.learners["cc"], summary.learners["majority"]
    assert chain["learned"] == chain["scored"] == len(records) and chain["partial_refused"] == 0
    assert majority["partial_refused"] == len(partial) and majority["learned"] == len(records) - len(partial)
    # The same stream in process, masked the same way, scores about the same (the pipeline
    # predicts each record before its label arrives, in micro-batches).
    in_process = Prequential({"cc": make("cc", seed=2)}, report_every=None).run(
        (r.features, {label: label in r.labels for label in labels},
         LabelMask(unknown=frozenset(partial[r.id])) if r.id in partial else None)
        for r in records
    )["cc"]
    assert chain["cumulative"]["micro_f1"] == pytest.approx(in_process.cumulative["micro_f1"], abs=0.1)
