"""How the learner stage calls one of its learners: in its own process, or split over shard actors.

The learner stage (:mod:`jobs.stages.learner`) turns a batch into *steps*, one per new record or
late label in stream order, each a short list of ops (:mod:`learners.sharding.ops`): a new record
is ``[Predict(x)]`` plus ``Learn(x, y, mask)`` when its labels are known, a late label or a
correction a ``Learn`` alone. Every learner runs the same steps; :meth:`run` yields each step's
results in order:

* for a ``Predict``, ``(scores, predicted)``: the label -> probability dict and the labels
  predicted on or off;
* for a ``Learn``, the learner's events since the op (a list of :class:`~learners.base.DriftEvent`),
  or the :class:`~learners.base.PartialLabelsUnsupported` refusal of a learner that cannot learn
  from that partial target (nothing was learned).

:class:`InProcess` runs a step's ops when the stage asks for that step, so the stage settles each
record (metrics, drift monitor) between two records' model calls, exactly as one loop would.
:class:`Sharded` sends the whole batch's ops to its shard actors at once (one call per shard and
batch, not one per record) and then hands out the results step by step.
"""

from __future__ import annotations

import itertools
import operator
import typing

from jobs.stages.shard import Position, RayExecutor
from learners.base import MultiLabelClassifier, PartialLabelsUnsupported
from learners.sharding import Learn, Predict, ShardedModel

#: A step's ops, and what each op gave.
Step = list
Result = typing.Union[tuple[dict, dict], list, PartialLabelsUnsupported]


def decided(scores: dict) -> dict:
    """The labels predicted on or off from their probabilities: on at 0.5 or above.

    Examples
    --------
    >>> decided({"a": 0.5, "b": 0.2})
    {'a': True, 'b': False}

    """
    return dict(zip(scores, map(operator.ge, scores.values(), itertools.repeat(0.5))))


class InProcess:
    """A learner held whole in the learner stage's process.

    Parameters
    ----------
    model
        The learner.

    Examples
    --------
    >>> from learners import registry
    >>> learner = InProcess(registry.make("majority", seed=1))
    >>> steps = [[Predict({}), Learn({}, {"a": True})], [Predict({})]]
    >>> [results for results in learner.run(steps, {})]
    [[({}, {}), []], [({'a': 1.0}, {'a': True})]]

    """

    def __init__(self, model: MultiLabelClassifier):
        self.model = model
        # predict_proba_one is needed anyway (scores); predict_one only where a learner overrides it.
        self._own_predict = type(model).predict_one is not MultiLabelClassifier.predict_one

    def run(self, steps: typing.Sequence[Step], position: Position) -> typing.Iterator[list[Result]]:
        """Each step's results, its ops run only when the step is asked for."""
        for ops in steps:
            yield [self._one(op) for op in ops]

    def _one(self, op) -> Result:
        model = self.model
        if isinstance(op, Predict):
            scores = model.predict_proba_one(op.x)
            return scores, model.predict_one(op.x) if self._own_predict else decided(scores)
        try:
            op.teach(model)
        except PartialLabelsUnsupported as refusal:
            return refusal
        return model.pop_events()

    def state(self) -> MultiLabelClassifier:
        """What the stage's checkpoint holds of it: the learner itself."""
        return self.model

    def load_state(self, state: MultiLabelClassifier) -> None:
        self.model = state
        self._own_predict = type(state).predict_one is not MultiLabelClassifier.predict_one


class Sharded:
    """A learner split over shard actors (``learner_shards`` > 1): its head here, its hosts there.

    The labels predicted on are the scores at or above 0.5 (the sharded model's ``predict_one``):
    a learner whose own ``predict_one`` decides otherwise (``logistic`` turns its best label on
    rather than predict none) predicts by the plain rule when sharded.

    Parameters
    ----------
    model
        The sharded model (the head), built over a :class:`~jobs.stages.shard.RayExecutor`: the
        stage's input position travels with each of its calls.

    """

    def __init__(self, model: ShardedModel):
        self.model = model
        self.executor: RayExecutor = model.executor

    def run(self, steps: typing.Sequence[Step], position: Position) -> typing.Iterator[list[Result]]:
        """Every step's results, from one run of the sharded model over the whole batch."""
        flat = []
        refusals: dict[tuple[int, int], PartialLabelsUnsupported] = {}
        for k, ops in enumerate(steps):
            for j, op in enumerate(ops):
                refusal = self._refusal(op)
                if refusal is None:
                    flat.append(op)
                else:
                    refusals[k, j] = refusal
        self.executor.position = dict(position)
        answers = iter(self.model.run(flat) if flat else ())
        events = self.model.pop_events()
        out: list[list[Result]] = []
        last_learn: list | None = None
        for k, ops in enumerate(steps):
            results: list[Result] = []
            for j, op in enumerate(ops):
                if (k, j) in refusals:
                    results.append(refusals[k, j])
                    continue
                answer = next(answers)
                if isinstance(op, Predict):
                    results.append((answer, decided(answer)))
                else:
                    last_learn = []
                    results.append(last_learn)
            out.append(results)
        if last_learn is not None:
            # The head hands back its hosts' events in op order; they count the same on the batch's last learn.
            last_learn.extend(events)
        yield from out

    def _refusal(self, op) -> PartialLabelsUnsupported | None:
        """The refusal of a partial target by a learner that cannot learn from one (as it would raise whole)."""
        if not isinstance(op, Learn) or op.mask is None or op.mask.judges_all or self.model.supports_partial_labels:
            return None
        learner = self.model.learner
        return PartialLabelsUnsupported(type(learner).__name__, learner._partial_labels_reason)

    def state(self) -> dict:
        """What the stage's checkpoint holds of it: the head's state and the position each shard was last told.

        Each shard checkpoints its own state under the same epoch.
        """
        return {"head": self.model.head_state(), "told": [dict(position) for position in self.executor.told]}

    def load_state(self, state: dict) -> None:
        self.model.load_head_state(state["head"])
        self.executor.told = [dict(position) for position in state["told"]]
