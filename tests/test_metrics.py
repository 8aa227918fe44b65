"""Multi-label metrics: hand-computed cases, agreement with scikit-learn, revert and windows."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from learners import metrics

ALL_SCALAR = [
    metrics.ExactMatch,
    metrics.HammingLoss,
    metrics.ExamplePrecision,
    metrics.ExampleRecall,
    metrics.ExampleF1,
    metrics.ExampleJaccard,
    metrics.MicroPrecision,
    metrics.MicroRecall,
    metrics.MicroF1,
    metrics.MacroPrecision,
    metrics.MacroRecall,
    metrics.MacroF1,
]


def as_dicts(matrix, labels):
    return [{label: bool(v) for label, v in zip(labels, row)} for row in matrix]


def suite_of(pairs, window=None):
    suite = metrics.MetricSuite(window=window)
    for y_true, y_pred in pairs:
        suite.update(y_true, y_pred)
    return suite


@st.composite
def indicator_pairs(draw, max_rows=25, max_labels=6):
    # Two labels at least: scikit-learn reads a one-column indicator matrix as binary targets.
    n = draw(st.integers(1, max_rows))
    n_labels = draw(st.integers(2, max_labels))
    cells = st.lists(st.lists(st.booleans(), min_size=n_labels, max_size=n_labels), min_size=n, max_size=n)
    return np.array(draw(cells), dtype=int), np.array(draw(cells), dtype=int)


# Hand-computed cases.

TRUE = [{"a": True, "b": False, "c": True}, {"a": False, "b": False, "c": False}, {"a": True, "b": True, "c": False}]
PRED = [{"a": True, "b": True, "c": False}, {"a": False, "b": False, "c": False}, {"a": True, "b": True, "c": False}]
# Instance 1: T={a,c}, P={a,b}: tp 1, fp 1, fn 1. Instance 2: both empty. Instance 3: exact.


def test_hand_computed_example_based():
    scores = suite_of(zip(TRUE, PRED)).get()
    assert scores["subset_accuracy"] == pytest.approx(2 / 3)
    assert scores["hamming_loss"] == pytest.approx(2 / 9)
    assert scores["example_precision"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert scores["example_recall"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert scores["example_f1"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert scores["example_jaccard"] == pytest.approx((1 / 3 + 1 + 1) / 3)


def test_hand_computed_label_based():
    suite = suite_of(zip(TRUE, PRED))
    scores = suite.get()
    # Pooled: tp = 1 + 2 = 3, fp = 1, fn = 1.
    assert scores["micro_precision"] == pytest.approx(3 / 4)
    assert scores["micro_recall"] == pytest.approx(3 / 4)
    assert scores["micro_f1"] == pytest.approx(6 / 8)
    # a: tp 2 -> 1.0; b: tp 1, fp 1 -> P 1/2, R 1, F1 2/3; c: fn 1 -> 0.
    assert suite.per_label_f1() == pytest.approx({"a": 1.0, "b": 2 / 3, "c": 0.0})
    assert scores["macro_precision"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert scores["macro_recall"] == pytest.approx((1 + 1 + 0) / 3)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_empty_truth_and_prediction_is_a_perfect_instance():
    suite = suite_of([({"a": False}, {"a": False})])
    scores = suite.get()
    for name in ("subset_accuracy", "example_precision", "example_recall", "example_f1", "example_jaccard"):
        assert scores[name] == 1.0, name
    assert scores["hamming_loss"] == 0.0
    # Label-based: nothing to find and nothing predicted is 0/0, counted as 0 (zero_division=0).
    assert scores["micro_f1"] == 0.0
    assert scores["macro_f1"] == 0.0


def test_one_sided_empty_sets_score_zero():
    scores = suite_of([({"a": True}, {}), ({"a": False}, {"a": True})]).get()
    assert scores["example_precision"] == 0.0
    assert scores["example_recall"] == 0.0
    assert scores["example_f1"] == 0.0
    assert scores["example_jaccard"] == 0.0


def test_missing_labels_count_as_false():
    explicit = suite_of([({"a": True, "b": False}, {"a": False, "b": True})]).get()
    implicit = suite_of([({"a": True}, {"b": True})]).get()
    assert implicit == explicit


def test_label_appearing_mid_stream_counts_as_correctly_absent_before():
    suite = suite_of([({"a": True}, {"a": True}), ({"a": True, "b": True}, {"a": True})])
    # Universe {a, b} at get(): 1 error over 2 instances x 2 labels.
    assert suite.get()["hamming_loss"] == pytest.approx(1 / 4)
    assert metrics.MultiLabelConfusion().labels == []


def test_every_score_of_an_empty_metric_is_zero():
    assert all(value == 0.0 for value in metrics.MetricSuite().get().values())
    assert metrics.PerLabelF1().get() == {}


def test_non_dict_target_is_a_clear_error():
    with pytest.raises(TypeError, match="y_pred must be a dict"):
        metrics.ExactMatch().update({"a": True}, ["a"])
    with pytest.raises(TypeError, match="y_true must be a dict"):
        metrics.ExactMatch().update(None, {"a": True})


def test_bigger_is_better_and_repr():
    assert metrics.HammingLoss.bigger_is_better is False
    assert all(cls.bigger_is_better for cls in ALL_SCALAR if cls is not metrics.HammingLoss)
    assert metrics.SCORES["hamming_loss"] is False
    metric = metrics.MacroF1(window=10)
    metric.update({"a": True}, {"a": True})
    assert repr(metric) == "MacroF1(window=10): 1.000000"
    per_label = metrics.PerLabelF1()
    per_label.update({"a": True, "b": True}, {"a": True})
    assert repr(per_label) == "PerLabelF1: {a: 1.000000, b: 0.000000}"


def test_single_metrics_agree_with_the_suite():
    suite = suite_of(zip(TRUE, PRED))
    names = list(metrics.SCORES)
    for cls, name in zip(ALL_SCALAR, names):
        metric = cls()
        for y_true, y_pred in zip(TRUE, PRED):
            metric.update(y_true, y_pred)
        assert metric.get() == pytest.approx(suite.get()[name]), name
        assert metric.n == 3


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window must be a positive"):
        metrics.MetricSuite(window=0)


def test_revert_is_not_defined_for_windowed_metrics():
    metric = metrics.ExactMatch(window=5)
    metric.update({"a": True}, {"a": True})
    with pytest.raises(NotImplementedError):
        metric.revert({"a": True}, {"a": True})


def test_suite_without_window_has_no_windowed_scores():
    suite = suite_of(zip(TRUE, PRED), window=None)
    assert suite.get_window() == {}
    assert suite.n == 3


# Agreement with scikit-learn on random indicator matrices.


@settings(max_examples=150, deadline=None)
@given(indicator_pairs())
def test_agrees_with_sklearn(pair):
    y, p = pair
    labels = [f"l{j}" for j in range(y.shape[1])]
    suite = suite_of(zip(as_dicts(y, labels), as_dicts(p, labels)))
    scores = suite.get()
    assert scores["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert scores["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
    assert scores["example_f1"] == pytest.approx(skm.f1_score(y, p, average="samples", zero_division=1))
    assert scores["example_jaccard"] == pytest.approx(skm.jaccard_score(y, p, average="samples", zero_division=1))
    for average in ("micro", "macro"):
        assert scores[f"{average}_f1"] == pytest.approx(skm.f1_score(y, p, average=average, zero_division=0))
        assert scores[f"{average}_precision"] == pytest.approx(skm.precision_score(y, p, average=average, zero_division=0))
        assert scores[f"{average}_recall"] == pytest.approx(skm.recall_score(y, p, average=average, zero_division=0))
    per_label = skm.f1_score(y, p, average=None, zero_division=0)
    assert list(suite.per_label_f1().values()) == pytest.approx(list(per_label))


@settings(max_examples=100, deadline=None)
@given(indicator_pairs())
def test_example_precision_and_recall_follow_the_documented_convention(pair):
    y, p = pair
    labels = [f"l{j}" for j in range(y.shape[1])]
    scores = suite_of(zip(as_dicts(y, labels), as_dicts(p, labels))).get()
    tp = (y & p).sum(axis=1)
    n_true, n_pred = y.sum(axis=1), p.sum(axis=1)
    both_empty = (n_true == 0) & (n_pred == 0)
    precision = np.where(both_empty, 1.0, np.divide(tp, n_pred, out=np.zeros(len(y)), where=n_pred > 0))
    recall = np.where(both_empty, 1.0, np.divide(tp, n_true, out=np.zeros(len(y)), where=n_true > 0))
    assert scores["example_precision"] == pytest.approx(precision.mean())
    assert scores["example_recall"] == pytest.approx(recall.mean())


@settings(max_examples=100, deadline=None)
@given(indicator_pairs(), st.randoms(use_true_random=False))
def test_universe_is_the_union_of_keys_seen(pair, rng):
    """Dropping False entries from the dicts changes nothing as long as each label is mentioned once."""
    y, p = pair
    labels = [f"l{j}" for j in range(y.shape[1])]
    sparse_true = [{k: v for k, v in d.items() if v or rng.random() < 0.3} for d in as_dicts(y, labels)]
    sparse_pred = [{k: v for k, v in d.items() if v or rng.random() < 0.3} for d in as_dicts(p, labels)]
    sparse_true[0].update({label: bool(v) for label, v in zip(labels, y[0])})
    scores = suite_of(zip(sparse_true, sparse_pred)).get()
    assert scores["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
    assert scores["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))


# Revert, windows, ranges.


@settings(max_examples=100, deadline=None)
@given(indicator_pairs(), indicator_pairs(max_rows=3, max_labels=8))
def test_update_then_revert_changes_nothing(history, extra):
    y, p = history
    labels = [f"l{j}" for j in range(y.shape[1])]
    # The extra instances may mention labels the history never saw.
    extra_labels = [f"l{j}" for j in range(extra[0].shape[1])]
    for cls in ALL_SCALAR + [metrics.PerLabelF1]:
        metric = cls()
        for y_true, y_pred in zip(as_dicts(y, labels), as_dicts(p, labels)):
            metric.update(y_true, y_pred)
        before = metric.get()
        pairs = list(zip(as_dicts(extra[0], extra_labels), as_dicts(extra[1], extra_labels)))
        for y_true, y_pred in pairs:
            metric.update(y_true, y_pred)
        for y_true, y_pred in reversed(pairs):
            metric.revert(y_true, y_pred)
        assert metric.get() == pytest.approx(before), cls.__name__


def test_revert_everything_returns_to_empty():
    metric = metrics.HammingLoss()
    for y_true, y_pred in zip(TRUE, PRED):
        metric.update(y_true, y_pred)
    for y_true, y_pred in zip(TRUE, PRED):
        metric.revert(y_true, y_pred)
    assert metric.get() == 0.0
    assert metric._confusion.labels == []


@settings(max_examples=100, deadline=None)
@given(indicator_pairs(max_rows=40), st.integers(1, 10))
def test_window_equals_cumulative_over_the_last_instances(pair, window):
    y, p = pair
    labels = [f"l{j}" for j in range(y.shape[1])]
    pairs = list(zip(as_dicts(y, labels), as_dicts(p, labels)))
    windowed = suite_of(pairs, window=window).get_window()
    recent = suite_of(pairs[-window:], window=None).get()
    macro = ("macro_precision", "macro_recall", "macro_f1")
    assert {k: v for k, v in windowed.items() if k not in macro} == pytest.approx({k: v for k, v in recent.items() if k not in macro})
    # Macro scores over the labels present in the window: on in the truth or the prediction.
    y_recent, p_recent = y[-window:], p[-window:]
    present = [j for j in range(y.shape[1]) if y_recent[:, j].any() or p_recent[:, j].any()]
    for name, score in (("macro_precision", skm.precision_score), ("macro_recall", skm.recall_score), ("macro_f1", skm.f1_score)):
        expected = score(y_recent, p_recent, labels=present, average="macro", zero_division=0) if present else 0.0
        assert windowed[name] == pytest.approx(expected), name


def test_windowed_macro_f1_skips_labels_absent_from_the_window():
    # "c" is on early, then dormant: correctly predicted off, it leaves the windowed macro-F1 alone.
    early = [({"a": True, "b": False, "c": True}, {"a": True, "b": False, "c": True})] * 3
    late = [({"a": True, "b": True, "c": False}, {"a": True, "b": False, "c": False})] * 4
    suite = suite_of(early + late, window=4)
    assert suite.get_window()["macro_f1"] == pytest.approx((1.0 + 0.0) / 2)  # a: 1, b: missed, c: absent
    assert suite.get()["macro_f1"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)  # cumulative: every label of the universe
    # A label predicted while never on is present (false positives): it still counts with its 0.
    noisy = suite_of(early + [({"a": True, "c": False}, {"a": True, "c": True})] * 4, window=4)
    assert noisy.get_window()["macro_f1"] == pytest.approx((1.0 + 0.0) / 2)
    # Nothing on and nothing predicted in the window: no label is present, the macro scores are 0.
    quiet = suite_of(early + [({"a": False, "c": False}, {"a": False, "c": False})] * 4, window=4)
    assert quiet.get_window()["macro_f1"] == 0.0
    assert quiet.get_window()["subset_accuracy"] == 1.0
    windowed_metric = metrics.MacroF1(window=4)
    for y_true, y_pred in early + late:
        windowed_metric.update(y_true, y_pred)
    assert windowed_metric.get() == suite.get_window()["macro_f1"]


@settings(max_examples=100, deadline=None)
@given(indicator_pairs(max_rows=40), st.integers(1, 10))
def test_scores_stay_in_range(pair, window):
    y, p = pair
    labels = [f"l{j}" for j in range(y.shape[1])]
    suite = suite_of(zip(as_dicts(y, labels), as_dicts(p, labels)), window=window)
    for scores in (suite.get(), suite.get_window()):
        for name, value in scores.items():
            assert 0.0 <= value <= 1.0 + 1e-12, name
            assert not math.isnan(value)
    assert all(0.0 <= f1 <= 1.0 for f1 in suite.per_label_f1().values())


# The batch form: a micro-batch at once gives exactly the numbers of one instance at a time.


@st.composite
def ragged_stream(draw, max_rows=40):
    """Instances whose truths and predictions name different labels (some appear mid-stream, a
    prediction may leave labels out), some partially judged, cut into micro-batches."""
    from learners.base import LabelMask

    universe = [f"l{j}" for j in range(draw(st.integers(1, 7)))]
    n = draw(st.integers(1, max_rows))
    rows = []
    for _ in range(n):
        named = draw(st.lists(st.sampled_from(universe), min_size=1, unique=True))
        y_true = {label: draw(st.booleans()) for label in named}
        y_pred = {label: draw(st.booleans()) for label in draw(st.lists(st.sampled_from(universe), unique=True))}
        unknown = draw(st.lists(st.sampled_from(named), unique=True, max_size=2))
        rows.append((y_true, y_pred, LabelMask(unknown=frozenset(unknown)) if unknown else None))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    return rows, [0, *cuts, n]


@settings(max_examples=150, deadline=None)
@given(ragged_stream(), st.sampled_from([None, 1, 3, 10]))
def test_a_micro_batch_at_once_scores_exactly_as_one_by_one(stream, window):
    rows, cuts = stream
    one = metrics.MetricSuite(window=window)
    for y_true, y_pred, mask in rows:
        one.update(y_true, y_pred, mask)
    batched = metrics.MetricSuite(window=window)
    for start, end in zip(cuts, cuts[1:]):
        part = rows[start:end]
        batched.update_many([r[0] for r in part], [r[1] for r in part], [r[2] for r in part])
    assert batched.n == one.n
    assert batched.get() == one.get()  # equal floats, not approximately
    assert batched.get_window() == one.get_window()
    assert batched.per_label_f1() == one.per_label_f1()
    assert batched._cumulative.labels == one._cumulative.labels


def test_update_many_refuses_lists_of_different_lengths():
    with pytest.raises(ValueError, match="2 truths, 1 predictions"):
        metrics.MetricSuite().update_many([{"a": True}, {"a": False}], [{"a": True}])
