"""Where shard hosts live and how the head calls them.

An :class:`Executor` starts one host per shard from a picklable factory and calls its methods.
Calls return futures; :meth:`Executor.gather` waits for them. A future given as a top-level
argument of another call is resolved before that call runs (Ray does this for object
references), so the head can chain hosts without waiting in between. :meth:`Executor.share`
makes one future of a value that several hosts read (a batch's features): it crosses to them
once, not once per call.

:class:`LocalExecutor` keeps every host in this process and runs each call at once; the Ray
executor in ``jobs/`` puts each host in an actor (handles are actors, futures object refs).
"""

from __future__ import annotations

import typing


class Executor(typing.Protocol):
    """How a :class:`~learners.sharding.ShardedModel` reaches its hosts."""

    def start(self, factory: typing.Callable[[], typing.Any]) -> typing.Any:
        """Start a host built by ``factory()``; return its handle."""

    def call(self, handle: typing.Any, method: str, *args) -> typing.Any:
        """Call ``method(*args)`` on the host; return a future. Futures among ``args`` are resolved first."""

    def gather(self, futures: typing.Sequence) -> list:
        """The results of ``futures``, in order (raising the first host error). Arrays in them
        may be read-only views (Ray's object store): a head copies what it goes on changing."""

    def share(self, value: typing.Any) -> typing.Any:
        """A future of ``value`` (a :class:`Shared`, usually) that any number of calls may take as an argument."""


class Shared:
    """A value its receivers only read: the batch inputs a head sends to many hosts at once.

    What a host is handed may be a read-only view of the sender's buffers (Ray's object store),
    so a receiver keeps a :class:`Shared` value for reading and never changes it; everything else
    a host is handed is its own to change. Hosts copy nothing of it.

    Examples
    --------
    >>> Shared([{"u": 1.0}]).value
    [{'u': 1.0}]

    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return Shared, (self.value,)


class LocalFuture:
    """The result of a call that already ran in this process."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class LocalExecutor:
    """Every host in this process; each call runs when it is made.

    Examples
    --------
    >>> executor = LocalExecutor()
    >>> handle = executor.start(list)
    >>> executor.gather([executor.call(handle, "append", 3), executor.call(handle, "copy")])
    [None, [3]]
    >>> executor.gather([executor.call(handle, "extend", executor.call(handle, "copy"))]), handle
    ([None], [3, 3])
    >>> executor.gather([executor.call(handle, "count", executor.share(3))])
    [2]

    """

    def start(self, factory: typing.Callable[[], typing.Any]) -> typing.Any:
        return factory()

    def call(self, handle: typing.Any, method: str, *args) -> LocalFuture:
        args = tuple(arg.value if isinstance(arg, LocalFuture) else arg for arg in args)
        return LocalFuture(getattr(handle, method)(*args))

    def gather(self, futures: typing.Sequence[LocalFuture]) -> list:
        return [future.value for future in futures]

    def share(self, value) -> LocalFuture:
        return LocalFuture(value)
