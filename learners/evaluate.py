"""Prequential (test-then-train) evaluation of several learners side by side on one stream.

Every instance is first predicted by every learner, and only then learned by every learner, so no
learner ever sees a label before predicting it. With a label delay of ``k``, the label of an
instance arrives ``k`` instances later: the prediction is made when the instance arrives, and it is
scored and learned from when its label arrives. At the end of the stream the labels still pending
arrive, so every instance is scored and learned exactly once.

The evaluator does no I/O and prints nothing: it yields a :class:`Checkpoint` every
``report_every`` scored instances (and one at the end), and leaves reporting to its caller. The
only clock it reads is :func:`time.perf_counter`, around each learner call.

:func:`shuffled` turns any stream into a seeded permutation of it, for tables that must not
reward a file's order (files stored sorted by label set).
"""

from __future__ import annotations

import array
import collections
import dataclasses
import pickle
import random
import tempfile
import time
import typing

from learners.base import DriftEvent, Features, LabelDict, LabelMask, MultiLabelClassifier
from learners.metrics import MetricSuite


def shuffled(stream: typing.Iterable, seed: int) -> typing.Iterator:
    """The items of ``stream`` in a permutation drawn with ``seed``, holding few of them in memory.

    The stream is read once and each item pickled into an anonymous temporary file; only its
    offset stays in memory (8 bytes an item). The items are then read back in the order of a
    permutation drawn by ``random.Random(seed)``, so the same stream and seed always give the
    same order: the order ``random.Random(seed).shuffle`` gives a list of the items. The file is
    removed when the generator ends or is closed.

    Examples
    --------
    >>> list(shuffled(range(8), seed=1))
    [3, 6, 1, 5, 7, 0, 4, 2]
    >>> sorted(shuffled(range(8), seed=2)) == list(range(8))
    True

    """
    with tempfile.TemporaryFile(prefix="tagstream-shuffle-") as spill:
        offsets = array.array("q", [0])
        for item in stream:
            spill.write(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            offsets.append(spill.tell())
        order = list(range(len(offsets) - 1))
        random.Random(seed).shuffle(order)
        for index in order:
            start = offsets[index]
            spill.seek(start)
            yield pickle.loads(spill.read(offsets[index + 1] - start))


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """How one learner stood after ``instances`` scored instances.

    ``seconds`` is the wall time spent inside the learner's ``predict_one`` and ``learn_one``
    calls so far; ``events`` are the drift events it reported since the previous snapshot.
    ``model_bytes`` is ``None`` where measuring the size was skipped to stay in its time budget.
    """

    learner: str
    instances: int
    cumulative: dict[str, float]
    window: dict[str, float]
    seconds: float
    model_bytes: int | None
    events: tuple[ObservedEvent, ...]

    @property
    def instances_per_s(self) -> float:
        return self.instances / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ObservedEvent:
    """A drift event and the number of instances the evaluator had scored when it collected it."""

    position: int
    event: DriftEvent

    def to_dict(self) -> dict:
        return {"position": self.position, **self.event.to_dict()}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Progress of the whole evaluation: instances read and scored, and one snapshot per learner."""

    seen: int
    scored: int
    snapshots: dict[str, Snapshot]
    final: bool


@dataclasses.dataclass(frozen=True)
class LearnerResult:
    """The outcome of evaluating one learner over the whole stream."""

    learner: str
    instances: int
    cumulative: dict[str, float]
    window: dict[str, float]
    per_label_f1: dict
    seconds: float
    model_bytes: int
    events: tuple[ObservedEvent, ...]
    snapshots: tuple[Snapshot, ...]

    @property
    def instances_per_s(self) -> float:
        return self.instances / self.seconds if self.seconds > 0 else 0.0


class _Tracked:
    """A learner under evaluation with its scores, clock and events."""

    def __init__(self, name: str, learner: MultiLabelClassifier, window: int | None, size_budget: float):
        self.name = name
        self.learner = learner
        self.size_budget = size_budget
        self.metrics = MetricSuite(window=window)
        self.seconds = 0.0
        self.sizing_seconds = 0.0
        self.events: list[ObservedEvent] = []
        self.events_reported = 0
        self.snapshots: list[Snapshot] = []

    def model_bytes(self, final: bool) -> int | None:
        # Walking a big model's memory can take seconds, longer than learning between two
        # snapshots: measure it only within the budget, and always at the end.
        if not final and self.sizing_seconds >= self.size_budget * self.seconds:
            return None
        start = time.perf_counter()
        size = self.learner.model_bytes
        self.sizing_seconds += time.perf_counter() - start
        return size

    def snapshot(self, final: bool) -> Snapshot:
        snapshot = Snapshot(
            learner=self.name,
            instances=self.metrics.n,
            cumulative=self.metrics.get(),
            window=self.metrics.get_window(),
            seconds=self.seconds,
            model_bytes=self.model_bytes(final),
            events=tuple(self.events[self.events_reported :]),
        )
        self.events_reported = len(self.events)
        self.snapshots.append(snapshot)
        return snapshot

    def finish(self) -> Snapshot:
        """Make the last snapshot final: give it the model size if it was skipped."""
        last = self.snapshots[-1]
        if last.model_bytes is None:
            last = dataclasses.replace(last, model_bytes=self.model_bytes(final=True))
            self.snapshots[-1] = last
        return last


class Prequential:
    """Test-then-train evaluation of several learners on the same stream.

    Parameters
    ----------
    learners
        The learners to evaluate, by name. They are trained in place.

    The stream yields ``(x, y)`` pairs, or ``(x, y, mask)`` triples for partial feedback: with a
    :class:`~learners.base.LabelMask` every learner learns the judged labels only
    (``learn_one_masked``; a learner that cannot raises
    :class:`~learners.base.PartialLabelsUnsupported`) and only the judged labels are scored.
    label_delay
        Number of instances after which an instance's label arrives. ``0`` scores and learns
        each instance right after predicting it.
    report_every
        Take a snapshot of every learner each time this many more instances have been scored.
        ``None`` takes only the final one.
    window
        Size of the sliding window of the windowed scores, in instances.
    size_budget
        Measure a learner's model size at a snapshot only while the time spent measuring it stays
        below this fraction of the time spent in its own calls; the final snapshot always
        measures it. ``float("inf")`` measures at every snapshot, ``0`` only at the end.
    observer
        Called as ``observer(index, x, y, predictions)`` for every instance when its label
        arrives, before any learner learns it: ``index`` is the instance's 0-based position in
        the stream, ``predictions`` each learner's prediction by name (how the drift monitor of
        :mod:`learners.drift` runs beside an evaluation).

    Examples
    --------
    A learner that predicts the labels of the instance before, on a stream that alternates:

    >>> from learners.base import MultiLabelClassifier
    >>> class Previous(MultiLabelClassifier):
    ...     def __init__(self):
    ...         self._last = {}
    ...     def learn_one(self, x, y):
    ...         self._last = dict(y)
    ...     def predict_proba_one(self, x):
    ...         return {label: float(on) for label, on in self._last.items()}
    >>> stream = [({"i": float(i)}, {"odd": i % 2 == 1, "even": i % 2 == 0}) for i in range(40)]
    >>> evaluation = Prequential({"previous": Previous()}, report_every=20)
    >>> for checkpoint in evaluation.iterate(stream):
    ...     print(checkpoint.scored, checkpoint.final, checkpoint.snapshots["previous"].cumulative["subset_accuracy"])
    20 False 0.0
    40 True 0.0

    With the labels one instance late, the labels it knows are those of two instances before:

    >>> late = Prequential({"previous": Previous()}, label_delay=1).run(stream)
    >>> late["previous"].instances, late["previous"].cumulative["subset_accuracy"]
    (40, 0.95)

    """

    def __init__(
        self,
        learners: typing.Mapping[str, MultiLabelClassifier],
        label_delay: int = 0,
        report_every: int | None = 1000,
        window: int | None = 1000,
        size_budget: float = 0.1,
        observer: typing.Callable[[int, Features, LabelDict, dict[str, LabelDict]], None] | None = None,
    ):
        if not learners:
            raise ValueError("give at least one learner to evaluate")
        if label_delay < 0:
            raise ValueError(f"label_delay must be 0 or more instances, got {label_delay}")
        if report_every is not None and report_every < 1:
            raise ValueError(f"report_every must be a positive number of instances or None, got {report_every}")
        if not size_budget >= 0:
            raise ValueError(f"size_budget must be a fraction of 0 or more, got {size_budget}")
        self.learners = learners
        self.label_delay = label_delay
        self.report_every = report_every
        self.window = window
        self.size_budget = size_budget
        self.observer = observer
        self._reset()

    def _reset(self):
        self._tracked = [_Tracked(name, learner, self.window, self.size_budget) for name, learner in self.learners.items()]
        self._seen = 0
        self._scored = 0
        self._finished = False

    def iterate(self, stream: typing.Iterable[tuple[Features, LabelDict]]) -> typing.Iterator[Checkpoint]:
        """Run over ``stream``, yielding a :class:`Checkpoint` at each snapshot and at the end."""
        if self._finished or self._seen:
            raise RuntimeError("this evaluation has already run; build a new Prequential for another stream")
        pending: collections.deque = collections.deque()
        # A snapshot is taken as soon as it is due but handed out only once more of the stream
        # has come, so that the last one can be marked final instead of being repeated.
        due: Checkpoint | None = None
        perf_counter = time.perf_counter
        for x, y, *mask in stream:
            if due is not None:
                yield due
                due = None
            self._seen += 1
            predictions = []
            for tracked in self._tracked:
                start = perf_counter()
                predictions.append(tracked.learner.predict_one(x))
                tracked.seconds += perf_counter() - start
            pending.append((x, y, mask[0] if mask else None, predictions))
            if len(pending) > self.label_delay and self._label_arrives(*pending.popleft()):
                due = self._checkpoint()
        while pending:
            if due is not None:
                yield due
                due = None
            if self._label_arrives(*pending.popleft()):
                due = self._checkpoint()
        self._finished = True
        if due is None:
            yield self._checkpoint(final=True)
        else:
            yield dataclasses.replace(due, snapshots={t.name: t.finish() for t in self._tracked}, final=True)

    def run(
        self,
        stream: typing.Iterable[tuple[Features, LabelDict]],
        on_checkpoint: typing.Callable[[Checkpoint], None] | None = None,
    ) -> dict[str, LearnerResult]:
        """Run over the whole ``stream``, calling ``on_checkpoint`` at each checkpoint, and return :meth:`results`."""
        for checkpoint in self.iterate(stream):
            if on_checkpoint is not None:
                on_checkpoint(checkpoint)
        return self.results()

    def _label_arrives(self, x: Features, y: LabelDict, mask: LabelMask | None, predictions: list) -> bool:
        """Score the predictions made for ``x`` and learn from it; say whether a snapshot is due."""
        perf_counter = time.perf_counter
        for tracked, y_pred in zip(self._tracked, predictions):
            tracked.metrics.update(y, y_pred, mask)
        if self.observer is not None:
            self.observer(self._scored, x, y, {tracked.name: y_pred for tracked, y_pred in zip(self._tracked, predictions)})
        self._scored += 1
        for tracked in self._tracked:
            learner = tracked.learner
            start = perf_counter()
            if mask is None:
                learner.learn_one(x, y)
            else:
                learner.learn_one_masked(x, y, mask)
            tracked.seconds += perf_counter() - start
            events = learner.pop_events()
            if events:
                tracked.events.extend(ObservedEvent(self._scored, event) for event in events)
        return self.report_every is not None and self._scored % self.report_every == 0

    def _checkpoint(self, final: bool = False) -> Checkpoint:
        snapshots = {tracked.name: tracked.snapshot(final) for tracked in self._tracked}
        return Checkpoint(seen=self._seen, scored=self._scored, snapshots=snapshots, final=final)

    def results(self) -> dict[str, LearnerResult]:
        """The final result of each learner, by name, once the stream has been run."""
        if not self._finished:
            raise RuntimeError("the evaluation has not run to the end of its stream yet")
        out = {}
        for tracked in self._tracked:
            last = tracked.snapshots[-1]
            out[tracked.name] = LearnerResult(
                learner=tracked.name,
                instances=tracked.metrics.n,
                cumulative=last.cumulative,
                window=last.window,
                per_label_f1=tracked.metrics.per_label_f1(),
                seconds=tracked.seconds,
                model_bytes=last.model_bytes,
                events=tuple(tracked.events),
                snapshots=tuple(tracked.snapshots),
            )
        return out
