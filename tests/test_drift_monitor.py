"""The drift monitor beside the learners: its detectors, alert records, hygiene and pickling."""

from __future__ import annotations

import math
import pickle
import random

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from learners.drift import Alert, DriftMonitor, LabelLifecycle, StreamPosition, WindowShift, event_id
from learners.drift.detectors import DRIFT, NONE, WindowShiftBank
from learners.drift.family import Family, counts_z
from stream.synthetic import DriftingMultiLabelStream


def run(monitor: DriftMonitor, rows, predict=None, start: int = 0, positions=None) -> list[Alert]:
    """Feed labelled rows; ``predict(i, x, y)`` gives the one learner's prediction (default: the truth)."""
    alerts = []
    for i, (x, y) in enumerate(rows, start=start):
        predicted = predict(i, x, y) if predict is not None else dict(y)
        position = positions(i) if positions is not None else StreamPosition(i)
        alerts += monitor.update(x, y, {"model": predicted}, position, model_versions={"model": i})
    return alerts


def noisy(rate: float, seed: int = 0):
    """A stand-in learner that gets each label wrong with probability ``rate``."""
    rng = random.Random(seed)
    return lambda i, x, y: {label: on != (rng.random() < rate) for label, on in y.items()}


def drifts(alerts):
    return [alert for alert in alerts if alert.level == "drift"]


# -- the detector ---------------------------------------------------------------------------------


@given(value=st.floats(0, 1), n=st.integers(0, 3000))
@settings(max_examples=30, deadline=None)
def test_a_constant_stream_never_signals(value, n):
    detector = WindowShift(window=50, reference=200, direction="both", variance="empirical")
    assert all(detector.update(value) is None for _ in range(n))


def test_a_jump_up_is_a_drift_and_a_fall_is_not_with_direction_up():
    rng = random.Random(1)
    up = WindowShift(window=100, reference=500)
    levels = [up.update(rng.random() < (0.1 if i < 1000 else 0.4)) for i in range(1400)]
    first = levels.index("drift")
    assert 1000 <= first < 1100 and "drift" not in levels[:1000]
    down = WindowShift(window=100, reference=500)
    assert "drift" not in [down.update(rng.random() < (0.4 if i < 1000 else 0.1)) for i in range(1400)]
    both = WindowShift(window=100, reference=500, direction="both")
    assert "drift" in [both.update(rng.random() < (0.4 if i < 1000 else 0.1)) for i in range(1400)]


def test_min_effect_keeps_small_but_significant_changes_quiet():
    rng = random.Random(2)
    detector = WindowShift(window=1000, reference=5000, threshold=4.0, min_effect=0.05)
    assert "drift" not in [detector.update(rng.random() < (0.10 if i < 6000 else 0.13)) for i in range(9000)]


def test_reset_forgets_the_windows():
    detector = WindowShift(window=10, reference=20)
    for _ in range(40):
        detector.update(1.0)
    detector.reset()
    assert (detector.n_recent, detector.n_reference, detector.ready) == (0, 0, False)


@pytest.mark.parametrize(
    "kwargs",
    [dict(window=1), dict(min_reference=5000), dict(warning_threshold=6.0), dict(min_effect=-1), dict(direction="down"), dict(variance="gamma")],
)
def test_bad_detector_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        WindowShift(**kwargs)


# -- alerts on streams with known changes -----------------------------------------------------------


def stream(**kwargs):
    params = dict(n_instances=6000, n_features=6, n_labels=9, seed=11, n_groups=3) | kwargs
    return DriftingMultiLabelStream(**params)


def test_a_stationary_stream_raises_no_drift():
    monitor = DriftMonitor(job="t")
    alerts = run(monitor, stream(n_instances=12000), predict=noisy(0.1))
    assert drifts(alerts) == []


def test_a_prior_drift_on_one_group_is_one_alert_naming_its_labels_soon_after():
    data = stream(drift_points=[3000], drift_kinds="prior", drift_groups=[[1]])
    alerts = drifts(run(DriftMonitor(job="t"), data))
    prior = [alert for alert in alerts if alert.kind == "prior"]
    assert len(prior) == 1, alerts
    assert set(prior[0].labels) <= set(data.changes[0].labels) and prior[0].labels
    assert 3000 <= prior[0].last.index < 3250
    # The window: the detector's 200 records when the change set it off, up to the alert (50 records gathering more).
    assert prior[0].last.index - 199 - 50 == prior[0].first.index and prior[0].learner is None


def test_a_change_of_every_label_is_one_concept_alert_listing_them():
    rng = random.Random(5)

    def predict(i, x, y):  # right 95% of the time, then wrong on every label 40% of the time
        return {label: on != (rng.random() < (0.05 if i < 3000 else 0.4)) for label, on in y.items()}

    alerts = [a for a in drifts(run(DriftMonitor(job="t"), stream(), predict=predict)) if a.kind == "concept"]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert len(alert.labels) >= 7 and alert.learner == "model" and alert.severity == "high"
    assert alert.model_version == alert.last.index and 3000 <= alert.last.index < 3250


def test_a_feature_drift_raises_a_feature_alert_naming_the_inputs():
    rows = list(stream(n_instances=4000))
    shifted = [({k: v + (1.5 if i >= 2000 and k == "x2" else 0.0) for k, v in x.items()}, y) for i, (x, y) in enumerate(rows)]
    alerts = [a for a in drifts(run(DriftMonitor(job="t"), shifted)) if a.kind == "feature"]
    assert len(alerts) == 1 and alerts[0].detail["features"] == ["x2"] and alerts[0].labels == ()
    assert 2000 <= alerts[0].last.index < 2250


def test_wide_inputs_are_watched_through_a_projection():
    rng = random.Random(3)
    monitor = DriftMonitor(job="t", feature_dims=4)
    alerts = []
    for i in range(4000):
        x = {f"e{j}": rng.gauss(0.8 if i >= 2000 and j < 20 else 0.0, 1.0) for j in range(64)}
        alerts += monitor.observe_inputs(x, StreamPosition(i))
    assert monitor.sketch.projected
    feature = drifts(alerts)
    assert len(feature) == 1 and 2000 <= feature[0].last.index < 2250
    assert all(name.startswith("proj") for name in feature[0].detail["features"])


def test_label_born_dormant_and_revived_are_one_alert_each():
    data = stream(n_instances=7000, n_labels=6, n_groups=2, drift_points=[2000, 3000, 5500],
                  drift_kinds=["birth", "death", "prior"], drift_groups=[None, None, [1]], absent_labels=1)
    rows = list(data)
    # y0 dies at 3000; bring it back at 6000.
    rows = [(x, y | {"y0": True}) if i == 6000 else (x, y) for i, (x, y) in enumerate(rows)]
    alerts = run(DriftMonitor(job="t", dormant_after=500), rows)
    life = [(a.kind, a.labels, a.last.index) for a in alerts if a.kind.startswith("label_")]
    born, dormant, revived = (next(a for a in life if a[0] == kind) for kind in ("label_born", "label_dormant", "label_revived"))
    # (y0 on once at 6000 and never again goes dormant again 500 records later.)
    assert [a[0] for a in life] == ["label_born", "label_dormant", "label_revived", "label_dormant"], life
    assert born[1] == ("y5",) and 2000 <= born[2] < 2030
    assert dormant[1] == ("y0",) and 2950 + 500 <= dormant[2] <= 3000 + 500  # 500 records after its last time on
    assert revived == ("label_revived", ("y0",), 6000)


def test_a_late_label_is_born_once_it_is_unlikely_for_a_label_always_there():
    life = LabelLifecycle(warmup=10, dormant_after=None)
    new_on = lambda i: {"new"} if i >= 1000 and i % 5 == 0 else set()  # noqa: E731  (on every 5th record from 1000)
    late_once = lambda i: {"rare"} if i in (700, 1900, 2600) else set()  # noqa: E731  (a rare label, seen three times)
    changes = {i: found for i in range(3000) if (found := life.update(i, {"a"} | new_on(i) | late_once(i), ts=float(i)))}
    # Two labels first seen late (rare, new) were tested: born once unlikely at exp(-10) / 2.
    # new: (6 / 1006) ** 2 = exp(-10.25) > exp(-10) / 2, (11 / 1011) ** 3 <= it: born at its third time on.
    assert changes == {1010: [("label_born", "new")]}
    assert (life.labels["new"].first_on, life.labels["new"].first_on_ts) == (1000, 1000.0)
    assert life.labels["rare"].unborn and "rare" not in life.present()


def test_a_born_alert_spans_the_first_time_on_to_the_record_that_settled_it():
    monitor = DriftMonitor(job="t", warmup=10)
    alerts = [a for i in range(1200) for a in monitor.observe_labels({"a"} | ({"new"} if i >= 1000 and i % 5 == 0 else set()), {}, StreamPosition(i))]
    assert [(a.kind, a.labels, a.first.index, a.last.index, a.severity) for a in alerts] == [("label_born", ("new",), 1000, 1005, "low")]


def test_dormant_by_event_time():
    life = LabelLifecycle(warmup=1, dormant_after=None, dormant_after_s=60.0)
    assert life.update(0, {"a", "b"}, ts=0.0) == []
    assert life.update(1, {"a"}, ts=59.0) == []
    assert life.update(2, {"a"}, ts=61.0) == [("label_dormant", "b")]


# -- hygiene ----------------------------------------------------------------------------------------


def test_warning_escalates_into_the_drift_or_expires():
    data = stream(drift_points=[3000], drift_kinds="prior", drift_groups=[[1]])
    alerts = run(DriftMonitor(job="t"), data)
    prior = [a for a in alerts if a.kind == "prior"]
    warnings = [a for a in prior if a.level == "warning"]
    drift = next(a for a in prior if a.level == "drift")
    assert warnings and drift.detail.get("escalates") == warnings[-1].event_id
    assert warnings[-1].detail["expires_after"] == 500 and warnings[-1].severity == "low"


def test_a_lasting_change_is_reported_once():
    # The error jumps and stays high: one alert, not one per window.
    data = stream(n_instances=9000)
    alerts = [a for a in drifts(run(DriftMonitor(job="t"), data, predict=lambda i, x, y: {l: (on if i < 3000 else not on) for l, on in y.items()})) if a.kind == "concept"]
    assert len(alerts) == 1


def test_alerts_name_the_clusters_of_their_labels():
    monitor = DriftMonitor(job="t")
    monitor.set_clusters({"y2": "c1", "y3": "c1", "y0": "c0"})
    data = stream(drift_points=[3000], drift_kinds="prior", drift_groups=[[1]])
    prior = [a for a in drifts(run(monitor, data)) if a.kind == "prior"]
    assert prior[0].clusters == ("c1",)


# -- identity and state -------------------------------------------------------------------------------


def test_event_ids_depend_on_job_detector_labels_and_position_only():
    position = StreamPosition(5, partition=1, offset=105, record_id="r", ts=1.0)
    same = StreamPosition(9, partition=1, offset=105)
    assert event_id("j", "d", ["a", "b"], position) == event_id("j", "d", ["b", "a"], same)
    assert event_id("j", "d", ["a"], position) != event_id("k", "d", ["a"], position)
    assert event_id("j", "d", ["a"], position) != event_id("j", "d", ["a"], StreamPosition(5, partition=2, offset=105))


def test_a_pickled_monitor_goes_on_with_the_same_alerts_and_ids():
    rows = list(stream(drift_points=[2500, 4000], drift_kinds=["prior", "features"], drift_groups=[[1], None]))
    predict = noisy(0.1, seed=3)
    predictions = [predict(i, x, y) for i, (x, y) in enumerate(rows)]
    by_index = lambda i, x, y: predictions[i]  # noqa: E731
    whole = run(DriftMonitor(job="t"), rows, by_index)
    first = DriftMonitor(job="t")
    head = run(first, rows[:2600], by_index)
    restored = pickle.loads(pickle.dumps(first))
    tail = run(restored, rows[2600:], by_index, start=2600)
    assert [a.to_dict() for a in head + tail] == [a.to_dict() for a in whole]
    assert len(drifts(whole)) >= 2


def test_alert_to_dict_is_plain_data_with_the_window():
    alert = run(DriftMonitor(job="t"), list(stream(n_instances=2500, drift_points=[1500], drift_kinds="prior", drift_groups=[[1]])),
                positions=lambda i: StreamPosition(i, partition=0, offset=1000 + i, record_id=f"r{i}", ts=1.7e9 + i))
    record = next(a for a in alert if a.level == "drift").to_dict()
    assert record["window"]["last"]["offset"] == 1000 + record["window"]["last"]["index"]
    assert record["window"]["first"]["record_id"].startswith("r") and record["job"] == "t"
    assert set(record) == {"event_id", "level", "kind", "severity", "labels", "learner", "clusters", "window",
                           "model_version", "detector", "statistic", "job", "detail"}
    with pytest.raises(ValueError):
        Alert(**{**next(a for a in alert if a.level == "drift").__getstate__()} if False else dict(
            event_id="x", level="alarm", kind="prior", severity="low", labels=(), learner=None, clusters=(),
            first=StreamPosition(0), last=StreamPosition(0), model_version=None, detector="d", statistic={}, job="t"))


# -- localisation, learner warm-up, the label-space queues ------------------------------------------


def correlated_chain(n: int, swap_at: int, seed: int = 0):
    """Labels a and b on together most of the time, c and d too, plus two independent ones; from
    ``swap_at`` on ``b`` and ``c`` swap values."""
    rng = np.random.default_rng(seed + 100)  # apart from the stand-in learners' random.Random noise
    rows = []
    for i in range(n):
        a, c = rng.random() < 0.5, rng.random() < 0.5
        b = a if rng.random() < 0.9 else not a
        d = c if rng.random() < 0.9 else not c
        y = {"a": a, "b": b, "c": c, "d": d, "e": rng.random() < 0.3, "f": rng.random() < 0.4}
        y = {label: bool(on) for label, on in y.items()}
        if i >= swap_at:
            y["b"], y["c"] = y["c"], y["b"]
        rows.append(({"x": float(rng.random())}, y))
    return rows


def test_a_swap_of_two_labels_names_them_and_not_the_labels_they_go_with():
    # Swapping b and c moves the pairs a+b, a+c, b+d and c+d alike (a 4-cycle: swapping a and d
    # would look the same in the pairs). The learner's error rises on b and c only: their
    # relation to what it learned changed. Without it the pairs alone cannot tell b and c from a
    # and d: the alert names none of them, and lists the pairs that signalled.
    rows = correlated_chain(4000, 2000)

    noise = noisy(0.05, seed=7)

    def learner(i, x, y):  # predicts each label from the labels' old relations: wrong on b, c after the swap
        predicted = dict(y)
        if i >= 2000:
            predicted["b"], predicted["c"] = y["c"], y["b"]
        return noise(i, x, predicted)

    prior = [a for a in drifts(run(DriftMonitor(job="t"), rows, learner)) if a.kind == "prior"]
    assert prior and 2000 <= prior[0].last.index < 2300
    assert set(prior[0].labels) == {"b", "c"}
    blind = [a for a in drifts(run(DriftMonitor(job="t"), rows, noisy(0.05, seed=7))) if a.kind == "prior"]
    assert blind and blind[0].labels == () and blind[0].detail["signalled"]
    assert all("+" in subject for subject in blind[0].detail["signalled"])


def swap_known_and_unknown(n: int, swap_at: int, seed: int = 0):
    """Independent labels a, b, c; a stand-in learner that knows a and c (5 % wrong) but not b (40 %
    wrong). From ``swap_at`` on a and b swap values, and the learner follows the inputs: its error on
    a rises to 40 %, on b falls to 5 %, on c stays."""
    rng = np.random.default_rng(seed + 200)
    rows = [({"x": float(rng.random())}, {label: bool(rng.random() < 0.4) for label in "abc"}) for _ in range(n)]
    noise = random.Random(seed)

    def learner(i, x, y):
        rates = {"a": 0.4, "b": 0.05, "c": 0.05} if i >= swap_at else {"a": 0.05, "b": 0.4, "c": 0.05}
        return {label: on != (noise.random() < rates[label]) for label, on in y.items()}

    return rows, learner


def test_a_concept_alert_names_a_label_whose_error_fell_with_the_change():
    rows, learner = swap_known_and_unknown(4000, 2000)
    concept = [a for a in drifts(run(DriftMonitor(job="t"), rows, learner)) if a.kind == "concept"]
    assert len(concept) == 1 and 2000 <= concept[0].last.index < 2250
    assert concept[0].labels == ("a", "b")  # b's error fell by as many standard errors as a's rose; c's did not move
    assert concept[0].detail["signalled"] == ["a"]  # a fall is named, never signalled


def test_a_fall_of_the_error_alone_raises_nothing():
    rows, learner = swap_known_and_unknown(4000, 2000)
    improving = lambda i, x, y: {**learner(i, x, y), "a": y["a"]}  # noqa: E731  (a stays known: only b's error moves, down)
    assert not [a for a in run(DriftMonitor(job="t"), rows, improving) if a.kind == "concept"]


def test_a_rare_label_is_not_dormant_until_its_silence_is_unlikely_at_its_own_rate():
    life = LabelLifecycle(warmup=1, dormant_after=100, dormant_factor=10.0)
    # rare: on 4 times in its first 400 records, then quiet; frequent: on every 4th record until 400.
    changes = [life.update(i, ({"rare"} if i % 100 == 0 and i < 400 else set()) | ({"frequent"} if i % 4 == 0 and i <= 400 else set()))
               for i in range(6000)]
    quiet = {label: i for i, found in enumerate(changes) for kind, label in found if kind == "label_dormant"}
    assert quiet["frequent"] == 400 + 100  # 10 mean gaps (40) are less than dormant_after
    # (301 / (301 + gap)) ** 4 <= exp(-10) once gap >= 301 * (exp(2.5) - 1): 10 "mean gaps" (750) would be too soon
    assert quiet["rare"] == math.ceil(301 * math.exp(2.5)) - 1


def test_a_moved_pair_is_explained_by_the_label_in_most_moved_pairs_even_of_no_signalled_pair():
    # blog changed (three of its pairs moved, one with blogs) and so did tools; only blogs+tools
    # signalled. Counting blogs+blog for blogs would name blogs alone; blog explains that pair
    # first, and the signalled pair is then a tie that no error rise settles: neither is named.
    monitor = DriftMonitor(job="t")
    moved = [("blog", "blogs"), ("blog", "free"), ("blog", "software"), ("blogs", "tools")]
    assert monitor._explain_pairs(set(), [("blogs", "tools")], moved, 0) == set()
    assert monitor._explain_pairs({"tools"}, [("blogs", "tools")], moved, 0) == set()  # named for its own frequency


def test_a_young_learners_error_is_not_taken_for_drift():
    # A stand-in learner that is right on everything at first and wrong on 10 % later, with no
    # change in the stream: watched from its first record, its early records make the reference
    # and the later errors look like a drift; its first learner_warmup records are not watched.
    rows = list(DriftingMultiLabelStream(3000, 6, 6, seed=3, n_groups=2))
    later = noisy(0.1, seed=2)

    def learner(i, x, y):
        return dict(y) if i < 1000 else later(i, x, y)

    watched = [a for a in drifts(run(DriftMonitor(job="t", learner_warmup=0), rows, learner)) if a.kind == "concept"]
    assert watched and watched[0].last.index < 1400
    assert not [a for a in drifts(run(DriftMonitor(job="t", learner_warmup=1000), rows, learner)) if a.kind == "concept"]
    assert DriftMonitor(window=150).learner_warmup == 150  # by default one recent window


def quiet_by_scan(life, index, ts, dormant_after, dormant_factor, dormant_after_s):
    """The dormancy rule checked on one label directly (what the queues must agree with)."""
    if dormant_after is not None:
        span = life.last_on - life.since + 1
        unlikely = (span / (index - life.since + 1)) ** max(life.count, 1) <= math.exp(-dormant_factor)
        if index - life.last_on >= dormant_after and unlikely:
            return True
    return dormant_after_s is not None and ts is not None and life.last_on_ts is not None and ts - life.last_on_ts >= dormant_after_s


@given(seed=st.integers(0, 10_000), dormant_after=st.sampled_from([None, 3, 20]), factor=st.sampled_from([0.0, 1.0, 10.0]),
       dormant_after_s=st.sampled_from([None, 5.0]))
@settings(max_examples=60, deadline=None)
def test_dormancy_from_the_due_queues_equals_checking_every_label(seed, dormant_after, factor, dormant_after_s):
    rng = random.Random(seed)
    life = LabelLifecycle(warmup=5, dormant_after=dormant_after, dormant_factor=factor, dormant_after_s=dormant_after_s)
    labels = [f"l{i}" for i in range(rng.randint(1, 6))]
    rates = {label: rng.random() ** 2 for label in labels}
    ts = 0.0
    for index in range(300):
        if rng.random() < 0.03:
            rates[rng.choice(labels)] = rng.random() ** 3
        on = {label for label in labels if rng.random() < rates[label]}
        ts += rng.uniform(-1.0, 2.0)  # event time may go back
        now = None if rng.random() < 0.05 else ts
        awake = {label: l for label, l in life.labels.items() if not (l.dormant or l.unborn) and label not in on}
        expected = [label for label, l in awake.items() if quiet_by_scan(l, index, now, dormant_after, factor, dormant_after_s)]
        changes = life.update(index, on, now)
        assert [label for kind, label in changes if kind == "label_dormant"] == expected
    restored = pickle.loads(pickle.dumps(life))
    assert restored.update(300, set(), ts + 1000.0) == life.update(300, set(), ts + 1000.0)


def test_a_tie_is_named_only_for_the_label_with_its_own_evidence():
    # Only a and b moved together: a tie. The learner's error rose on b (by far more than one
    # standard error) and not on a, so b is named; with no rise on either, neither is.
    monitor = DriftMonitor(job="t", learner_warmup=0)
    rng = random.Random(4)
    for i in range(1400):
        a, b = rng.random() < 0.3, rng.random() < 0.3
        wrong_b = rng.random() < (0.05 if i < 1200 else 0.3)
        monitor.update({"x": 0.0}, {"a": a, "b": b}, {"m": {"a": a, "b": b != wrong_b}}, StreamPosition(i))
    assert monitor._explain_pairs(set(), [("a", "b")], [("a", "b")], 1400) == {"b"}
    assert DriftMonitor(job="t")._explain_pairs(set(), [("a", "b")], [("a", "b")], 0) == set()


def exact_mid_p_z(recent, window, reference, n_reference):
    """counts_z by another road: the hypergeometric masses as exact fractions of binomial coefficients."""
    from fractions import Fraction
    from statistics import NormalDist

    total, records = recent + reference, window + n_reference
    mass = [Fraction(math.comb(window, k) * math.comb(n_reference, total - k), math.comb(records, total))
            for k in range(0, min(total, window) + 1)]
    upper = recent * n_reference > reference * window
    tail = mass[recent] / 2 + (sum(mass[recent + 1:]) if upper else sum(mass[:recent]))
    z = -NormalDist().inv_cdf(min(float(tail), 0.5))  # never against the direction of the change
    return z if upper else -z


@given(recent=st.integers(0, 40), reference=st.integers(0, 150))
@settings(max_examples=60, deadline=None)
def test_the_exact_statistic_is_the_mid_p_hypergeometric_tail_as_a_normal_deviate(recent, reference):
    z = counts_z(recent, 40, reference, 150)
    if recent * 150 == reference * 40:
        assert z == 0.0
    else:
        assert z == pytest.approx(exact_mid_p_z(recent, 40, reference, 150), abs=1e-6)
        assert (z > 0) == (recent * 150 > reference * 40)


def test_the_exact_statistic_is_the_normal_one_at_middling_rates_and_far_below_it_at_rare_ones():
    def normal(recent, reference):
        p = (reference + 0.5) / 1001
        return (recent / 200 - reference / 1000) / math.sqrt(p * (1 - p) * (1 / 1000 + 1 / 200))

    assert counts_z(90, 200, 300, 1000) == pytest.approx(normal(90, 300), abs=0.25)  # 30 % -> 45 %
    assert normal(14, 14) > 6.0 > 4.5 > counts_z(14, 200, 14, 1000) > 3.5  # 1.4 % -> 7 %
    assert counts_z(0, 200, 50, 1000) < -3.5 < normal(0, 50)  # 5 % -> none: the normal one is too timid


def rare_then_six_times():
    """A family with one 0/1 detector (drift at 6, warning at 5): 10 ones in 1,000 values, then 12 in 200."""
    family = Family("concept", "concept/m", "m", WindowShiftBank(200, 1000), 4.5, 1000, name_falls=True)
    family.add("r", ("r",), threshold=6.0, warning_threshold=5.0, min_effect=0.04)
    levels = []
    for i in range(1200):
        one = i % 100 == 0 if i < 1000 else (i - 1000) % 17 == 0
        levels.append(family.update({"r": float(one)}, i))
    return family, levels


def test_a_rare_rate_rising_sixfold_signals_nothing_where_the_normal_statistic_would():
    family, levels = rare_then_six_times()
    bank = family.bank
    p = (10 + 0.5) / 1001  # the reference's rate alone, as the bank's statistic once took it: a drift
    assert (12 / 200 - 10 / 1000) / math.sqrt(p * (1 - p) * (1 / 1000 + 1 / 200)) >= 6.0
    assert 4.5 < bank.statistic[0] < 5.0  # the bank's screen: the rate of both windows
    assert 4.0 < family.z(0) < 4.5
    assert all(drifting == [] and warning == [] for drifting, warning in levels)
    assert family._exact_level(0, DRIFT) == NONE  # what a drift of the bank comes to: the exact test decides
    assert family.statistic(family.subjects["r"])["value"] == round(family.z(0), 3)  # alerts carry the test used


def test_a_label_is_named_only_when_the_exact_test_stands_at_name_threshold():
    family, _ = rare_then_six_times()
    assert family.bank.statistic[0] >= family.name_threshold > family.z(0)
    assert family.named([], 1200) == []
    family.name_threshold = 4.0
    assert [s.name for s in family.named([], 1200)] == ["r"]


def test_rare_labels_first_seen_late_by_chance_in_a_wide_label_space_are_not_born():
    rng = random.Random(11)
    life = LabelLifecycle(warmup=200, dormant_after=None)
    rates = {f"rare{i}": 0.002 for i in range(400)}
    born, lone_evidence = [], 0.0
    for i in range(6000):
        on = {label for label, rate in rates.items() if rng.random() < rate} | ({"new"} if i >= 5000 and i % 5 == 0 else set())
        born += [(i, label) for kind, label in life.update(i, on) if kind == "label_born"]
        for label in on - {"new"}:
            l = life.labels[label]
            if l.since:  # first seen late: the evidence a single label's test weighs
                lone_evidence = max(lone_evidence, l.count * math.log(life.seen / (life.seen - l.before)))
    assert lone_evidence >= life.born_factor  # tested alone, some rare label would have been born
    assert life.late > 100
    assert born == [(5010, "new")]  # a new label on every 5th record: born at its third time on


def sparse_words(n: int, seed: int = 0, late_from: int | None = None, shift_at: int | None = None):
    """Bag-of-words records: a few of 300 words each (Zipf-like frequencies, value 1). The first
    record names ``rare0``..``rare2``, which are then absent until ``late_from`` and from there on
    a few times each; from ``shift_at`` every record also names ``w0``..``w9`` (a change of topic)."""
    rng = random.Random(seed)
    words = [f"w{k}" for k in range(300)]
    weights = [1.0 / (k + 1) for k in range(300)]
    for i in range(n):
        x = {word: 1.0 for word in rng.choices(words, weights, k=rng.randrange(3, 9))}
        if i == 0 or (late_from is not None and i >= late_from and rng.random() < 0.03):
            x |= {f"rare{k}": 1.0 for k in range(3)}
        if shift_at is not None and i >= shift_at:
            x |= {f"w{k}": 1.0 for k in range(10)}
        yield x


def test_a_rare_word_first_seen_in_the_reference_after_the_first_record_is_no_feature_drift():
    """The sketch decides what it watches by the feature space of its warm-up, not by the first
    record's keys: chosen by the first record, ``rare0`` was watched, absent from the whole
    reference (variance 0), and its next appearance stood at thousands of standard errors."""
    monitor = DriftMonitor(job="t")
    alerts = []
    for i, x in enumerate(sparse_words(3000, late_from=1500)):
        alerts += monitor.observe_inputs(x, StreamPosition(i))
    assert monitor.sketch.projected
    assert [alert for alert in alerts if alert.kind == "feature"] == []


def test_a_change_of_topic_in_sparse_records_is_a_feature_drift():
    monitor = DriftMonitor(job="t")
    alerts = []
    for i, x in enumerate(sparse_words(3000, late_from=1500, shift_at=2000)):
        alerts += monitor.observe_inputs(x, StreamPosition(i))
    feature = [alert for alert in drifts(alerts) if alert.kind == "feature"]
    assert len(feature) == 1 and 2000 <= feature[0].last.index < 2250


def test_the_sketch_watches_nothing_during_its_warm_up_then_the_features_it_saw():
    monitor = DriftMonitor(job="t")
    rows = [{"a": 1.0}, {"b": 2.0}, {"c": 3.0}] * 100
    seen = [monitor.sketch.transform(x) for x in rows]
    assert seen[:199] == [[]] * 199 and monitor.sketch.projected is False
    assert seen[199] == [("a", 0.0), ("b", 2.0), ("c", 0.0)] and seen[200] == [("a", 0.0), ("b", 0.0), ("c", 3.0)]
