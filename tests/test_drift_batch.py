"""The drift monitor's batch form: the same alerts and state as record by record, bit for bit."""

from __future__ import annotations

import itertools
import pickle
import random

import numpy as np
import pytest

from jobs.drift_stage import DriftConfig, StageMonitor
from learners.drift import DriftMonitor, Observation, StreamPosition, batch
from learners.drift.detectors import WindowShiftBank
from learners.evaluate import shuffled
from stream.datasets import open_dataset
from stream.synthetic import DriftingMultiLabelStream

BANK_STATE = ("_t", "_recent_sum", "_reference_sum", "_reference_squares", "_recent_squares", "statistic", "effect", "ready")


def assert_same_bank(a: WindowShiftBank, b: WindowShiftBank) -> None:
    for name in BANK_STATE:
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y) and np.array_equal(np.signbit(x), np.signbit(y)), name
    assert np.array_equal(a._buffer[:, : len(a)], b._buffer[:, : len(b)])


def test_a_bank_looking_ahead_and_committing_is_the_bank_updated_record_by_record():
    rng = np.random.default_rng(0)
    one, many = WindowShiftBank(20, 50, 30), WindowShiftBank(20, 50, 30)

    def add(k):
        for bank in (one, many):
            bank.add(3.0, 2.0, 0.05, 0.1 * (k % 2), "up" if k % 2 else "both", ("empirical", "bernoulli", "bernoulli", "floored")[k % 4])

    for k in range(3):
        add(k)
    signalled = False
    for step in range(200):
        rows, n = int(rng.integers(1, many.max_ahead + 1)), len(many)
        values = (rng.random((rows, n)) < (0.2 if step < 100 else 0.6)).astype(float) if step % 2 else rng.random((rows, n))
        ahead = many.look_ahead(values)
        signalled |= bool((ahead.levels[:taken] == 2).any()) if (taken := int(rng.integers(0, rows + 1))) else False
        columns = np.array([0, n - 1])
        part = many.look_ahead(values[:, columns], columns=columns)
        assert np.array_equal(part.statistic, ahead.statistic[:, columns])
        means = many.reference_means_before(part)
        for k in range(taken):
            assert np.array_equal(one.reference_mean[columns], means[k])
            assert np.array_equal(one.update(values[k]), ahead.levels[k])
        many.commit(ahead, taken)
        assert_same_bank(one, many)
        if step % 7 == 0:
            add(step)
        if step % 11 == 0:
            index = int(rng.integers(len(one)))
            one.reset(index)
            many.reset(index)
    assert signalled, "the stream drifted: the detectors saw it"
    with pytest.raises(ValueError, match="at most"):
        many.look_ahead(np.zeros((many.max_ahead + 1, len(many))))


def test_a_bank_keeps_room_for_more_detectors_but_pickles_only_its_own():
    bank = WindowShiftBank(10, 20)
    for _ in range(9):
        bank.add()
    assert bank._buffer.shape[1] == 16
    again = pickle.loads(pickle.dumps(bank))
    assert again._buffer.shape == (30, 9)
    again.add()
    bank.add()
    assert_same_bank(bank, again)


def test_a_bank_pickled_before_the_floored_variance_finds_its_recent_squares_in_its_buffer():
    rng = np.random.default_rng(4)
    bank = WindowShiftBank(10, 20)
    bank.add(variance="empirical")
    for step in range(45):
        if step == 25:
            bank.add(variance="empirical")  # a younger detector: fewer recent values than the window
        bank.update(rng.integers(0, 4, len(bank)).astype(float))  # integers: sums exact in any order
    state = bank.__getstate__()
    old = WindowShiftBank.__new__(WindowShiftBank)
    old.__setstate__({key: value for key, value in state.items() if key not in ("floored", "_recent_squares")})
    assert np.array_equal(old._recent_squares, bank._recent_squares) and not old.floored.any()
    assert_same_bank(bank, old)


# -- the monitor -----------------------------------------------------------------------------------


def stream_observations(rows, seed: int = 0, late_every: int = 0, unlabelled_every: int = 0, clusters_every: int = 0):
    """Observations of a labelled stream, predicted by two stand-in learners whose error grows in the
    second half. Every ``late_every``-th record's labels come a record later (same index as the
    next record); every ``unlabelled_every``-th record never gets its labels."""
    rng = random.Random(seed)
    out, waiting = [], None
    for i, (x, y) in enumerate(rows):
        y = {str(label): bool(on) for label, on in y.items()}
        rate = 0.1 if i < len(rows) // 2 else 0.25
        predictions = {name: {label: on != (rng.random() < rate * (k + 1)) for label, on in y.items()}
                       for k, name in enumerate(("model", "other"))}
        clusters = {label: f"c{(sum(map(ord, label)) + i) % 3}" for label in y} if clusters_every and i % clusters_every == 0 else None
        position = StreamPosition(i, partition=0, offset=1000 + i, record_id=f"r{i}", ts=1.7e9 + i)
        labelled = Observation(position, labels={l for l, on in y.items() if on}, predictions=predictions,
                               model_versions={"model": i, "other": i}, clusters=clusters)
        if unlabelled_every and i % unlabelled_every == 0:
            out.append(Observation(position, x=x))
        elif late_every and i % late_every == 0:
            out.append(Observation(position, x=x))
            waiting = labelled
            continue
        else:
            out.append(Observation(position, x=x, labels=labelled.labels, predictions=predictions,
                                   model_versions=labelled.model_versions, clusters=clusters))
        if waiting is not None:
            out.append(Observation(StreamPosition(i, record_id=waiting.position.record_id), labels=waiting.labels,
                                   predictions=waiting.predictions, model_versions=waiting.model_versions))
            waiting = None
    return out


def record_by_record(monitor: DriftMonitor, observations) -> list:
    alerts = []
    for observation in observations:
        if observation.clusters is not None:
            monitor.set_clusters(observation.clusters)
        if observation.x is not None:
            alerts += monitor.observe_inputs(observation.x, observation.position)
        if observation.labels is not None:
            alerts += monitor.observe_labels(observation.labels, observation.predictions, observation.position,
                                             observation.model_versions)
    return alerts


def in_batches(monitor: DriftMonitor, observations, seed: int = 1) -> list:
    rng, alerts, start = random.Random(seed), [], 0
    while start < len(observations):
        size = rng.choice([1, 3, 64, 200, 500])
        alerts += monitor.observe_many(observations[start : start + size])
        start += size
    return alerts


def assert_same_alerts_and_state(observations, **settings) -> list[dict]:
    one, many = DriftMonitor(job="t", **settings), DriftMonitor(job="t", **settings)
    expected = [alert.to_dict() for alert in record_by_record(one, observations)]
    assert [alert.to_dict() for alert in in_batches(many, observations)] == expected
    for a, b in zip([one._prior, one._feature, *one._concept.values()], [many._prior, many._feature, *many._concept.values()]):
        assert_same_bank(a.bank, b.bank)
        assert (a.cool_until, a.quiet_until, a.label_cool_until) == (b.cool_until, b.quiet_until, b.label_cool_until)
    assert one.lifecycle.labels == many.lifecycle.labels and one._learner_records == many._learner_records
    assert list(one._positions) == list(many._positions) and list(one._labelled_positions) == list(many._labelled_positions)
    return expected


#: Short windows: short streams, and more of the monitor's moments (signals, gathering, cool-downs) per record.
SHORT = {"window": 50, "reference": 250, "cooldown": 300, "warning_expiry": 150, "learner_warmup": 50}


@pytest.mark.parametrize("kinds", [["labels", "prior"], ["features", "recurring"]])
def test_observe_many_raises_the_alerts_of_the_per_record_calls_on_a_drifting_stream(kinds):
    stream = DriftingMultiLabelStream(2100, 10, 12, n_groups=4, drift_points=[700, 1400], drift_kinds=kinds, seed=3)
    alerts = assert_same_alerts_and_state(stream_observations(list(stream), late_every=7, clusters_every=450), **SHORT)
    drifts = [alert for alert in alerts if alert["level"] == "drift"]
    kinds_raised = {alert["kind"] for alert in drifts}
    assert len(drifts) >= 2 and "concept" in kinds_raised and kinds_raised & {"prior", "feature"}
    assert any(alert["level"] == "warning" for alert in alerts) and any(alert["clusters"] for alert in alerts)


def test_observe_many_on_labels_born_and_falling_quiet_by_count_and_by_time():
    stream = DriftingMultiLabelStream(2000, 10, 12, n_groups=4, drift_points=[700, 1300], drift_kinds=["birth", "death"],
                                      absent_labels=2, seed=4)
    alerts = assert_same_alerts_and_state(stream_observations(list(stream), unlabelled_every=9), dormant_after=200,
                                          dormant_after_s=250.0, warmup=50, **SHORT)
    kinds = {alert["kind"] for alert in alerts}
    assert {"label_born", "label_dormant"} <= kinds


def test_observe_many_on_a_real_dataset_with_an_injected_drift():
    rows = list(itertools.islice(shuffled(open_dataset("yeast"), 1), 1500))
    swap = {"Class1": "Class2", "Class2": "Class1", "Class3": "Class4", "Class4": "Class3"}
    rows = [(x, y if i < 900 else {label: y[swap.get(label, label)] for label in y}) for i, (x, y) in enumerate(rows)]
    alerts = assert_same_alerts_and_state(stream_observations(rows, seed=5), window=100, reference=500)
    assert any(alert["level"] == "drift" for alert in alerts)


def test_a_monitor_pickled_between_batches_goes_on_as_the_one_that_was_not():
    stream = DriftingMultiLabelStream(1500, 6, 8, n_groups=2, drift_points=[800], drift_kinds="prior", seed=6)
    observations = stream_observations(list(stream))
    whole = DriftMonitor(job="t", **SHORT)
    expected = [alert.to_dict() for alert in whole.observe_many(observations)]
    first = DriftMonitor(job="t", **SHORT)
    alerts = first.observe_many(observations[:700])
    alerts += pickle.loads(pickle.dumps(first)).observe_many(observations[700:])
    assert [alert.to_dict() for alert in alerts] == expected and expected


def test_the_stage_monitor_observing_a_batch_raises_what_it_raises_record_by_record():
    stream = DriftingMultiLabelStream(1500, 10, 8, n_groups=2, drift_points=[800], drift_kinds="labels", seed=7)
    rows = list(stream)
    config = DriftConfig(window=50, reference=250, cooldown=300)
    one, many = StageMonitor("job", config), StageMonitor("job", config)
    rng = random.Random(2)
    expected, alerts, batch = [], [], []
    ones, manys = {"model": Regrouping(list(rows[0][1]))}, {"model": Regrouping(list(rows[0][1]))}
    for i, (x, y) in enumerate(rows):
        where, ts = ("tagstream.records", 0, i), 1.7e9 + i
        on = tuple(label for label, value in y.items() if value)
        predicted = {"model": {label: value != (rng.random() < (0.1 if i < 800 else 0.3)) for label, value in y.items()}}
        expected += one.record(x, where, f"r{i}", ts)
        one.clusters_from(ones, 1)
        expected += one.labelled(on, predicted, where, f"r{i}", ts, {"model": i})
        batch.append(many.inputs_observation(x, where, f"r{i}", ts))
        batch.append(many.labels_observation(on, predicted, where, f"r{i}", ts, {"model": i}, manys))
        if len(batch) == 2 * 120:
            alerts += many.observe(batch)
            batch = []
    alerts += many.observe(batch)
    assert alerts == expected and any(alert["level"] == "drift" for alert in expected)
    assert any(alert["clusters"] for alert in expected)


class Regrouping:
    """A stand-in learner whose label partition changes each time it is asked for it."""

    def __init__(self, labels):
        self.labels, self.asked = labels, 0

    def describe(self) -> dict:
        self.asked += 1
        groups = 1 + self.asked % 3
        return {"partition": [{"id": g, "labels": self.labels[g::groups]} for g in range(groups)]}


def test_observe_many_takes_the_quiet_records_together():
    """Not a timing assertion: the batch form takes the quiet records together, which the count
    of records it hands to the per-record path shows."""
    rows = list(itertools.islice(DriftingMultiLabelStream(1500, 10, 60, n_groups=6, seed=8), 1500))
    monitor = DriftMonitor(job="t", warmup=20)
    calls = []
    original = monitor.observe_labels

    def counted(*args, **kwargs):
        calls.append(args[2].index)
        return original(*args, **kwargs)

    monitor.observe_labels = counted
    monitor.observe_many(stream_observations(rows))
    assert len(calls) < len(rows) // 10


def test_the_sketch_projects_sparse_records_as_the_stacked_vectors_do_and_reads_old_pickles():
    from learners.drift import FeatureSketch

    rng = random.Random(3)
    sketch = FeatureSketch(max_raw=2, dims=4, seed=5, warmup=1)
    sketch.CACHE = 40  # beyond it, vectors are made again at each use
    records = [{f"w{rng.randrange(60)}": rng.random() for _ in range(rng.randrange(3, 9))} for _ in range(200)]
    for x in records:
        expected = np.fromiter(x.values(), dtype=float) @ np.stack([sketch._vector(name) for name in x])
        assert [value for _, value in sketch.transform(x)] == expected.tolist()
    old = FeatureSketch.__new__(FeatureSketch)
    # Pickled before the warm-up was kept (the first record decided) and with the vectors in a dict.
    state = {key: value for key, value in FeatureSketch(max_raw=2, dims=4, seed=5).__dict__.items()
             if key not in ("_rows", "_table", "warmup", "_warmup_seen", "_warmup_names")}
    old.__setstate__(state | {"_vectors": {name: sketch._vector(name) for name in ("w1", "w2")}})
    assert [old.transform(x) for x in records[:20]] == [sketch.transform(x) for x in records[:20]]


def rare_label_observations(n: int = 2400, labels: int = 30, seed: int = 6):
    """Labels on 2 % of the time; a stand-in learner wrong on 1 % of them, then on 4 % from the middle:
    the bank's statistic warns on some rare labels' errors, the exact test mostly does not."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        y = {f"l{k}": rng.random() < 0.02 for k in range(labels)}
        wrong = 0.01 if i < n // 2 else 0.04
        predicted = {label: on != (rng.random() < wrong) for label, on in y.items()}
        out.append(Observation(StreamPosition(i), x={"f": rng.random()}, labels={l for l, on in y.items() if on},
                               predictions={"model": predicted}, model_versions={"model": i}))
    return out


def test_observe_many_takes_records_together_past_warnings_the_exact_test_turns_down():
    observations = rare_label_observations()
    assert_same_alerts_and_state(observations, window=100, reference=500)
    monitor = DriftMonitor(job="t", window=100, reference=500)
    turned_down = []
    original = batch._exact_warnings

    def counted(family, ahead, warned):
        found = original(family, ahead, warned)
        turned_down.append(bool(warned.any()) and not found.any())
        return found

    calls = []
    labels_observed = monitor.observe_labels
    monitor.observe_labels = lambda *args, **kwargs: calls.append(args[2].index) or labels_observed(*args, **kwargs)
    batch._exact_warnings = counted
    try:
        monitor.observe_many(observations)
    finally:
        batch._exact_warnings = original
    assert any(turned_down)  # the bank warned where the exact test did not, and the run went on
    assert len(calls) < len(observations) // 10


def test_observe_many_on_raw_features_constant_in_the_reference_then_not():
    """Few features, one of them (``d``) absent from the whole reference, then on twice: its
    detector's variance is that of both windows (not 0), in the batch form as record by record;
    then ``d`` is on in most records, a drift."""
    rng = random.Random(9)
    rows = []
    for i in range(1500):
        x = {"a": rng.gauss(0.0, 1.0), "b": rng.random()}
        if i < 40 or i in (700, 705) or (i >= 1100 and rng.random() < 0.8):
            x["d"] = 1.0 + rng.random()
        rows.append((x, {"y0": rng.random() < 0.3, "y1": rng.random() < 0.5}))
    alerts = assert_same_alerts_and_state(stream_observations(rows, seed=2), **SHORT)
    feature = [alert for alert in alerts if alert["kind"] == "feature" and alert["level"] == "drift"]
    assert [alert["detail"]["features"] for alert in feature] == [["d"]] and feature[0]["window"]["last"]["index"] >= 1100
