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
        # The projection vectors kept, one row each, and each name's row: a record's matrix is
        # picked out of the table in one step (sparse records change names at every record).
        self._rows: dict[str, int] = {}
        self._table = np.zeros((0, dims))
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
            self._last_matrix = self._matrix([str(name) for name in names])
        values = np.fromiter(x.values(), dtype=float, count=len(names))
        return list(zip(self._names, (values @ self._last_matrix).tolist()))

    def _matrix(self, names: list[str]) -> np.ndarray:
        """The projection vectors of ``names``, one row each (kept in the table up to :data:`CACHE` names)."""
        rows = self._rows
        new = [name for name in dict.fromkeys(names) if name not in rows][: max(self.CACHE - len(rows), 0)]
        if new:
            start = len(rows)
            if start + len(new) > len(self._table):  # room for twice as many
                grown = np.zeros((max(64, 2 * (start + len(new))), self.dims))
                grown[:start] = self._table[:start]
                self._table = grown
            rows.update((name, start + k) for k, name in enumerate(new))
            self._table[start : start + len(new)] = [self._vector(name) for name in new]
        if all(name in rows for name in names):
            return self._table[[rows[name] for name in names]]
        return np.stack([self._table[rows[name]] if name in rows else self._vector(name) for name in names])

    def _vector(self, name: str) -> np.ndarray:
        digest = hashlib.sha256(f"{self.seed}\x1f{name}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(self.dims)

    def __setstate__(self, state: dict) -> None:
        # Pickled with the vectors in a dict: they become the table's rows.
        vectors = state.pop("_vectors", None)
        self.__dict__.update(state)
        if vectors is not None:
            self._rows = {name: k for k, name in enumerate(vectors)}
            self._table = np.stack(list(vectors.values())) if vectors else np.zeros((0, self.dims))
