"""Atomic, verifiable checkpoints of a learner actor in a local folder or any fsspec location.

A checkpoint is one file ``ckpt-<sequence>.bin``: a magic line, the payload's length and SHA-256,
then the payload (a pickle). It is written under a temporary name and renamed into place, so a
reader sees either the whole file or none; a file that is still torn (a crash during the copy on
an object store without atomic rename, a truncated disk) fails its length or hash check and the
previous checkpoint is used instead.

Trust boundary: the payload is a pickle, and unpickling runs code. Checkpoints are only ever read
from the location the job is configured with; anyone who can write there can run code in the
job, so that location must be as private as the job's own code.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import struct
import typing
import uuid

import fsspec

logger = logging.getLogger(__name__)

MAGIC = b"tagstream-checkpoint-1\n"
_HEADER = struct.Struct(">Q32s")  # payload length, SHA-256 of the payload
_NAME = re.compile(r"^ckpt-(\d{12})\.bin$")


class CheckpointError(RuntimeError):
    """A checkpoint location cannot be used; the message says which and why."""


class CheckpointStore:
    """The checkpoints of one learner actor under ``uri`` (a path or an fsspec URI).

    Parameters
    ----------
    uri
        Folder of this actor's checkpoints, e.g. ``/var/lib/tagstream/ckpt/learner-0`` or
        ``s3://bucket/job/learner-0``. Created when missing.
    keep
        Checkpoints kept; older ones are deleted after each save (at least 2, so that a torn
        newest one still leaves a good one).

    Examples
    --------
    >>> import tempfile
    >>> store = CheckpointStore(tempfile.mkdtemp())
    >>> store.load_latest() is None
    True
    >>> _ = store.save({"offsets": {("records", 0): 10}})
    >>> _ = store.save({"offsets": {("records", 0): 25}})
    >>> store.load_latest()["offsets"]
    {('records', 0): 25}

    """

    def __init__(self, uri: str, keep: int = 3):
        if keep < 2:
            raise ValueError(f"keep must be at least 2 (a torn newest checkpoint needs a fallback), got {keep}")
        self.uri = uri
        self.keep = keep
        self._fs, self._root = fsspec.core.url_to_fs(uri)
        self._fs.makedirs(self._root, exist_ok=True)
        self.torn = 0

    def _sequences(self) -> list[int]:
        names = (path.rstrip("/").rsplit("/", 1)[-1] for path in self._fs.ls(self._root, detail=False))
        return sorted(int(match.group(1)) for name in names if (match := _NAME.match(name)))

    def _path(self, sequence: int) -> str:
        return f"{self._root}/ckpt-{sequence:012d}.bin"

    def save(self, state: typing.Any) -> str:
        """Write ``state`` as the newest checkpoint (write, then rename); returns its path."""
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        sequences = self._sequences()
        sequence = sequences[-1] + 1 if sequences else 0
        path = self._path(sequence)
        temporary = f"{self._root}/.tmp-{uuid.uuid4().hex}"
        with self._fs.open(temporary, "wb") as file:
            file.write(MAGIC + _HEADER.pack(len(payload), hashlib.sha256(payload).digest()) + payload)
        self._fs.mv(temporary, path)
        for old in sequences[: max(0, len(sequences) + 1 - self.keep)]:
            self._fs.rm(self._path(old))
        logger.debug("checkpoint %s written (%d bytes)", path, len(payload))
        return path

    def load_latest(self) -> typing.Any | None:
        """The state of the newest intact checkpoint, ``None`` when there is none.

        Torn or corrupt files are skipped with a warning (and counted in ``torn``).
        """
        for sequence in reversed(self._sequences()):
            path = self._path(sequence)
            with self._fs.open(path, "rb") as file:
                data = file.read()
            payload = _verified_payload(data)
            if payload is None:
                self.torn += 1
                logger.warning("checkpoint %s is torn or corrupt: falling back to the previous one", path)
                continue
            return pickle.loads(payload)  # trusted: only the configured location is read
        return None


def _verified_payload(data: bytes) -> bytes | None:
    start = len(MAGIC) + _HEADER.size
    if len(data) < start or not data.startswith(MAGIC):
        return None
    length, digest = _HEADER.unpack(data[len(MAGIC) : start])
    payload = data[start:]
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        return None
    return payload
