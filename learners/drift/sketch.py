"""A few numbers that stand for a record's inputs, for the input monitor's two-sample tests."""

from __future__ import annotations

import hashlib
import typing

import numpy as np

__all__ = ["FeatureSketch"]


class FeatureSketch:
    """The features themselves when there are few, else a fixed random projection to ``dims`` numbers.

    Which one is decided at the first record: with at most ``max_raw`` features, those features
    (by name; a feature absent from a record is 0, features first seen later are not watched);
    with more (text embeddings, bag-of-words), ``dims`` sums ``sum_f x_f * w_f[d]`` where each
    feature's vector ``w_f`` is drawn from a generator seeded with ``seed`` and the feature's name.
    The projection needs no list of features up front, treats sparse records naturally, and is the
    same in every process (names are hashed with SHA-256, not Python's salted ``hash``).

    Parameters
    ----------
    max_raw
        Most features watched one by one.
    dims
        Size of the projection.
    seed
        Seed of the projection vectors.

    Examples
    --------
    >>> sketch = FeatureSketch(max_raw=3)
    >>> sketch.transform({"b": 2.0, "a": 1.0})
    [('a', 1.0), ('b', 2.0)]
    >>> sketch.transform({"a": 5.0, "z": 9.0})
    [('a', 5.0), ('b', 0.0)]
    >>> wide = FeatureSketch(max_raw=3, dims=2, seed=1)
    >>> [name for name, _ in wide.transform({f"f{i}": 1.0 for i in range(10)})]
    ['proj0', 'proj1']

    """

    #: Most projection vectors kept; beyond that they are recomputed at each use.
    CACHE = 100_000

    def __init__(self, max_raw: int = 16, dims: int = 8, seed: int = 0):
        if max_raw < 0 or dims < 1:
            raise ValueError(f"max_raw must be >= 0 and dims >= 1, got {max_raw} and {dims}")
        self.max_raw = max_raw
        self.dims = dims
        self.seed = seed
        self._raw: tuple[str, ...] | None = None
        self._projected: bool | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._names = tuple(f"proj{d}" for d in range(dims))
        self._last_names: tuple | None = None
        self._last_matrix = np.zeros((0, dims))

    @property
    def projected(self) -> bool | None:
        """Whether records are projected; ``None`` before the first record."""
        return self._projected

    def transform(self, x: typing.Mapping) -> list[tuple[str, float]]:
        """The watched numbers of one record, as ``(name, value)`` pairs in a fixed order."""
        if self._projected is None:
            self._projected = len(x) > self.max_raw
            if not self._projected:
                self._raw = tuple(sorted(str(name) for name in x))
        if not self._projected:
            values = {str(name): value for name, value in x.items()}
            return [(name, float(values.get(name, 0.0))) for name in self._raw]
        names = tuple(x)
        if names != self._last_names:
            # Dense records repeat the same names in the same order: their vectors are stacked once.
            self._last_names = names
            self._last_matrix = np.stack([self._vector(str(name)) for name in names]) if names else np.zeros((0, self.dims))
        values = np.fromiter(x.values(), dtype=float, count=len(names))
        return list(zip(self._names, (values @ self._last_matrix).tolist()))

    def _vector(self, name: str) -> np.ndarray:
        vector = self._vectors.get(name)
        if vector is None:
            digest = hashlib.sha256(f"{self.seed}\x1f{name}".encode()).digest()
            vector = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(self.dims)
            if len(self._vectors) < self.CACHE:
                self._vectors[name] = vector
        return vector
