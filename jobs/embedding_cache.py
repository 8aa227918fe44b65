"""Sentence embeddings kept on disk, so that evaluating text twice embeds it once.

:class:`EmbeddingCache` is one SQLite file per model identity (the model's files, ``max_length``
and quantisation: :attr:`jobs.features.TextEmbedder.identity`), mapping a text's hash to its
float32 embedding. :class:`CachedEmbedder` puts it in front of a
:class:`~jobs.features.TextEmbedder`: only texts missing from the cache go through the model.
:class:`EmbeddedTextDataset` turns a :class:`stream.text.TextDataset` into the ``(x, y)`` stream
the offline evaluator reads, embedding chunk by chunk with the pipeline's extractor code.

The cache folder is ``$TAGSTREAM_CACHE_DIR/embeddings`` when that variable is set, else
``~/.cache/tagstream/embeddings``. Delete it at any time; it is rebuilt on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import pathlib
import sqlite3
import typing

import numpy as np

from jobs.features import DEFAULT_TEXT_MODEL, TextEmbedder
from stream.text import TextDataset

logger = logging.getLogger(__name__)

CACHE_DIR_VARIABLE = "TAGSTREAM_CACHE_DIR"

#: Texts embedded (or looked up) together when streaming a text dataset.
CHUNK = 512


def default_cache_dir() -> pathlib.Path:
    """``$TAGSTREAM_CACHE_DIR/embeddings``, else ``~/.cache/tagstream/embeddings``."""
    root = os.environ.get(CACHE_DIR_VARIABLE)
    base = pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "tagstream"
    return base / "embeddings"


def text_key(text: str) -> bytes:
    """The cache key of a text: a 16-byte BLAKE2b digest of its UTF-8 bytes.

    >>> text_key("a cat").hex()
    '6eda1d6f0337894464a66e34f5d33507'

    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Embeddings of one model by text hash, in the SQLite file ``<folder>/<identity>.sqlite``.

    Parameters
    ----------
    folder
        Folder of the cache files (created when missing).
    identity
        The model identity (see :attr:`jobs.features.TextEmbedder.identity`).
    dimensions
        Length of every embedding; a stored vector of another length is an error.

    Examples
    --------
    >>> import tempfile
    >>> with EmbeddingCache(tempfile.mkdtemp(), "m1", dimensions=2) as cache:
    ...     cache.put(["hi"], np.array([[0.6, 0.8]], dtype=np.float32))
    ...     found = cache.get(["hi", "new"])
    >>> sorted(found), found[0].tolist()
    ([0], [0.6000000238418579, 0.800000011920929])

    """

    def __init__(self, folder: str | os.PathLike, identity: str, dimensions: int):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{identity}.sqlite"
        self.dimensions = dimensions
        # One writer at a time; concurrent evaluations wait on the lock rather than fail.
        self._db = sqlite3.connect(self.path, timeout=60.0)
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self._db.commit()

    def get(self, texts: typing.Sequence[str]) -> dict[int, np.ndarray]:
        """The cached embeddings among ``texts``, by position in ``texts``."""
        keys = [text_key(text) for text in texts]
        positions: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            positions.setdefault(key, []).append(i)
        found: dict[int, np.ndarray] = {}
        unique = list(positions)
        for start in range(0, len(unique), 500):  # SQLite caps the parameters of one statement
            part = unique[start : start + 500]
            query = f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(part))})"
            for key, blob in self._db.execute(query, part):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape != (self.dimensions,):
                    raise ValueError(f"{self.path}: a cached embedding has {vector.size} values, expected {self.dimensions}")
                for i in positions[key]:
                    found[i] = vector
        return found

    def put(self, texts: typing.Sequence[str], vectors: np.ndarray) -> None:
        """Store the embedding of each text (rows of ``vectors``, float32)."""
        rows = [(text_key(text), np.asarray(vector, dtype=np.float32).tobytes()) for text, vector in zip(texts, vectors)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CachedEmbedder:
    """A :class:`~jobs.features.TextEmbedder` behind an :class:`EmbeddingCache`.

    ``embedded`` and ``cached`` count the texts that went through the model and those found in
    the cache. Without a cache (``cache=None``) every text is embedded.
    """

    def __init__(self, embedder, cache: EmbeddingCache | None):
        self.embedder = embedder
        self.cache = cache
        self.embedded = 0
        self.cached = 0

    @property
    def dimensions(self) -> int:
        return self.embedder.dimensions

    def embed(self, texts: typing.Sequence[str]) -> np.ndarray:
        found = self.cache.get(texts) if self.cache is not None else {}
        missing = [i for i in range(len(texts)) if i not in found]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, vector in found.items():
            out[i] = vector
        if missing:
            fresh = self.embedder.embed([texts[i] for i in missing])
            out[missing] = fresh
            if self.cache is not None:
                self.cache.put([texts[i] for i in missing], fresh)
        self.embedded += len(missing)
        self.cached += len(found)
        return out


class EmbeddedTextDataset:
    """A text dataset as the ``(x, y)`` stream of its embeddings, for the offline evaluator.

    ``x`` is the embedding as ``{"emb0": ..., ...}`` (the pipeline's extractor features), ``y``
    holds every label seen so far in the stream, on or off. Texts are embedded :data:`CHUNK` at
    a time, ahead of the learners; with ``limit`` only the first ``limit`` texts are read.
    """

    def __init__(self, texts: TextDataset, embedder: CachedEmbedder, limit: int | None = None):
        self.texts = texts
        self.embedder = embedder
        self.limit = limit
        self.name = texts.name
        self._known: dict[str, bool] = {}

    @property
    def n_instances(self) -> int | None:
        return self.texts.n_instances

    @property
    def n_features(self) -> int:
        return self.embedder.dimensions

    @property
    def label_names(self) -> list[str]:
        """Labels in order of first appearance: all of them after a full pass, else those seen so far."""
        return self.texts.label_names or list(self._known)

    @property
    def n_labels(self) -> int:
        """The registry's label count, else the labels seen in the last pass."""
        return self.texts.n_labels if self.texts.n_labels is not None else len(self._known)

    def __iter__(self) -> typing.Iterator[tuple[dict[str, float], dict[str, bool]]]:
        known = self._known = {}
        with contextlib.closing(iter(self.texts)) as texts:
            instances = itertools.islice(texts, self.limit)
            while chunk := list(itertools.islice(instances, CHUNK)):
                features = self.embedder.embedder.as_features(self.embedder.embed([i.text for i in chunk]))
                for x, instance in zip(features, chunk):
                    for label in instance.labels:
                        known.setdefault(label, False)
                    y = dict(known)
                    for label in instance.labels:
                        y[label] = True
                    yield x, y


def embedded_dataset(
    texts: TextDataset,
    cache_dir: str | os.PathLike | None,
    limit: int | None = None,
    model: str = DEFAULT_TEXT_MODEL,
    device: str = "auto",
) -> EmbeddedTextDataset:
    """``texts`` embedded with the pipeline's :class:`~jobs.features.TextEmbedder`, through the
    cache in ``cache_dir`` (``None``: no cache)."""
    embedder = TextEmbedder(model=model, device=device)
    cache = None if cache_dir is None else EmbeddingCache(cache_dir, embedder.identity, embedder.dimensions)
    return EmbeddedTextDataset(texts, CachedEmbedder(embedder, cache), limit=limit)
