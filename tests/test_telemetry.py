"""The pipeline's metrics follow Prometheus' conventions: ``promtool check metrics`` finds nothing to say."""

from __future__ import annotations

import pathlib
import subprocess

import prometheus_client
import pytest

from jobs.telemetry import STAGES, PipelineMetrics
from tests.helpers import require_binaries

PROMTOOL = pathlib.Path("/usr/bin/promtool")


def observed_everything() -> PipelineMetrics:
    metrics = PipelineMetrics(window=100)
    metrics.observe_consumed(3, {"json": 1})
    metrics.observe_lag({0: 5})
    metrics.observe_batch(3, 1)
    metrics.observe_published(3, [0.01, 0.2])
    metrics.observe_commit()
    window = {"subset_accuracy": 0.5, "example_f1": 0.5, "hamming_loss": 0.1}
    for learner in ("mlhat", "br-ht"):
        metrics.observe_learner(learner, {"window": window, "events": {("global", "drift"): 1}, "label_clusters": 3, "model_bytes": 10})
    metrics.observe_label_join({"joined": 2, "expired_records": 1, "corrections": 0, "waiting_records": 4, "waiting_labels": 0})
    metrics.observe_serving("mlhat")
    for stage in STAGES:
        metrics.observe_stage(stage, 0.02)
    metrics.observe_checkpoint(0.4)
    return metrics


def test_promtool_finds_nothing_to_say_about_the_exposition(tmp_path):
    require_binaries(PROMTOOL)
    text = prometheus_client.generate_latest(observed_everything().registry)
    result = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stdout + result.stderr


def test_monotonic_counts_are_counters_and_durations_histograms():
    metrics = observed_everything()
    kinds = {family.name: family.type for family in metrics.registry.collect()}
    for counter in ("tagstream_records_in", "tagstream_predictions_out", "tagstream_dead_letters", "tagstream_drift_events", "tagstream_label_join"):
        assert kinds[counter] == "counter"
    for histogram in ("tagstream_end_to_end_latency_seconds", "tagstream_stage_duration_seconds", "tagstream_checkpoint_duration_seconds"):
        assert kinds[histogram] == "histogram"
    assert kinds["tagstream_label_join_waiting"] == kinds["tagstream_serving_learner"] == "gauge"
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="learn") == 1
    assert metrics.value("tagstream_checkpoint_duration_seconds_sum") == pytest.approx(0.4)
    assert metrics.value("process_resident_memory_bytes") > 0
    assert metrics.value("process_cpu_seconds_total") >= 0


def test_the_serving_gauge_follows_the_champion():
    metrics = observed_everything()
    assert metrics.value("tagstream_serving_learner", learner="mlhat") == 1
    assert metrics.value("tagstream_serving_learner", learner="br-ht") == 0
    metrics.observe_serving("br-ht")
    assert metrics.value("tagstream_serving_learner", learner="mlhat") == 0
    assert metrics.value("tagstream_serving_learner", learner="br-ht") == 1


def test_stages_are_a_fixed_set_and_a_skipped_stage_is_not_observed():
    metrics = PipelineMetrics(window=10)
    metrics.observe_stage("extract", None)
    assert metrics.value("tagstream_stage_duration_seconds_count", stage="extract") is None
    with pytest.raises(ValueError, match="unknown stage 'parse'"):
        metrics.observe_stage("parse", 0.1)


def test_the_extractor_and_the_learner_stage_time_their_batch():
    from jobs.config import ExtractorConfig
    from jobs.stages.extractor import FeatureStage
    from jobs.stages.learner import LearnerStage
    from jobs.stages.messages import JOIN_STATS, STAGE_TIMES, Batch
    from stream.records import Record

    batch = Batch([Record(id="r1", features={"a": 1.0}, labels=("x",)), Record(id="r2", features={"a": 3.0})], [0.0, 0.0], 0.0)
    assert batch.extract_s is None
    extracted = FeatureStage(ExtractorConfig(standardize=True)).transform(batch)
    assert extracted.extract_s > 0
    _, stats = LearnerStage(["majority"], seed=1, window=10, model_size_every=1).process(extracted)
    times = stats.pop(STAGE_TIMES)
    assert times["extract"] == extracted.extract_s and times["learn"] > 0
    assert set(stats) == {"majority", JOIN_STATS}  # the rest: the learner stats and the join counts


def test_checkpoint_age_counts_from_the_start_until_the_first_commit():
    import time

    before = time.time()
    metrics = PipelineMetrics(window=10)
    assert before <= metrics.value("tagstream_last_commit_timestamp_seconds") <= time.time()
