"""Atomic, verifiable, optionally signed checkpoints of a stage in a local folder or any fsspec location.

A checkpoint is one file ``ckpt-<sequence>.bin``: a magic line, a header (the epoch it belongs to,
the payload's length, its SHA-256 and, when signed, an HMAC-SHA256 of the epoch and payload), then
the payload (a pickle). It is written under a temporary name and renamed into place, so a reader
sees either the whole file or none; a file that is still torn (a crash during the copy on an
object store without atomic rename, a truncated disk) fails its length or hash check and is not
intact.

The *epoch* is given by the driver: the stages of a job checkpoint together, each under the same
epoch, and a job restores the newest epoch every stage holds intact (all-or-nothing).

Trust boundary: the payload is a pickle, and unpickling runs code. Checkpoints are only ever read
from the location the job is configured with; anyone who can write there can run code in the
job, so that location must be as private as the job's own code. With a key, a store verifies
the HMAC before it unpickles anything and refuses unsigned checkpoints and ones signed with
another key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import re
import struct
import typing
import uuid

import fsspec

from learners.base import StaleLearnerState

logger = logging.getLogger(__name__)

MAGIC = b"tagstream-checkpoint-2\n"
_MAGIC_V1 = b"tagstream-checkpoint-1\n"
_HEADER = struct.Struct(">QQB32s32s")  # epoch, payload length, signed, SHA-256 of the payload, HMAC
_HEADER_V1 = struct.Struct(">Q32s")  # payload length, SHA-256 of the payload
_NAME = re.compile(r"^ckpt-(\d{12})\.bin$")


class CheckpointError(RuntimeError):
    """A checkpoint location cannot be used; the message says which and why."""


class StaleCheckpoint(CheckpointError):
    """An intact checkpoint holds a learner pickled with a state layout this version cannot go on from."""


class CheckpointStore:
    """The checkpoints of one stage under ``uri`` (a path or an fsspec URI).

    Parameters
    ----------
    uri
        Folder of this stage's checkpoints, e.g. ``/var/lib/tagstream/ckpt/learner-0`` or
        ``s3://bucket/job/learner-0``. Created when missing.
    keep
        Checkpoints kept; older ones are deleted after each save (at least 2, so that a torn
        newest one still leaves a good one).
    key
        HMAC key: checkpoints are signed with it, and only checkpoints signed with it are read.

    Examples
    --------
    >>> import tempfile
    >>> store = CheckpointStore(tempfile.mkdtemp(), key=b"secret")
    >>> store.load_latest() is None
    True
    >>> _ = store.save({"offsets": {("records", 0): 10}}, epoch=1)
    >>> _ = store.save({"offsets": {("records", 0): 25}}, epoch=2)
    >>> store.epochs(), store.load(1)["offsets"]
    ([1, 2], {('records', 0): 10})
    >>> store.load_latest()["offsets"]
    {('records', 0): 25}
    >>> CheckpointStore(store.uri, key=b"another").epochs()
    []

    """

    def __init__(self, uri: str, keep: int = 3, key: bytes | None = None):
        if keep < 2:
            raise ValueError(f"keep must be at least 2 (a torn newest checkpoint needs a fallback), got {keep}")
        self.uri = uri
        self.keep = keep
        self._key = key
        self._fs, self._root = fsspec.core.url_to_fs(uri)
        self._fs.makedirs(self._root, exist_ok=True)
        self.torn = 0
        #: Why each file the last read found not intact is not used, by path.
        self.unusable: dict[str, str] = {}

    def _sequences(self) -> list[int]:
        names = (path.rstrip("/").rsplit("/", 1)[-1] for path in self._fs.ls(self._root, detail=False))
        return sorted(int(match.group(1)) for name in names if (match := _NAME.match(name)))

    def _path(self, sequence: int) -> str:
        return f"{self._root}/ckpt-{sequence:012d}.bin"

    def has_files(self) -> bool:
        """Whether any checkpoint file is there, intact or not."""
        return bool(self._sequences())

    def save(self, state: typing.Any, epoch: int | None = None) -> str:
        """Write ``state`` as the newest checkpoint of ``epoch`` (default: its sequence number); returns its path."""
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        sequences = self._sequences()
        sequence = sequences[-1] + 1 if sequences else 0
        epoch = sequence if epoch is None else epoch
        path = self._path(sequence)
        temporary = f"{self._root}/.tmp-{uuid.uuid4().hex}"
        digest = hashlib.sha256(payload).digest()
        mac = self._mac(epoch, payload) if self._key is not None else bytes(32)
        header = _HEADER.pack(epoch, len(payload), self._key is not None, digest, mac)
        with self._fs.open(temporary, "wb") as file:
            file.write(MAGIC + header + payload)
        self._fs.mv(temporary, path)
        for old in sequences[: max(0, len(sequences) + 1 - self.keep)]:
            self._fs.rm(self._path(old))
        logger.debug("checkpoint %s of epoch %d written (%d bytes)", path, epoch, len(payload))
        return path

    def _mac(self, epoch: int, payload: bytes) -> bytes:
        return hmac.new(self._key, struct.pack(">Q", epoch) + payload, hashlib.sha256).digest()

    def _intact(self) -> typing.Iterator[tuple[int, bytes]]:
        """``(epoch, payload)`` of every intact checkpoint this store may read, newest first."""
        self.unusable = {}
        for sequence in reversed(self._sequences()):
            path = self._path(sequence)
            with self._fs.open(path, "rb") as file:
                data = file.read()
            verified = self._verified(data, sequence)
            if isinstance(verified, str):
                self.torn += 1
                self.unusable[path] = verified
                logger.warning("checkpoint %s is not used: %s", path, verified)
                continue
            yield verified

    def _verified(self, data: bytes, sequence: int) -> tuple[int, bytes] | str:
        if data.startswith(_MAGIC_V1):
            if self._key is not None:
                return "it is not signed (written before checkpoints could be signed) and this job has a key"
            start = len(_MAGIC_V1) + _HEADER_V1.size
            if len(data) < start:
                return "torn (shorter than its header)"
            length, digest = _HEADER_V1.unpack(data[len(_MAGIC_V1) : start])
            epoch, signed, mac = sequence, False, b""
        elif data.startswith(MAGIC):
            start = len(MAGIC) + _HEADER.size
            if len(data) < start:
                return "torn (shorter than its header)"
            epoch, length, signed, digest, mac = _HEADER.unpack(data[len(MAGIC) : start])
        else:
            return "not a tagstream checkpoint (wrong magic)"
        payload = data[start:]
        if len(payload) != length or hashlib.sha256(payload).digest() != digest:
            return "torn or corrupt (length or SHA-256 does not match)"
        if self._key is not None:
            if not signed:
                return "it is not signed and this job has a key"
            if not hmac.compare_digest(mac, self._mac(epoch, payload)):
                return "its signature does not match this job's key (a foreign or forged checkpoint)"
        return epoch, payload

    def epochs(self) -> list[int]:
        """Epochs of the intact checkpoints, ascending."""
        return sorted({epoch for epoch, _ in self._intact()})

    def load(self, epoch: int) -> typing.Any:
        """The state of the intact checkpoint of ``epoch``; :class:`CheckpointError` when there is none."""
        for found, payload in self._intact():
            if found == epoch:
                return self._unpickle(payload, epoch)
        raise CheckpointError(f"no intact checkpoint of epoch {epoch} in {self.uri}")

    def load_latest(self) -> typing.Any | None:
        """The state of the newest intact checkpoint, ``None`` when there is none.

        Torn, corrupt, unsigned (with a key) or foreign ones are skipped with a warning (and
        counted in ``torn``).
        """
        for epoch, payload in self._intact():
            return self._unpickle(payload, epoch)
        return None

    def _unpickle(self, payload: bytes, epoch: int) -> typing.Any:
        try:
            return pickle.loads(payload)  # trusted: verified, and only the configured location is read
        except StaleLearnerState as error:
            raise StaleCheckpoint(
                f"the checkpoint of epoch {epoch} in {self.uri} holds a learner this version cannot go on from: "
                f"{error.reason}. Run with --fresh to start from fresh models (they replace these checkpoints)"
            ) from None


def read_key(path: str | None, value: str | None) -> bytes | None:
    """The checkpoint signing key: the contents of the file ``path`` (stripped), else ``value``.

    Examples
    --------
    >>> read_key(None, "k3y"), read_key(None, None)
    (b'k3y', None)

    """
    if path is not None:
        with open(path, "rb") as file:
            key = file.read().strip()
        if not key:
            raise CheckpointError(f"the checkpoint key file {path} is empty")
        return key
    return None if value is None else value.encode("utf-8")
