"""A catalogue of named, registered stage parts: the shape the extractor and sink registries share.

A :class:`Catalogue` maps a short name to an :class:`Entry` (name, description, constructor).
Classes register themselves with the catalogue's decorator; looking up a name it does not hold
raises the catalogue's error, which lists the names it holds.

Examples
--------
>>> class UnknownGreeterError(UnknownNameError):
...     pass
>>> GREETERS = Catalogue("greeter", UnknownGreeterError)
>>> @GREETERS.register("hello", "Says hello")
... class Hello:
...     pass
>>> GREETERS.lookup("hello").description
'Says hello'
>>> GREETERS.lookup("bye")
Traceback (most recent call last):
...
jobs.catalogue.UnknownGreeterError: unknown greeter 'bye'; choose from: hello

"""

from __future__ import annotations

import dataclasses
import typing


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    description: str
    build: typing.Callable[..., typing.Any]


class UnknownNameError(KeyError):
    """A name no class is registered under; the message lists the registered ones."""

    def __init__(self, kind: str, name: str, choices: typing.Iterable[str]):
        super().__init__(name)
        self.kind, self.name, self.choices = kind, name, list(choices)

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; choose from: {', '.join(self.choices)}"


class Catalogue(dict[str, Entry]):
    """Name -> :class:`Entry`, in registration order; ``kind`` names what it holds in errors."""

    def __init__(self, kind: str, error: type[UnknownNameError] = UnknownNameError):
        super().__init__()
        self.kind, self.error = kind, error

    def register(self, name: str, description: str):
        """Class decorator: register the class under ``name`` (another class of that name is an error)."""

        def add(cls):
            if name in self and self[name].build is not cls:
                raise ValueError(f"a {self.kind} named {name!r} is registered already ({self[name].build.__qualname__})")
            self[name] = Entry(name, description, cls)
            return cls

        return add

    def lookup(self, name: str) -> Entry:
        """The entry registered as ``name``; an unknown name raises the catalogue's error."""
        try:
            return self[name]
        except KeyError:
            raise self.error(self.kind, name, self) from None
