"""A few numbers that stand for a record's inputs, for the input monitor's two-sample tests."""

from __future__ import annotations

import hashlib
import typing

import numpy as np

__all__ = ["FeatureSketch"]


class FeatureSketch:
    """The features themselves when there are few, else a fixed random projection to ``dims`` numbers.

    Which one is decided by the feature space of the first ``warmup`` records (their names taken
    together; nothing is watched before): with at most ``max_raw`` names, those features (a feature
    absent from a record is 0, features first seen later are not watched); with more (text
    embeddings, bag-of-words), ``dims`` sums ``sum_f x_f * w_f[d]`` where each feature's vector
    ``w_f`` is drawn from a generator seeded with ``seed`` and the feature's name. Sparse records
    name only a few features each: chosen by the first record, the raw features of a bag-of-words
    were a handful of its words, each absent from most references (a word's first appearance then
    stood at thousands of standard errors). The projection needs no list of features up front,
    treats sparse records naturally, and is the same in every process (names are hashed with
    SHA-256, not Python's salted ``hash``).

    Parameters
    ----------
    max_raw
        Most features watched one by one.
    dims
        Size of the projection.
    seed
        Seed of the projection vectors.
    warmup
        Records whose feature names decide between raw features and the projection.

    Examples
    --------
    >>> sketch = FeatureSketch(max_raw=3, warmup=2)
    >>> sketch.transform({"b": 2.0}), sketch.projected
    ([], None)
    >>> sketch.transform({"a": 1.0})
    [('a', 1.0), ('b', 0.0)]
    >>> sketch.transform({"a": 5.0, "z": 9.0})
    [('a', 5.0), ('b', 0.0)]
    >>> wide = FeatureSketch(max_raw=3, dims=2, seed=1, warmup=2)
    >>> wide.transform({"f0": 1.0, "f1": 1.0}), wide.transform({"f2": 1.0, "f3": 1.0})[0][0]
    ([], 'proj0')

    """

    #: Most projection vectors kept; beyond that they are recomputed at each use.
    CACHE = 100_000

    def __init__(self, max_raw: int = 16, dims: int = 8, seed: int = 0, warmup: int = 200):
        if max_raw < 0 or dims < 1 or warmup < 1:
            raise ValueError(f"max_raw must be >= 0, dims and warmup >= 1, got {max_raw}, {dims} and {warmup}")
        self.max_raw = max_raw
        self.dims = dims
        self.seed = seed
        self.warmup = warmup
        self._warmup_seen = 0
        self._warmup_names: set[str] = set()
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
        """Whether records are projected; ``None`` during the warm-up."""
        return self._projected

    @property
    def warmup_left(self) -> int:
        """Records still to see before the sketch decides what it watches (0 once decided)."""
        return 0 if self._projected is not None else self.warmup - self._warmup_seen

    def transform(self, x: typing.Mapping) -> list[tuple[str, float]]:
        """The watched numbers of one record, as ``(name, value)`` pairs in a fixed order (none during the warm-up)."""
        if self._projected is None:
            # A set past max_raw names is not grown further: a wide space is projected anyway.
            if len(self._warmup_names) <= self.max_raw:
                self._warmup_names.update(str(name) for name in x)
            self._warmup_seen += 1
            if self._warmup_seen < self.warmup:
                return []
            self._projected = len(self._warmup_names) > self.max_raw
            if not self._projected:
                self._raw = tuple(sorted(self._warmup_names))
            self._warmup_names = set()
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
        if "warmup" not in state:  # pickled when the first record decided
            state.update(warmup=1, _warmup_seen=1 if state.get("_projected") is not None else 0, _warmup_names=set())
        self.__dict__.update(state)
        if vectors is not None:
            self._rows = {name: k for k, name in enumerate(vectors)}
            self._table = np.stack(list(vectors.values())) if vectors else np.zeros((0, self.dims))
