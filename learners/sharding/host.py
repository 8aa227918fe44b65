"""The object that lives in one shard actor: a :class:`ShardHost` around one part of a model."""

from __future__ import annotations

import copy
import pickle
import typing

#: Version of :meth:`ShardHost.state`'s layout; :meth:`ShardHost.load_state` refuses others.
STATE_VERSION = 1


class ShardPart(typing.Protocol):
    """What a host holds: the learners of one shard and the code that runs ops on them."""

    def apply(self, *args) -> typing.Any:
        """Run a batch of the head's ops on this part; return what the head needs back."""

    def control(self, command: str, *args) -> typing.Any:
        """Carry out a change of structure decided by the head."""

    @property
    def model_bytes(self) -> int:
        """Approximate size of the part's learners in memory."""


class ShardHost:
    """One shard of a sharded model: forwards the head's calls to its part and checkpoints it.

    Parameters
    ----------
    part
        The shard's learners (a :class:`ShardPart`). The host owns it from now on.

    Examples
    --------
    >>> from learners.majority import MajorityLabelset
    >>> from learners.sharding.label_split import LabelShard
    >>> from learners.sharding.ops import Learn, Predict
    >>> host = ShardHost(LabelShard(MajorityLabelset()))
    >>> host.apply([Learn({}, {"a": True}), Predict({})])
    ([None, {'a': 1.0}], [])
    >>> twin = ShardHost(LabelShard(MajorityLabelset()))
    >>> twin.load_state(host.state())
    >>> twin.apply([Predict({})])
    ([{'a': 1.0}], [])

    """

    def __init__(self, part: ShardPart):
        self._part = part

    def apply(self, *args) -> typing.Any:
        return self._part.apply(*args)

    def control(self, command: str, *args) -> typing.Any:
        return self._part.control(command, *args)

    def model_bytes(self) -> int:
        return self._part.model_bytes

    def describe(self) -> dict:
        return self._part.describe()

    def state(self) -> dict:
        """A snapshot of the part (pickled now, so later learning does not change it)."""
        return {"version": STATE_VERSION, "part": pickle.dumps(self._part, protocol=pickle.HIGHEST_PROTOCOL)}

    def load_state(self, state: dict) -> None:
        """Replace the part by the one a :meth:`state` snapshot holds."""
        version = state.get("version") if isinstance(state, dict) else None
        if version != STATE_VERSION:
            raise ValueError(f"shard host state version {version!r} is not {STATE_VERSION}")
        self._part = pickle.loads(state["part"])  # trusted: a checkpoint the job verified, or a live host


class HostFactory:
    """Picklable recipe of a host: a copy of ``part`` in a fresh :class:`ShardHost`.

    A Ray actor is built from it on whatever node it lands on, and rebuilt from it when it restarts
    (the head then loads the shard's last checkpoint into it).
    """

    def __init__(self, part: ShardPart):
        self.part = part

    def __call__(self) -> ShardHost:
        return ShardHost(copy.deepcopy(self.part))
