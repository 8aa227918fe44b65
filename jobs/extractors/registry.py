"""The text-extractor catalogue: short name -> description and constructor, like :mod:`learners.registry`.

A text extractor turns the text of records into numeric features; the extractor stage
(:mod:`jobs.stages.extractor`) builds the one named by ``ExtractorConfig.text_extractor`` at the
first text record. A new extractor is one module that defines a class taking the
:class:`~jobs.config.ExtractorConfig` and registers it with :func:`register`. The stage looks the
name up in the extractor actor's process, so a third-party module must be imported there too
(installed beside tagstream and imported by a Ray ``worker_process_setup_hook``, as the tests do
for their learners).

Examples
--------
>>> @register("length", "The text's length in characters")
... class LengthExtractor:
...     def __init__(self, config):
...         pass
...     def transform(self, texts):
...         return [{"chars": float(len(text))} for text in texts]
>>> make("length", config=None).transform(["four"])
[{'chars': 4.0}]
>>> make("nope", config=None)
Traceback (most recent call last):
...
jobs.extractors.registry.UnknownExtractorError: unknown text extractor 'nope'; choose from: ...
>>> del EXTRACTORS["length"]

"""

from __future__ import annotations

import typing

from jobs.catalogue import Catalogue, UnknownNameError


class TextExtractor(typing.Protocol):
    """Built from the extractor settings; turns a list of texts into one feature dict per text, in order."""

    def __init__(self, config) -> None: ...

    def transform(self, texts: typing.Sequence[str]) -> list[dict[str, float]]: ...


class UnknownExtractorError(UnknownNameError):
    """A text extractor name nothing is registered under."""


EXTRACTORS = Catalogue("text extractor", UnknownExtractorError)
register = EXTRACTORS.register
lookup = EXTRACTORS.lookup


def make(name: str, config) -> TextExtractor:
    """Build the text extractor registered as ``name`` from ``config`` (an ``ExtractorConfig``)."""
    return lookup(name).build(config)
