"""The head of a sharded model: what the learner stage holds in place of the learner."""

from __future__ import annotations

import typing

from learners.base import Features, Label, LabelDict, LabelMask, MultiLabelClassifier
from learners.sharding.executor import Executor, LocalExecutor
from learners.sharding.ops import Learn, Predict

#: Version of :meth:`ShardedModel.state`'s layout.
STATE_VERSION = 1


def _head_for(learner: MultiLabelClassifier, n_shards: int, executor: Executor):
    from learners.ihomer import IHOMER

    if isinstance(learner, IHOMER):
        from learners.sharding.ihomer_head import IHOMERHead

        return IHOMERHead(learner, n_shards, executor)
    from learners.sharding.label_split import LabelSplitHead

    return LabelSplitHead(learner, n_shards, executor)


class ShardedModel(MultiLabelClassifier):
    """A learner whose labels are spread over ``n_shards`` hosts, answering as the learner would.

    Every host sees every record's features and learns and predicts its own labels; the head
    cuts each target to each host's labels and merges the hosts' predictions into one per record.
    iHOMER's hosts follow its label partition (:mod:`learners.sharding.ihomer_head`, exact); any
    other learner gets a fixed label split (:mod:`learners.sharding.label_split`, exact for binary
    relevance).

    Parameters
    ----------
    learner
        A fresh (untrained) learner; the hosts start from clones of it (or of its parts).
    n_shards
        Number of hosts that share the labels.
    executor
        Where the hosts live (:class:`~learners.sharding.executor.LocalExecutor` by default).

    Examples
    --------
    >>> from river import linear_model
    >>> from learners.binary_relevance import BinaryRelevance
    >>> model = ShardedModel(BinaryRelevance(linear_model.LogisticRegression()), n_shards=2)
    >>> model.run([Predict({"u": 1.0}), Learn({"u": 1.0}, {"a": True, "b": False, "c": True})])
    [{}, None]
    >>> model.describe()["shards"]
    [{'shard': 0, 'labels': ['a', 'c']}, {'shard': 1, 'labels': ['b']}]
    >>> sorted(model.predict_one({"u": 1.0}).items())
    [('a', True), ('b', False), ('c', True)]

    """

    def __init__(self, learner: MultiLabelClassifier, n_shards: int, executor: Executor | None = None):
        if not isinstance(learner, MultiLabelClassifier):
            raise TypeError(f"ShardedModel: learner must be a MultiLabelClassifier, got {type(learner).__name__}")
        if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
            raise ValueError(f"ShardedModel: n_shards must be an integer >= 1, got {n_shards!r}")
        self.learner = learner
        self.n_shards = n_shards
        self.executor = executor
        self._head = _head_for(learner, n_shards, executor if executor is not None else LocalExecutor())

    @property
    def handles(self) -> list:
        """The executor's handles of the hosts, shard by shard (iHOMER's root hosts after them)."""
        return list(self._head.hosts)

    # ------------------------------------------------------------------ the ops

    def run(self, ops: typing.Sequence) -> list:
        """Run ``ops`` in order, as the unsharded learner would: for each op, the label ->
        probability dict it predicts (:class:`Predict`) or ``None`` (:class:`Learn`).

        If a host call fails, the head and the hosts may stand at different records: restore the
        whole model from its last :meth:`state` (the hosts are consistent only together).
        """
        return self._head.run(ops, self._emit)

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        return self.run([Predict(x)])[0]

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        self.run([Learn(x, y)])

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        self.run([Learn(x, y, mask)])

    @property
    def supports_partial_labels(self) -> bool:
        return self.learner.supports_partial_labels

    # ------------------------------------------------------------------ checkpoints

    def head_state(self) -> dict:
        """What the head knows (label assignment, partition, counters): small, picklable."""
        return self._head.head_state()

    def load_head_state(self, state: dict) -> None:
        if state.get("kind") != self._head.kind:
            raise ValueError(f"head state of a {state.get('kind')!r} sharding, this model is {self._head.kind!r}")
        if state.get("n_shards") != self.n_shards:
            raise ValueError(f"head state of {state.get('n_shards')} shards, this model has {self.n_shards}")
        self._head.load_head_state(state)

    def state(self) -> dict:
        """The head's state and each host's, taken between two :meth:`run` calls (consistent)."""
        executor = self._head.executor
        hosts = executor.gather([executor.call(host, "state") for host in self._head.hosts])
        return {"version": STATE_VERSION, "head": self.head_state(), "hosts": hosts}

    def load_state(self, state: dict) -> None:
        """Restore a :meth:`state` snapshot: the head, then every host."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"sharded model state version {state.get('version')!r} is not {STATE_VERSION}")
        if len(state["hosts"]) != len(self._head.hosts):
            raise ValueError(f"state of {len(state['hosts'])} hosts, this model has {len(self._head.hosts)}")
        self.load_head_state(state["head"])
        executor = self._head.executor
        executor.gather([executor.call(host, "load_state", s) for host, s in zip(self._head.hosts, state["hosts"])])

    # ------------------------------------------------------------------ introspection

    @property
    def model_bytes(self) -> int:
        """Sum of the hosts' model sizes (each host measures its own)."""
        executor = self._head.executor
        return sum(executor.gather([executor.call(host, "model_bytes") for host in self._head.hosts]))

    def host_bytes(self) -> list[int]:
        """Each host's model size, in the order of :attr:`handles`."""
        executor = self._head.executor
        return executor.gather([executor.call(host, "model_bytes") for host in self._head.hosts])

    def describe(self) -> dict:
        """JSON-able snapshot: the learner's own ``describe()`` shape where it has one (iHOMER's
        partition gains each group's ``shard``), else the labels of each shard."""
        return self._head.describe()
