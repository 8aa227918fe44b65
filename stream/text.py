"""Multi-label raw-text datasets: JSON Lines files of ``{id, text, labels}``, gzip or plain.

:class:`TextDataset` reads one lazily, line by line, and yields :class:`TextInstance` objects
(id, text, the labels that are on). The field names are configurable (:class:`TextFields`), so
any JSON Lines file with a text and a list of labels per line can be read; a line without the
id field gets ``<dataset name>-<line number>`` (0-based). Turning text into features needs a
model and happens in :mod:`jobs` (the stream layer does not import torch).

Examples
--------
>>> import gzip, json, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "posts.jsonl.gz"
>>> with gzip.open(path, "wt", encoding="utf-8") as out:
...     _ = out.write(json.dumps({"body": "rain again", "tags": ["weather"]}) + "\\n")
...     _ = out.write(json.dumps({"body": "sunny and warm", "tags": ["weather", "joy"]}) + "\\n")
>>> posts = TextDataset(path, fields=TextFields(text="body", labels="tags"))
>>> [(i.id, i.text, i.labels) for i in posts]
[('posts-0', 'rain again', ('weather',)), ('posts-1', 'sunny and warm', ('weather', 'joy'))]
>>> posts.n_instances, posts.label_names
(2, ['weather', 'joy'])

"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import logging
import os
import pathlib
import typing

from stream.errors import DatasetShapeError, StreamError

__all__ = ["TextDataset", "TextDatasetError", "TextFields", "TextInstance", "is_text_path"]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".jsonl", ".jsonl.gz")


def is_text_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a JSON Lines file (``.jsonl`` or ``.jsonl.gz``).

    >>> is_text_path("data/goemotions.jsonl.gz"), is_text_path("yeast.arff")
    (True, False)

    """
    return str(path).lower().endswith(TEXT_SUFFIXES)


class TextDatasetError(StreamError, ValueError):
    """A line of a text dataset cannot be read; the message names the file, the line and why."""

    def __init__(self, file, line: int | None, reason: str):
        super().__init__(f"{file}:{line}: {reason}" if line is not None else f"{file}: {reason}")
        self.file = str(file)
        self.line = line
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class TextFields:
    """Names of the fields holding the text, the labels and the id on each line."""

    text: str = "text"
    labels: str = "labels"
    id: str = "id"


@dataclasses.dataclass(frozen=True, slots=True)
class TextInstance:
    """One labelled text: its id, the raw text and the labels that are on (in file order)."""

    id: str
    text: str
    labels: tuple[str, ...]


class TextDataset:
    """A JSON Lines file of labelled texts as a re-iterable stream of :class:`TextInstance`.

    Parameters
    ----------
    path
        The ``.jsonl`` or ``.jsonl.gz`` file.
    name
        Short name: the registry name, or the file name without extensions. Prefix of generated ids.
    fields
        Which fields hold the text, the labels and the id.
    n_instances, n_labels
        The registry's shape, checked at the end of the first complete pass.
    citation
        Where the data comes from (registered sets).

    """

    def __init__(
        self,
        path: str | os.PathLike,
        name: str | None = None,
        fields: TextFields = TextFields(),
        n_instances: int | None = None,
        n_labels: int | None = None,
        citation: str | None = None,
    ):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise TextDatasetError(self.path, None, "no such file")
        self.name = name if name is not None else self.path.name.split(".")[0]
        self.fields = fields
        self.citation = citation
        self._expected_instances = n_instances
        self._expected_labels = n_labels
        self._counted: int | None = None
        self._label_names: list[str] | None = None

    @property
    def n_instances(self) -> int | None:
        """Number of lines: from the registry, else known once a full pass has counted them."""
        return self._expected_instances if self._expected_instances is not None else self._counted

    @property
    def n_labels(self) -> int | None:
        """Number of distinct labels: from the registry, else known after a full pass."""
        if self._expected_labels is not None:
            return self._expected_labels
        return None if self._label_names is None else len(self._label_names)

    @property
    def label_names(self) -> list[str] | None:
        """Labels in order of first appearance, once a full pass has read them."""
        return self._label_names

    def _lines(self) -> typing.Iterator[bytes]:
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        with opener(self.path, "rb") as lines:
            yield from lines

    def _parse(self, line: bytes, lineno: int) -> TextInstance:
        def fail(reason: str) -> typing.NoReturn:
            raise TextDatasetError(self.path, lineno, reason)

        try:
            obj = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            fail(f"not a JSON object ({error})")
        if not isinstance(obj, dict):
            fail(f"a line must be a JSON object, got {type(obj).__name__}")
        text = obj.get(self.fields.text)
        if not isinstance(text, str) or not text.strip():
            fail(f"field {self.fields.text!r} must be a non-blank string (use --text-field to name another field)")
        labels = obj.get(self.fields.labels)
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            fail(f"field {self.fields.labels!r} must be a list of label strings (use --labels-field to name another field)")
        if len(set(labels)) != len(labels):
            # Seen in the wild (Reuters-21578 has a story tagged corn twice): the label set is
            # still clear, so keep each label once and say so rather than refuse the dataset.
            logger.warning("%s:%d: field %r lists a label twice, kept once: %s", self.path, lineno, self.fields.labels, labels)
            labels = list(dict.fromkeys(labels))
        if self.fields.id in obj:
            record_id = obj[self.fields.id]
            if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or record_id == "":
                fail(f"field {self.fields.id!r} must be a non-empty string or an integer")
            record_id = str(record_id)
        else:
            record_id = f"{self.name}-{lineno - 1}"
        return TextInstance(record_id, text, tuple(labels))

    def __iter__(self) -> typing.Iterator[TextInstance]:
        count = 0
        seen: dict[str, None] = {}
        for lineno, line in enumerate(self._lines(), start=1):
            if not line.strip():
                continue
            instance = self._parse(line, lineno)
            seen.update(dict.fromkeys(instance.labels))
            count += 1
            yield instance
        if self._counted is None:
            self._check("instances", self._expected_instances, count)
            self._check("labels", self._expected_labels, len(seen))
            self._counted = count
            self._label_names = list(seen)

    def _check(self, what: str, expected: int | None, actual: int) -> None:
        if expected is not None and expected != actual:
            raise DatasetShapeError(
                f"dataset {self.name!r} ({self.path}) has {actual} {what}, the registry expects {expected}; "
                "the file is not the registered one"
            )

    def take(self, n: int) -> typing.Iterator[TextInstance]:
        """The first ``n`` instances, lazily (the file is closed once they are read)."""
        instances = iter(self)
        try:
            yield from itertools.islice(instances, n)
        finally:
            instances.close()

    def __repr__(self) -> str:
        rows = "?" if self.n_instances is None else self.n_instances
        return f"TextDataset({self.name!r}, instances={rows}, path='{self.path}')"
