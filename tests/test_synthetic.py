"""The synthetic drifting multi-label stream: determinism, shape, and drifts where they are said to be."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stream.synthetic import DriftingMultiLabelStream


def arrays(stream):
    rows = list(stream)
    x = np.array([[row[0][n] for n in stream.feature_names] for row in rows])
    y = np.array([[row[1][n] for n in stream.label_names] for row in rows])
    return x, y


def pair_rate(y: np.ndarray, a: int, b: int) -> float:
    """Share of rows where labels a and b are both on."""
    return float(np.mean(y[:, a] & y[:, b]))


def prototypes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares estimate of each label's prototype (x ~ y @ W)."""
    return np.linalg.lstsq(y.astype(float), x, rcond=None)[0]


def test_same_seed_same_stream_and_passes_repeat():
    make = lambda seed: DriftingMultiLabelStream(
        n_instances=300, n_features=4, n_labels=5, drift_points=[100, 200], seed=seed, drift_width=[0, 50]
    )
    stream = make(7)
    first = list(stream)
    assert first == list(stream) == list(make(7))
    assert first != list(make(8))


def test_no_seed_gives_fresh_instances_on_each_pass():
    stream = DriftingMultiLabelStream(n_instances=50, n_features=3, n_labels=3)
    assert list(stream) != list(stream)


@pytest.mark.parametrize("n_features, n_labels, n_groups", [(1, 1, 1), (3, 7, 2), (40, 25, 7), (2, 6, 6)])
def test_any_shape_yields_floats_and_bools(n_features, n_labels, n_groups):
    stream = DriftingMultiLabelStream(
        n_instances=120, n_features=n_features, n_labels=n_labels, drift_points=[60], seed=1, n_groups=n_groups
    )
    rows = list(stream)
    assert len(rows) == 120
    assert stream.label_names == [f"y{i}" for i in range(n_labels)]
    for x, y in rows:
        assert list(x) == stream.feature_names and list(y) == stream.label_names
        assert all(type(v) is float for v in x.values())
        assert all(type(v) is bool for v in y.values())
    groups = stream.groups
    assert len(groups) == n_groups and all(groups)
    assert list(itertools.chain(*groups)) == stream.label_names


def test_abrupt_label_drift_swaps_which_groups_co_occur_and_keeps_marginals():
    stream = DriftingMultiLabelStream(
        n_instances=8000, n_features=6, n_labels=6, drift_points=[4000], seed=3, n_groups=2, drift_kinds="labels"
    )
    assert stream.drift_points == (4000,)
    assert stream.correlated_groups(0) == (0,) and stream.correlated_groups(1) == (1,)
    _, y = arrays(stream)
    before, after = y[:4000], y[4000:]
    # Group 0 = y0..y2, group 1 = y3..y5. Correlated pair rate ~0.194, independent ~0.076.
    assert pair_rate(before, 0, 1) > 0.15 and pair_rate(after, 0, 1) < 0.11
    assert pair_rate(before, 3, 4) < 0.11 and pair_rate(after, 3, 4) > 0.15
    # Labels of different groups are independent under both concepts.
    assert pair_rate(before, 0, 3) < 0.11 and pair_rate(after, 0, 3) < 0.11
    np.testing.assert_allclose(before.mean(axis=0), 0.275, atol=0.035)
    np.testing.assert_allclose(after.mean(axis=0), 0.275, atol=0.035)
    # The drift is abrupt: the 500 rows on either side of the point already differ.
    assert pair_rate(y[3500:4000], 0, 1) > 0.15 and pair_rate(y[4000:4500], 0, 1) < 0.11


def test_two_label_drifts_flip_the_groups_back():
    stream = DriftingMultiLabelStream(
        n_instances=9000, n_features=3, n_labels=4, drift_points=[3000, 6000], seed=5, n_groups=2, drift_kinds="labels"
    )
    assert [stream.correlated_groups(c) for c in range(3)] == [(0,), (1,), (0,)]
    _, y = arrays(stream)
    rates = [pair_rate(y[i : i + 3000], 0, 1) for i in (0, 3000, 6000)]
    assert rates[0] > 0.15 and rates[1] < 0.11 and rates[2] > 0.15


def test_feature_drift_changes_the_prototypes_not_the_label_statistics():
    stream = DriftingMultiLabelStream(
        n_instances=6000, n_features=8, n_labels=4, drift_points=[3000], seed=11, n_groups=2,
        drift_kinds="features", noise=0.3,
    )
    assert stream.correlated_groups(1) == stream.correlated_groups(0)
    x, y = arrays(stream)
    w_before, w_after = prototypes(x[:3000], y[:3000]), prototypes(x[3000:], y[3000:])
    w_first_half, w_second_half = prototypes(x[:1500], y[:1500]), prototypes(x[1500:3000], y[1500:3000])
    assert np.abs(w_first_half - w_second_half).max() < 0.15  # one concept: the same prototypes
    assert np.abs(w_before - w_after).mean() > 0.5  # standard-normal prototypes redrawn
    assert abs(pair_rate(y[:3000], 0, 1) - pair_rate(y[3000:], 0, 1)) < 0.04


def test_label_drift_keeps_the_prototypes_and_both_changes_both():
    common = dict(n_instances=6000, n_features=8, n_labels=4, drift_points=[3000], seed=2, n_groups=2, noise=0.3)
    x, y = arrays(DriftingMultiLabelStream(**common, drift_kinds="labels"))
    assert np.abs(prototypes(x[:3000], y[:3000]) - prototypes(x[3000:], y[3000:])).max() < 0.15
    x, y = arrays(DriftingMultiLabelStream(**common, drift_kinds="both"))
    assert np.abs(prototypes(x[:3000], y[:3000]) - prototypes(x[3000:], y[3000:])).mean() > 0.5
    assert pair_rate(y[:3000], 0, 1) > 0.15 and pair_rate(y[3000:], 0, 1) < 0.11


def test_gradual_drift_mixes_the_concepts_along_a_sigmoid_around_its_point():
    # With on_rate=1 and off_rate=0 the labels of a correlated group are all on or all off, so
    # y0 != y1 only happens in the independent concept, in half of its rows: the share of such
    # rows is half the share of rows drawn from the new concept.
    common = dict(
        n_instances=12000, n_features=2, n_labels=4, drift_points=[6000], seed=9, n_groups=2,
        drift_kinds="labels", group_rate=0.5, on_rate=1.0, off_rate=0.0,
    )
    _, abrupt = arrays(DriftingMultiLabelStream(**common))
    _, gradual = arrays(DriftingMultiLabelStream(**common, drift_width=4000))
    t = np.arange(12000)
    new_share = 1 / (1 + np.exp(-4 * (t - 6000) / 4000))
    for start in range(0, 12000, 1500):
        window = slice(start, start + 1500)
        disagree = float(np.mean(gradual[window, 0] != gradual[window, 1]))
        assert abs(disagree - new_share[window].mean() / 2) < 0.04, start
        expected_abrupt = 0.0 if start < 6000 else 0.5
        assert abs(float(np.mean(abrupt[window, 0] != abrupt[window, 1])) - expected_abrupt) < 0.04, start


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(drift_points=[0]), "drift_points"),
        (dict(drift_points=[500]), "drift_points"),
        (dict(drift_points=[200, 100]), "drift_points"),
        (dict(drift_points=[100, 100]), "drift_points"),
        (dict(drift_points=[100], drift_kinds="sideways"), "drift kind"),
        (dict(drift_points=[100], drift_kinds=["labels", "both"]), "one value per drift point"),
        (dict(drift_points=[100], drift_width=-1), "widths"),
        (dict(n_groups=5), "n_groups"),
        (dict(n_groups=0), "n_groups"),
        (dict(on_rate=1.5), "on_rate"),
        (dict(noise=-0.1), "noise"),
        (dict(n_labels=0), "n_labels"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    params = dict(n_instances=500, n_features=3, n_labels=4, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        DriftingMultiLabelStream(**params)


def test_prior_drift_changes_the_frequencies_of_its_groups_only():
    stream = DriftingMultiLabelStream(
        n_instances=8000, n_features=4, n_labels=6, drift_points=[4000], seed=4, n_groups=3,
        drift_kinds="prior", drift_groups=[[1]], prior_rate=0.8,
    )
    assert [(c.kind, c.labels) for c in stream.changes] == [("prior", ("y2", "y3"))]
    _, y = arrays(stream)
    before, after = y[:4000].mean(axis=0), y[4000:].mean(axis=0)
    assert np.all(after[2:4] - before[2:4] > 0.25)  # 0.275 -> 0.65
    np.testing.assert_allclose(after[[0, 1, 4, 5]], before[[0, 1, 4, 5]], atol=0.035)


def test_birth_and_death_add_and_remove_one_label_each():
    stream = DriftingMultiLabelStream(
        n_instances=3000, n_features=4, n_labels=6, drift_points=[1000, 2000], seed=4, n_groups=2,
        drift_kinds=["birth", "death"], absent_labels=1,
    )
    assert [(c.kind, c.labels) for c in stream.changes] == [("birth", ("y5",)), ("death", ("y0",))]
    _, y = arrays(stream)
    assert not y[:1000, 5].any() and y[1000:, 5].mean() > 0.15
    assert y[:2000, 0].mean() > 0.15 and not y[2000:, 0].any()


def test_recurring_drift_brings_back_the_concept_before_the_last_drift():
    common = dict(n_instances=6000, n_features=8, n_labels=4, seed=2, n_groups=2, noise=0.3)
    stream = DriftingMultiLabelStream(
        **common, drift_points=[2000, 4000], drift_kinds=["features", "recurring"], drift_groups=[[0], None]
    )
    assert [(c.kind, c.labels) for c in stream.changes] == [("features", ("y0", "y1")), ("recurring", ("y0", "y1"))]
    x, y = arrays(stream)
    first, second, third = (prototypes(x[i : i + 2000], y[i : i + 2000]) for i in (0, 2000, 4000))
    assert np.abs(first - third).max() < 0.2  # the first concept again
    assert np.abs(first[:2] - second[:2]).mean() > 0.5 and np.abs(first[2:] - second[2:]).max() < 0.2


def test_local_label_drift_names_only_the_flipped_group():
    stream = DriftingMultiLabelStream(
        n_instances=100, n_features=2, n_labels=6, drift_points=[50], seed=0, n_groups=3,
        drift_kinds="labels", drift_groups=[[2]],
    )
    assert stream.changes[0].labels == ("y4", "y5")
    assert stream.correlated_groups(1) == (0,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(drift_points=[100], drift_kinds="birth"), "no absent label"),
        (dict(drift_points=[100], drift_kinds="recurring"), "first drift cannot be recurring"),
        (dict(drift_points=[100], drift_groups=[[7]]), "drift_groups"),
        (dict(absent_labels=4), "absent_labels"),
        (dict(prior_rate=2.0), "prior_rate"),
    ],
)
def test_bad_new_kind_parameters_are_refused(kwargs, message):
    params = dict(n_instances=500, n_features=3, n_labels=4, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        DriftingMultiLabelStream(**params)


def test_open_synthetic_reads_a_spec_and_refuses_a_bad_one():
    from stream.errors import UnknownDatasetError
    from stream.synthetic import open_synthetic

    stream = open_synthetic("synthetic")
    assert (stream.n_instances, stream.drift_points, stream.n_labels, stream.name) == (6000, (2000, 4000), 12, "synthetic")
    stream = open_synthetic("synthetic:kind=birth+death,at=300+600,width=0+100,n=900,labels=5,features=3,seed=2")
    assert [(c.kind, c.width) for c in stream.changes] == [("birth", 0), ("death", 100)]
    assert stream.absent_labels == 1 and len(list(stream)) == 900
    for bad in ("synthetic:at=5000+1000", "synthetic:colour=red", "synthetic:n=many", "yeast"):
        with pytest.raises(UnknownDatasetError):
            open_synthetic(bad)
