"""The exported-model file: one trained learner with what it takes to use it elsewhere.

``tagstream export`` writes it from a job's checkpoints; :func:`load` (also ``learners.load``)
reads it back in any Python process, and ``tagstream run`` / ``evaluate --init-model`` start
from it. The format is defined here, in ``learners/``, so that reading a model needs nothing but
this package.

Layout of a file::

    tagstream-model-1\\n                  magic line (the format's version)
    {"learner": ..., ...}\\n              header: one line of JSON (see ModelFile)
    <pickle of the learner>             payload, as long as header["bytes"], SHA-256 header["sha256"]

The header says which learner it is (its catalogue name and class), the label space it was
trained on (in the order the learner met the labels), how many records it learned from, and
where it came from. A torn or altered payload fails the length or hash check, and a learner pickled
with an older state layout than its class reads (``learners.base.StaleLearnerState``) is refused at
load, naming the learner.

Trust boundary: the payload is a pickle, and loading a pickle runs code. Load only files from
sources as trusted as your own code (the hash catches accidents, not attacks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import typing

from learners.base import MultiLabelClassifier, StaleLearnerState

MAGIC = b"tagstream-model-1\n"


class ModelFileError(ValueError):
    """A model file cannot be read or does not fit where it is used; the message says why."""


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """A learner read from (or to be written to) a model file.

    Parameters
    ----------
    learner
        Catalogue name of the learner (``"mlhat"``, ...).
    model
        The trained learner.
    labels
        The label space it was trained on, in the order the learner met the labels.
    learned
        Records it learned from (the model version of its predictions).
    source
        Where it came from (a checkpoint location, a dataset), for people reading the header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from learners.majority import MajorityLabelset
    >>> model = MajorityLabelset()
    >>> model.learn_one({"x": 1.0}, {"a": True, "b": False})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pkl"
    >>> save(ModelFile("majority", model, labels=("a", "b"), learned=1), path)
    >>> load(path).predict_one({"x": 2.0})
    {'a': True, 'b': False}
    >>> read(path).labels
    ('a', 'b')

    """

    learner: str
    model: MultiLabelClassifier
    labels: tuple[str, ...]
    learned: int
    source: str = ""

    @property
    def kind(self) -> str:
        """The learner's class, ``module:QualifiedName``."""
        cls = type(self.model)
        return f"{cls.__module__}:{cls.__qualname__}"

    def model_copy(self) -> MultiLabelClassifier:
        """A copy of the model to go on learning with.

        A model file handed to a Ray actor arrives through the object store, where numpy arrays
        are read-only; learning needs arrays of its own. (Protocol 4: protocol 5 would carry the
        arrays' read-only flag over to the copy.)
        """
        return pickle.loads(pickle.dumps(self.model, protocol=4))

    def header(self) -> dict:
        return {"learner": self.learner, "class": self.kind, "labels": list(self.labels), "learned": self.learned, "source": self.source}

    def check_fits(self, learner: str, kind: str | None = None, labels: typing.Collection[str] | None = None) -> None:
        """Raise :class:`ModelFileError` unless this model can start learner ``learner`` (of class
        ``kind``, when given) on a stream whose label space is ``labels`` (when known).

        Every label the model knows must be one of the stream's; the stream may have labels the
        model has not met yet (rare ones), which it learns as they come, like any online learner.
        """
        if learner != self.learner:
            raise ModelFileError(f"the model file holds a {self.learner!r} learner, not {learner!r}")
        if kind is not None and kind != self.kind:
            raise ModelFileError(f"the model file's {self.learner!r} is a {self.kind}, this catalogue builds a {kind}")
        foreign = sorted(set(self.labels) - set(labels)) if labels is not None else []
        if foreign:
            raise ModelFileError(
                f"the model was trained on another label space: its labels {_few(foreign)} are not among the "
                f"stream's {len(labels)} labels ({_few(sorted(labels))})"
            )


def _few(names: list[str], shown: int = 5) -> str:
    if not names:
        return "[]"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return "[" + ", ".join(names[:shown]) + "]" + more


def save(model_file: ModelFile, path: str | os.PathLike) -> None:
    """Write ``model_file`` to ``path`` (under a temporary name, then renamed into place)."""
    payload = pickle.dumps(model_file.model, protocol=pickle.HIGHEST_PROTOCOL)
    header = model_file.header() | {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    temporary = f"{os.fspath(path)}.tmp-{os.getpid()}"
    with open(temporary, "wb") as file:
        file.write(MAGIC + json.dumps(header).encode("utf-8") + b"\n" + payload)
    os.replace(temporary, path)


def read(path: str | os.PathLike) -> ModelFile:
    """Read a model file, checking its format, length and hash; raises :class:`ModelFileError`."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise ModelFileError(f"cannot read model file {path}: {error.strerror or error}") from None
    if not data.startswith(MAGIC):
        raise ModelFileError(f"{path} is not a tagstream model file (write one with `tagstream export`)")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) : end])
        payload = data[end + 1 :]
        intact = end > 0 and len(payload) == header["bytes"] and hashlib.sha256(payload).hexdigest() == header["sha256"]
    except (ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        raise ModelFileError(f"model file {path} is torn or corrupt (its header, length or hash does not check)")
    try:
        model = pickle.loads(payload)  # trusted: see the module's trust boundary
    except StaleLearnerState as error:
        raise ModelFileError(
            f"model file {path} holds a {header['learner']!r} learner this version cannot go on from: {error.reason}. "
            "Start it fresh: train and export a new model, or run without --init-model"
        ) from None
    return ModelFile(header["learner"], model, tuple(header["labels"]), int(header["learned"]), header.get("source", ""))


def load(path: str | os.PathLike) -> MultiLabelClassifier:
    """The trained learner of a model file, ready for ``predict_one`` (and more ``learn_one``).

    See :func:`read` for its label space and the other header fields.
    """
    return read(path).model
