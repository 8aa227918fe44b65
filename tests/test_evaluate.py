"""The prequential evaluator on tiny hand-made streams with trivial learners."""

import pytest

from learners.base import DriftEvent, MultiLabelClassifier
from learners.evaluate import Prequential, shuffled


class Constant(MultiLabelClassifier):
    """Always predicts the same labels."""

    def __init__(self, labels: frozenset = frozenset({"a"})):
        self.labels = labels

    def learn_one(self, x, y):
        pass

    def predict_proba_one(self, x):
        return {label: 1.0 for label in self.labels}


class Previous(MultiLabelClassifier):
    """Predicts the labels of the last instance it learned from."""

    def __init__(self):
        self._last = {}

    def learn_one(self, x, y):
        self._last = dict(y)

    def predict_proba_one(self, x):
        return {label: float(on) for label, on in self._last.items()}


class Recorder(MultiLabelClassifier):
    """Writes each call to a shared log, so the order of calls across learners can be checked."""

    def __init__(self, name: str, log: list):
        self.name = name
        self.log = log

    def learn_one(self, x, y):
        self.log.append((self.name, "learn", x["i"]))

    def predict_proba_one(self, x):
        self.log.append((self.name, "predict", x["i"]))
        return {}


class DriftEvery(MultiLabelClassifier):
    """Reports a drift event every ``period`` instances learned."""

    def __init__(self, period: int):
        self.period = period
        self._n = 0

    def learn_one(self, x, y):
        self._n += 1
        if self._n % self.period == 0:
            self._emit(DriftEvent("drift-every", "global", "drift", self._n))

    def predict_proba_one(self, x):
        return {}


def stream_of(labelsets):
    return [({"i": float(i)}, {label: label in on for label in ("a", "b")}) for i, on in enumerate(labelsets)]


STREAM = stream_of([{"a"}, {"a", "b"}, set(), {"b"}, {"a"}])


def test_exact_scores_of_a_constant_learner():
    result = Prequential({"const": Constant()}, report_every=None).run(STREAM)["const"]
    # Predicted {a} every time. Instances: {a} exact; {a,b} misses b; {} wrong a; {b} wrong a and b; {a} exact.
    assert result.instances == 5
    assert result.cumulative["subset_accuracy"] == pytest.approx(2 / 5)
    assert result.cumulative["hamming_loss"] == pytest.approx(4 / 10)
    assert result.cumulative["example_f1"] == pytest.approx((1 + 2 / 3 + 0 + 0 + 1) / 5)
    # Pooled: tp 3 (a on instances 0, 1, 4), fp 2 (instances 2, 3), fn 2 (b on instances 1, 3).
    assert result.cumulative["micro_f1"] == pytest.approx(6 / 10)
    assert result.per_label_f1 == pytest.approx({"a": 6 / 8, "b": 0.0})
    assert result.cumulative["macro_f1"] == pytest.approx((6 / 8 + 0) / 2)


def test_every_learner_predicts_before_any_learns():
    log = []
    Prequential({"p": Recorder("p", log), "q": Recorder("q", log)}, report_every=None).run(STREAM[:2])
    assert log == [
        ("p", "predict", 0.0), ("q", "predict", 0.0), ("p", "learn", 0.0), ("q", "learn", 0.0),
        ("p", "predict", 1.0), ("q", "predict", 1.0), ("p", "learn", 1.0), ("q", "learn", 1.0),
    ]  # fmt: skip


def test_label_delay_learns_k_instances_later_and_drains_at_the_end():
    log = []
    results = Prequential({"p": Recorder("p", log)}, label_delay=2, report_every=None).run(STREAM[:4])
    assert log == [
        ("p", "predict", 0.0), ("p", "predict", 1.0), ("p", "predict", 2.0), ("p", "learn", 0.0),
        ("p", "predict", 3.0), ("p", "learn", 1.0), ("p", "learn", 2.0), ("p", "learn", 3.0),
    ]  # fmt: skip
    assert results["p"].instances == 4


def test_label_delay_scores_the_prediction_made_on_arrival():
    # Labels alternate {a}, {b}. Without delay "previous" is always wrong after the first; with a
    # delay of 1 it knows the labels of two instances before, which are the right ones.
    stream = stream_of([{"a"} if i % 2 == 0 else {"b"} for i in range(10)])
    now = Prequential({"previous": Previous()}, report_every=None).run(stream)["previous"]
    late = Prequential({"previous": Previous()}, label_delay=1, report_every=None).run(stream)["previous"]
    assert now.cumulative["subset_accuracy"] == 0.0
    assert late.cumulative["subset_accuracy"] == pytest.approx(8 / 10)
    assert late.instances == now.instances == 10


def test_a_delay_longer_than_the_stream_still_scores_every_instance():
    results = Prequential({"const": Constant()}, label_delay=50, report_every=2).run(STREAM)
    assert results["const"].instances == 5
    assert [s.instances for s in results["const"].snapshots] == [2, 4, 5]


def test_several_learners_are_scored_independently():
    results = Prequential({"a": Constant(frozenset({"a"})), "b": Constant(frozenset({"b"}))}, report_every=None).run(STREAM)
    assert results["a"].cumulative["subset_accuracy"] == pytest.approx(2 / 5)
    assert results["b"].cumulative["subset_accuracy"] == pytest.approx(1 / 5)
    assert list(results) == ["a", "b"]


def test_snapshots_every_n_instances_and_a_final_one():
    checkpoints = list(Prequential({"const": Constant()}, report_every=2, window=2, size_budget=float("inf")).iterate(STREAM))
    assert [(c.seen, c.scored, c.final) for c in checkpoints] == [(2, 2, False), (4, 4, False), (5, 5, True)]
    second = checkpoints[1].snapshots["const"]
    assert second.instances == 4
    assert second.cumulative["subset_accuracy"] == pytest.approx(1 / 4)
    # The window holds instances 2 and 3: {} and {b}, both predicted wrongly.
    assert second.window["subset_accuracy"] == 0.0
    assert second.window["hamming_loss"] == pytest.approx(3 / 4)
    assert second.seconds >= 0.0
    assert isinstance(second.model_bytes, int) and second.model_bytes > 0


@pytest.mark.parametrize("report_every", [2, 5])
def test_model_size_within_no_budget_is_measured_only_at_the_end(report_every):
    result = Prequential({"const": Constant()}, report_every=report_every, size_budget=0).run(STREAM)["const"]
    sizes = [s.model_bytes for s in result.snapshots]
    assert sizes[:-1] == [None] * (len(sizes) - 1)
    assert isinstance(sizes[-1], int) and sizes[-1] > 0
    assert result.model_bytes == sizes[-1]


def test_model_size_without_a_budget_limit_is_measured_at_every_snapshot():
    result = Prequential({"const": Constant()}, report_every=1, size_budget=float("inf")).run(STREAM)["const"]
    assert all(isinstance(s.model_bytes, int) for s in result.snapshots)


def test_the_last_snapshot_is_marked_final_rather_than_repeated():
    checkpoints = list(Prequential({"const": Constant()}, report_every=5).iterate(STREAM))
    assert [(c.scored, c.final) for c in checkpoints] == [(5, True)]
    result = Prequential({"const": Constant()}, report_every=5).run(STREAM)["const"]
    assert [s.instances for s in result.snapshots] == [5]


def test_drift_events_are_collected_with_their_position_and_split_by_snapshot():
    stream = stream_of([{"a"}] * 10)
    result = Prequential({"d": DriftEvery(3)}, report_every=4).run(stream)["d"]
    assert [e.position for e in result.events] == [3, 6, 9]
    assert [e.event.instance for e in result.events] == [3, 6, 9]
    assert [[e.position for e in s.events] for s in result.snapshots] == [[3], [6], [9]]
    assert result.events[0].to_dict()["position"] == 3
    assert result.events[0].to_dict()["kind"] == "drift"


def test_callback_sees_every_checkpoint():
    seen = []
    Prequential({"const": Constant()}, report_every=2).run(STREAM, on_checkpoint=lambda c: seen.append(c.scored))
    assert seen == [2, 4, 5]


def test_deterministic_scores_and_snapshots():
    def scores():
        result = Prequential({"previous": Previous()}, report_every=2, window=3).run(STREAM)["previous"]
        return [(s.instances, s.cumulative, s.window) for s in result.snapshots]

    assert scores() == scores()


def test_empty_stream_gives_an_empty_final_result():
    result = Prequential({"const": Constant()}).run([])["const"]
    assert result.instances == 0
    assert result.cumulative["subset_accuracy"] == 0.0
    assert result.instances_per_s == 0.0


def test_timing_and_throughput_are_reported():
    result = Prequential({"previous": Previous()}, report_every=None).run(STREAM * 20)["previous"]
    assert result.seconds > 0
    assert result.instances_per_s == pytest.approx(result.instances / result.seconds)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learners": {}}, "at least one learner"),
        ({"label_delay": -1}, "label_delay"),
        ({"report_every": 0}, "report_every"),
        ({"size_budget": -0.5}, "size_budget"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, message):
    params = {"learners": {"const": Constant()}, **kwargs}
    with pytest.raises(ValueError, match=message):
        Prequential(**params)


def test_an_evaluation_runs_once():
    evaluation = Prequential({"const": Constant()})
    with pytest.raises(RuntimeError, match="not run"):
        evaluation.results()
    evaluation.run(STREAM)
    with pytest.raises(RuntimeError, match="already run"):
        evaluation.run(STREAM)


def test_shuffled_is_a_seeded_permutation_of_the_stream():
    stream = [({"i": float(i)}, {"odd": i % 2 == 1}) for i in range(300)]
    first = list(shuffled(iter(stream), seed=3))
    assert sorted(first, key=lambda item: item[0]["i"]) == stream
    assert first != stream
    assert list(shuffled(iter(stream), seed=3)) == first
    assert list(shuffled(iter(stream), seed=4)) != first


def test_shuffled_reads_its_source_once_and_handles_an_empty_stream():
    reads = []

    def source():
        for i in range(5):
            reads.append(i)
            yield i

    assert sorted(shuffled(source(), seed=1)) == [0, 1, 2, 3, 4]
    assert reads == [0, 1, 2, 3, 4]
    assert list(shuffled(iter([]), seed=1)) == []
