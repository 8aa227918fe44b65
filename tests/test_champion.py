"""Champion/challenger selection: margin, minimum window, no flapping, losses."""

from __future__ import annotations

import json

import pytest

from jobs.champion import ChampionSelector

from helpers import read_topic


def test_a_better_challenger_takes_over_only_after_the_minimum_window():
    selector = ChampionSelector(["a", "b"], metric="micro_f1", margin=0.05, min_window=100)
    windows = {"a": {"micro_f1": 0.4}, "b": {"micro_f1": 0.6}}
    assert selector.observe(windows, scored=99) is None
    switch = selector.observe(windows, scored=1)
    assert switch["from"] == "a" and switch["to"] == "b" and switch["scored"] == 100
    assert selector.serving == "b" and selector.switches == 1


def test_a_challenger_within_the_margin_does_not_switch():
    selector = ChampionSelector(["a", "b"], metric="micro_f1", margin=0.05, min_window=10)
    assert selector.observe({"a": {"micro_f1": 0.50}, "b": {"micro_f1": 0.54}}, scored=1000) is None
    assert selector.serving == "a"


def test_no_flapping_right_after_a_switch():
    selector = ChampionSelector(["a", "b"], metric="micro_f1", margin=0.01, min_window=50)
    assert selector.observe({"a": {"micro_f1": 0.1}, "b": {"micro_f1": 0.9}}, scored=50) is not None
    # a is better again at once: the new champion keeps serving until min_window records were scored
    assert selector.observe({"a": {"micro_f1": 0.9}, "b": {"micro_f1": 0.1}}, scored=49) is None
    assert selector.observe({"a": {"micro_f1": 0.9}, "b": {"micro_f1": 0.1}}, scored=1)["to"] == "a"


def test_a_loss_is_minimised():
    selector = ChampionSelector(["a", "b"], metric="hamming_loss", margin=0.01, min_window=1)
    switch = selector.observe({"a": {"hamming_loss": 0.3}, "b": {"hamming_loss": 0.1}}, scored=1)
    assert switch["to"] == "b" and switch["to_score"] == pytest.approx(0.1)


def test_a_single_learner_never_switches_and_unknown_metrics_are_refused():
    assert ChampionSelector(["a"], min_window=1).observe({"a": {"micro_f1": 0.1}}, scored=10) is None
    with pytest.raises(ValueError, match="unknown champion metric"):
        ChampionSelector(["a", "b"], metric="accuracy")


def test_a_restored_selector_goes_on_from_the_saved_state():
    saved = ChampionSelector(["a", "b"], margin=0.05, min_window=100)
    saved.observe({"a": {"micro_f1": 0.1}, "b": {"micro_f1": 0.9}}, scored=100)
    saved.observe({"a": {"micro_f1": 0.9}, "b": {"micro_f1": 0.1}}, scored=60)
    restored = ChampionSelector(["a", "b"], margin=0.05, min_window=100)
    restored.restore(saved.state())
    assert (restored.serving, restored.switches) == ("b", 1)
    assert restored.observe({"a": {"micro_f1": 0.9}, "b": {"micro_f1": 0.1}}, scored=40)["scored"] == 100
    with pytest.raises(ValueError, match="chose among"):
        ChampionSelector(["a", "c"]).restore(saved.state())


# -- end to end: a faster-adapting challenger takes over after a drift -----------------------------

DRIFT_AT = 2000


@pytest.fixture
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _model_events(config) -> list[dict]:
    return [json.loads(message.value) for message in read_topic(config, config.topics.model_events)]


@pytest.mark.integration
@pytest.mark.slow
def test_an_adaptive_challenger_takes_over_after_the_drift_once(ray_local, kafka_config):
    from jobs.config import JobConfig
    from jobs.pipeline.driver import run_pipeline
    from jobs.produce import produce
    from stream.kafka import ensure_topics
    from stream.records import Record
    from stream.synthetic import DriftingMultiLabelStream

    stream = DriftingMultiLabelStream(
        n_instances=2 * DRIFT_AT, n_features=8, n_labels=6, drift_points=[DRIFT_AT], seed=3, drift_kinds="features"
    )
    records = [Record(f"s-{i}", features=x, labels=tuple(l for l, on in y.items() if on)) for i, (x, y) in enumerate(stream)]
    ensure_topics(kafka_config, partitions=1)
    produce(kafka_config, records)
    config = JobConfig(
        kafka=kafka_config,
        learners=["br-ht", "br-hat"],  # a Hoeffding tree never forgets; the adaptive one replaces drifted branches
        batch_size=100,
        window=500,
        champion_margin=0.03,
        champion_min_window=500,
        idle_timeout_s=5.0,
    )
    summary = run_pipeline(config, expected=len(records))
    assert summary.serving == "br-hat"
    (switch,) = summary.champion_switches
    assert (switch["from"], switch["to"]) == ("br-ht", "br-hat")
    assert summary.drift_events["br-hat"]["global/champion_switch"] == 1  # also what the live page shows
    switches = [event for event in _model_events(kafka_config) if event["kind"] == "champion_switch"]
    assert len(switches) == 1
    assert switches[0]["level"] == "global" and switches[0]["learner"] == "br-hat"
    assert switches[0]["instance"] > DRIFT_AT
    assert switches[0]["detail"]["to_score"] - switches[0]["detail"]["from_score"] > 0.03


def test_a_floor_learner_is_never_promoted_by_default():
    windows = {"mlhat": {"micro_f1": 0.1}, "majority": {"micro_f1": 0.4}}
    selector = ChampionSelector(["mlhat", "majority"], margin=0.01, min_window=1)
    assert selector.observe(windows, scored=100) is None
    assert selector.serving == "mlhat"


def test_a_floor_learner_is_promoted_when_asked():
    windows = {"mlhat": {"micro_f1": 0.1}, "majority": {"micro_f1": 0.4}}
    selector = ChampionSelector(["mlhat", "majority"], margin=0.01, min_window=1, promote_floors=True)
    assert selector.observe(windows, scored=100)["to"] == "majority"


def test_a_floor_that_serves_first_gives_way_to_a_better_learner():
    windows = {"majority": {"micro_f1": 0.3}, "logistic": {"micro_f1": 0.5}}
    selector = ChampionSelector(["majority", "logistic"], margin=0.01, min_window=1)
    assert selector.observe(windows, scored=100)["to"] == "logistic"
