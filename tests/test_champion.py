"""Champion/challenger selection: margin, minimum window, no flapping, losses."""

from __future__ import annotations

import pytest

from jobs.champion import ChampionSelector


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
