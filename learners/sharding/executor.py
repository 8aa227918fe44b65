"""Where shard hosts live and how the head calls them.

An :class:`Executor` starts one host per shard from a picklable factory and calls its methods.
Calls return futures; :meth:`Executor.gather` waits for them. A future given as a top-level
argument of another call is resolved before that call runs (Ray does this for object
references), so the head can chain hosts without waiting in between.

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
        """The results of ``futures``, in order (raising the first host error)."""


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

    """

    def start(self, factory: typing.Callable[[], typing.Any]) -> typing.Any:
        return factory()

    def call(self, handle: typing.Any, method: str, *args) -> LocalFuture:
        args = tuple(arg.value if isinstance(arg, LocalFuture) else arg for arg in args)
        return LocalFuture(getattr(handle, method)(*args))

    def gather(self, futures: typing.Sequence[LocalFuture]) -> list:
        return [future.value for future in futures]
