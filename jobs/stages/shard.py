"""Learner shards on Ray: one actor per shard of a sharded learner, and the executor its head calls them through.

With ``learner_shards`` N > 1 each learner runs as a :class:`learners.sharding.ShardedModel`: the
head lives in the learner stage (:mod:`jobs.stages.learner`), which keeps the per-record loop
(dedupe, label join, metrics, drift monitor, dead letters); the hosts (:class:`~learners.sharding.ShardHost`) live
in :class:`ShardStage` actors, one each, started by the driver with the picklable factory the
head starts them from (:func:`host_factories`).

A shard is a checkpointing stage like the others (:class:`~jobs.stages.base.Restartable`): it
writes its host's state under the same epoch as every other stage and is restored all-or-nothing
with them. Beside its host's state it checkpoints its *position*: the head's input offsets that
the host's state covers. Every call the head makes carries the head's position now and the one
it last told that shard (checkpointed with the head); a shard whose own position is not the
latter refuses the call (:class:`ShardOutOfStep`), so a shard never goes on from a state its
head does not share.
"""

from __future__ import annotations

import logging
import pickle
import typing

from jobs.stages.base import Restartable
from learners.base import MultiLabelClassifier
from learners.sharding import ShardedModel
from learners.sharding.executor import Shared

logger = logging.getLogger(__name__)

#: Offsets of the head's input, per ``(topic, partition)``: what a shard's state covers.
Position = dict[tuple[str, int], int]


class ShardLayoutError(RuntimeError):
    """The shard actors the driver started do not match the hosts a sharded model starts."""


class ShardOutOfStep(RuntimeError):
    """A shard's state does not cover the records its head's call assumes (a shard restored apart)."""


class ShardTimeout(TimeoutError):
    """A shard did not answer its head within ``ray_timeout_s``."""


def owned(value):
    """A copy of ``value`` its receiver owns: numpy arrays in it writable.

    Ray hands a call's arguments and results over as read-only views of its object store. A host
    keeps and changes what it is given (a label group moved to it goes on learning there), as in
    one process (:class:`~learners.sharding.LocalExecutor`), so a shard copies its call's
    arguments once more (pickle protocol 4 copies array buffers; protocol 5 would keep them
    read-only); a :class:`~learners.sharding.executor.Shared` value (a batch's features, a root's
    answers) is only read and is not copied. Results are not copied: the head copies the little
    it goes on changing (groups a host hands back).

    Examples
    --------
    >>> import numpy as np
    >>> shared = np.zeros(2)
    >>> shared.setflags(write=False)
    >>> owned({"counts": shared})["counts"].flags.writeable
    True

    """
    return pickle.loads(pickle.dumps(value, protocol=4))


class ShardStage(Restartable):
    """One shard of a sharded learner: a :class:`~learners.sharding.ShardHost` in an actor.

    Parameters
    ----------
    factory
        The picklable factory the head starts this host from (one of :func:`host_factories`);
        called again on every start of the actor (a restart by Ray, then a restore).
    owner
        Whose state this shard's checkpoints hold, e.g. ``["ihomer", "shard 1 of 2"]``: a
        checkpoint of another learner or another split is refused.
    checkpoint_uri, checkpoint_keep, checkpoint_key
        Folder of this shard's checkpoints, how many are kept, and the HMAC key that signs them
        (see :class:`~jobs.stages.base.Restartable`).

    """

    STAGE = "learner shard"

    def __init__(
        self,
        factory: typing.Callable[[], typing.Any],
        owner: typing.Sequence[str],
        checkpoint_uri: str | None = None,
        checkpoint_keep: int = 3,
        checkpoint_key: bytes | None = None,
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.factory = factory
        self.owner = list(owner)
        self._host = factory()
        self._position: Position = {}

    def call(self, method: str, expected: Position, position: Position, *args):
        """Call the host's ``method(*args)`` for the head's batch that ends at ``position``.

        ``expected`` is where the head last told this shard its input was: the shard must be
        there (else :class:`ShardOutOfStep`), and is at ``position`` afterwards. ``args`` stay
        top-level arguments of the actor call, so that Ray resolves the futures among them (one
        host's result handed to another without a round trip through the head).
        """
        self._require_ready()
        if method.startswith("_"):
            raise AttributeError(f"a learner shard calls only public methods of its host, not {method!r}")
        if self._position != expected:
            raise ShardOutOfStep(
                f"{self.owner} covers the input up to {self._position}, its head expected {expected}: "
                "the shard and its head were not restored from the same checkpoint"
            )
        args = tuple(arg if isinstance(arg, Shared) else owned(arg) for arg in args)
        result = getattr(self._host, method)(*args)
        self._position = position
        return result

    def position(self) -> Position:
        """The head's input offsets this shard's state covers."""
        return dict(self._position)

    def _owner(self) -> list[str]:
        return self.owner

    def _state(self) -> dict:
        """The host's state and the input offsets it covers."""
        return {"host": self._host.state(), "offsets": dict(self._position)}

    def _apply_state(self, state: dict) -> None:
        self._host.load_state(state["host"])
        self._position = state["offsets"]
        logger.info("%s restored at offsets %s", self.owner, self._position)


class RayExecutor:
    """The :class:`~learners.sharding.Executor` a head in a learner stage calls its shard actors through.

    The shard actors are started by the driver (so that Ray restarts them, and the driver
    restores, checkpoints and stops them with every other stage): :meth:`start` hands them out
    in order. Futures are ``ObjectRef``s; :meth:`gather` waits ``timeout_s`` at most.

    Every call carries the head's input position (:attr:`position`, set by the learner stage
    for each batch) and the one this executor last sent the same shard (:attr:`told`), which the
    shard checks against its own (:meth:`ShardStage.call`). :attr:`told` is checkpointed with the
    head, so head and shards restored from the same epoch agree.

    Parameters
    ----------
    shards
        Handles of the :class:`ShardStage` actors, in the order the head starts its hosts.
    timeout_s
        Longest :meth:`gather` waits (``ray_timeout_s``).

    """

    def __init__(self, shards: typing.Sequence, timeout_s: float):
        self.shards = list(shards)
        self.timeout_s = timeout_s
        self._started = 0
        self._index = {id(handle): index for index, handle in enumerate(self.shards)}
        self.position: Position = {}
        self.told: list[Position] = [{} for _ in self.shards]

    def start(self, factory) -> typing.Any:
        """The next shard actor (started by the driver from the same ``factory``)."""
        if self._started >= len(self.shards):
            raise ShardLayoutError(
                f"the sharded model starts more hosts than the {len(self.shards)} shard actors the driver started"
            )
        handle = self.shards[self._started]
        self._started += 1
        return handle

    def call(self, handle, method: str, *args):
        index = self._index[id(handle)]
        expected, self.told[index] = self.told[index], self.position
        return handle.call.remote(method, expected, self.position, *args)

    def share(self, value) -> typing.Any:
        """One copy of ``value`` in Ray's object store, for every shard that takes it."""
        import ray

        return ray.put(value)

    def gather(self, futures: typing.Sequence) -> list:
        import ray

        try:
            # Not copied: a head copies the little it goes on changing (groups handed back by a host).
            return ray.get(list(futures), timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise ShardTimeout(f"a learner shard did not answer within {self.timeout_s} s") from None


class FactoryRecorder:
    """An executor that starts nothing: it records the factories a sharded model starts its hosts from.

    The driver builds each learner's sharded model over one of these to learn which hosts to
    start as actors (:func:`host_factories`); nothing is ever called on them.
    """

    def __init__(self):
        self.factories: list = []

    def start(self, factory) -> int:
        self.factories.append(factory)
        return len(self.factories) - 1

    def call(self, handle, method: str, *args):
        raise ShardLayoutError("a sharded model called a host while it was being built")

    def gather(self, futures: typing.Sequence) -> list:
        raise ShardLayoutError("a sharded model called a host while it was being built")

    def share(self, value) -> typing.Any:
        raise ShardLayoutError("a sharded model called a host while it was being built")


def host_factories(learner: MultiLabelClassifier, n_shards: int) -> list:
    """The factories of the hosts a sharded ``learner`` over ``n_shards`` starts, in start order.

    The driver starts one :class:`ShardStage` actor from each; the learner stage's head, built
    from an identical learner, starts the same hosts in the same order and gets those actors.

    Examples
    --------
    >>> from learners import registry
    >>> len(host_factories(registry.make("br-nb", seed=1), 3))
    3

    """
    recorder = FactoryRecorder()
    ShardedModel(learner, n_shards, recorder)
    return recorder.factories


def remote_shard_stage():
    """The Ray actor class of a learner shard (``ray`` is imported only here)."""
    import ray

    return ray.remote(ShardStage)
