"""The stream orders and ranks shared by the whole-stream benchmarks (benchmarks/whole_stream.py)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "benchmarks"))

import whole_stream  # noqa: E402


def test_a_sticky_dataset_also_runs_in_every_shuffle():
    assert whole_stream.stream_names("flags", 0.05) == ["flags"]
    names = whole_stream.stream_names("scene", 0.875)
    assert names == ["scene", *(f"scene@shuffle{seed}" for seed in whole_stream.SHUFFLE_SEEDS)]
    assert [whole_stream.parse_order(name) for name in names] == [("scene", None), *(("scene", s) for s in whole_stream.SHUFFLE_SEEDS)]


def test_stream_groups_put_the_shuffles_of_a_sticky_dataset_right_after_its_file_order():
    document = {"datasets": {"scene": {"no_change_subset_accuracy": 0.875}, "flags": {"no_change_subset_accuracy": 0.05}}}
    groups = whole_stream.stream_groups(document, ["scene", "flags", "yeast"])
    shuffles = [f"scene@shuffle{seed}" for seed in whole_stream.SHUFFLE_SEEDS]
    # yeast has no entry yet: it shows in file order only until its no-change score is known.
    assert groups == [("scene", ["scene"]), ("scene shuffled", shuffles), ("flags", ["flags"]), ("yeast", ["yeast"])]


def test_open_stream_shuffles_the_dataset_with_its_seed():
    dataset, in_order = whole_stream.open_stream("flags")
    _, mixed = whole_stream.open_stream("flags@shuffle2")
    _, again = whole_stream.open_stream("flags@shuffle2")
    in_order, mixed, again = list(in_order), list(mixed), list(again)
    assert len(mixed) == len(in_order) == dataset.n_instances
    assert mixed == again and mixed != in_order
    key = lambda item: sorted(item[0].items())  # noqa: E731
    assert sorted(mixed, key=key) == sorted(in_order, key=key)


def test_no_change_on_flags_is_low_and_the_file_is_not_sticky():
    score = whole_stream.no_change_subset_accuracy("flags")
    assert 0.0 < score < whole_stream.STICKY


def test_shuffle_mean_needs_every_shuffle():
    runs = [{"micro_f1": v, "timed_out": False} for v in (0.1, 0.2, 0.6)]
    assert whole_stream.shuffle_mean(runs, "micro_f1") == (pytest.approx(0.3), False)
    assert whole_stream.shuffle_mean(runs[:2] + [None], "micro_f1") is None
    assert whole_stream.shuffle_mean(runs[:2] + [{"error": "boom"}], "micro_f1") is None
    assert whole_stream.shuffle_mean(runs[:2] + [{"micro_f1": 0.3, "timed_out": True}], "micro_f1")[1] is True


def test_average_ranks_share_ties_and_skip_incomplete_columns():
    table = {"a": {"x": 0.9, "y": 0.5, "z": 0.1}, "b": {"x": 0.8, "y": 0.5}, "c": {"x": 0.1, "y": 0.9}}
    ranks = whole_stream.average_ranks(table, True, ["a", "b", "c"], ["x", "y", "z"])
    assert ranks == {"a": (1 + 2.5) / 2, "b": (2 + 2.5) / 2, "c": (3 + 1) / 2}
    assert whole_stream.average_ranks(table, False, ["a", "b"], ["x"]) == {"a": 2.0, "b": 1.0}
    assert whole_stream.average_ranks(table, True, ["a", "b"], ["z"]) == {}
