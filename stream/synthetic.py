"""A seeded multi-label stream whose label dependencies and feature concept drift at known points."""

from __future__ import annotations

import math
import typing

import numpy as np

__all__ = ["DRIFT_KINDS", "DriftingMultiLabelStream"]

#: What a drift may change.
DRIFT_KINDS = ("labels", "features", "both")


class DriftingMultiLabelStream:
    """A seeded multi-label stream whose label dependencies and feature concept drift at known points.

    How an instance is generated (concept ``k`` in force, see below):

    1. **Labels.** The labels are split into ``n_groups`` contiguous groups (label ``i`` belongs to
       group ``i * n_groups // n_labels``). Each group is either *correlated* or *independent* under
       concept ``k``:

       * correlated: a latent group activation ``a ~ Bernoulli(group_rate)`` is drawn; each label of
         the group is then on with probability ``on_rate`` if ``a`` is 1, else ``off_rate``. The
         labels of the group co-occur.
       * independent: each label of the group is on with probability
         ``m = group_rate * on_rate + (1 - group_rate) * off_rate``, independently of the others.

       Both cases give every label the same marginal rate ``m``: a dependency drift changes which
       labels co-occur and nothing else, which is the case label-dependency drift detectors and
       online label clustering are built for.
    2. **Features.** Each label ``l`` has a prototype ``w_l`` in feature space (standard normal
       entries, drawn per concept). The features are the sum of the prototypes of the labels that
       are on, plus Gaussian noise: ``x = sum(w_l for l on) + noise * N(0, I)``. All ``n_features``
       features are present in every ``x``.

    Concepts and drifts: concept 0 makes the even-numbered groups correlated and the odd-numbered
    ones independent. Drift ``j`` (at ``drift_points[j]``) creates concept ``j + 1`` from concept
    ``j`` according to its kind:

    * ``"labels"``: every group flips, correlated <-> independent (independent groups become
      correlated, correlated ones independent; a second such drift flips them back);
    * ``"features"``: new prototypes are drawn for every label (the feature -> label concept
      changes; label statistics stay the same);
    * ``"both"``: both at once.

    A drift of width 0 is abrupt: instance ``t`` (0-based) belongs to the new concept when
    ``t >= drift_points[j]``. A drift of width ``w > 0`` is gradual as in MOA's
    ``ConceptDriftStream``: instance ``t`` is drawn from the new concept with probability
    ``1 / (1 + exp(-4 (t - p) / w))``, so the change is centred on ``p`` and mostly happens within
    ``w`` instances. With several drifts, instance ``t`` belongs to concept ``j`` where ``j`` is the
    number of consecutive drifts, from the first, that it has passed.

    Feature names are ``x0 .. x{n_features - 1}``, label names ``y0 .. y{n_labels - 1}``.

    Parameters
    ----------
    n_instances
        Number of instances each pass yields.
    n_features
        Number of features.
    n_labels
        Number of labels.
    drift_points
        Increasing instance positions (0 < p < ``n_instances``) where a drift is centred.
    seed
        Seed of the generator; every pass over the same stream yields the same instances. ``None``
        gives different instances on every pass.
    n_groups
        Number of label groups.
    drift_kinds
        ``"labels"``, ``"features"`` or ``"both"``: one kind for every drift, or one per drift.
    drift_width
        Width of every drift, or one per drift; 0 is abrupt.
    group_rate
        Probability that a correlated group is active.
    on_rate
        Probability that a label of an active correlated group is on.
    off_rate
        Probability that a label of an inactive correlated group is on.
    noise
        Standard deviation of the Gaussian noise added to each feature.

    Examples
    --------
    >>> stream = DriftingMultiLabelStream(
    ...     n_instances=1000, n_features=5, n_labels=6, drift_points=[500], seed=42, n_groups=2
    ... )
    >>> stream.drift_points, stream.label_names
    ((500,), ['y0', 'y1', 'y2', 'y3', 'y4', 'y5'])
    >>> stream.groups
    (('y0', 'y1', 'y2'), ('y3', 'y4', 'y5'))
    >>> x, y = next(iter(stream))
    >>> sorted(x) == stream.feature_names, type(y["y0"])
    (True, <class 'bool'>)

    Group ``(y0, y1, y2)`` is correlated before the drift and independent after it; ``(y3, y4, y5)``
    the other way round. The share of rows where two labels of a group are on together shows it
    (0.194 expected when correlated, 0.076 when independent):

    >>> def together(rows, a, b):
    ...     return sum(y[a] and y[b] for _, y in rows) / len(rows)
    >>> rows = list(stream)
    >>> round(together(rows[:500], "y0", "y1"), 2), round(together(rows[500:], "y0", "y1"), 2)
    (0.19, 0.07)
    >>> round(together(rows[:500], "y3", "y4"), 2), round(together(rows[500:], "y3", "y4"), 2)
    (0.1, 0.21)

"""

    def __init__(
        self,
        n_instances: int,
        n_features: int,
        n_labels: int,
        drift_points: typing.Sequence[int] = (),
        seed: int | None = None,
        n_groups: int = 3,
        drift_kinds: str | typing.Sequence[str] = "both",
        drift_width: int | typing.Sequence[int] = 0,
        group_rate: float = 0.3,
        on_rate: float = 0.8,
        off_rate: float = 0.05,
        noise: float = 0.5,
    ):
        self.n_instances = n_instances
        self.n_features = n_features
        self.n_labels = n_labels
        self.drift_points = tuple(drift_points)
        self.seed = seed
        self.n_groups = n_groups
        self.drift_kinds = drift_kinds
        self.drift_width = drift_width
        self.group_rate = group_rate
        self.on_rate = on_rate
        self.off_rate = off_rate
        self.noise = noise
        self._check()

    def _check(self) -> None:
        if self.n_instances < 0 or self.n_features < 1 or self.n_labels < 1:
            raise ValueError("n_instances must be >= 0, n_features and n_labels >= 1")
        if not 1 <= self.n_groups <= self.n_labels:
            raise ValueError(f"n_groups must be between 1 and n_labels ({self.n_labels}), got {self.n_groups}")
        points = self.drift_points
        if any(not 0 < p < self.n_instances for p in points) or list(points) != sorted(set(points)):
            raise ValueError(f"drift_points must increase strictly within (0, {self.n_instances}), got {points}")
        for kind in self._kinds:
            if kind not in DRIFT_KINDS:
                raise ValueError(f"drift kind must be one of {DRIFT_KINDS}, got {kind!r}")
        if any(w < 0 for w in self._widths):
            raise ValueError(f"drift widths must be >= 0, got {self.drift_width}")
        for name in ("group_rate", "on_rate", "off_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")

    @property
    def _kinds(self) -> tuple[str, ...]:
        return self._per_drift(self.drift_kinds, "drift_kinds", str)

    @property
    def _widths(self) -> tuple[int, ...]:
        return self._per_drift(self.drift_width, "drift_width", (int, float))

    def _per_drift(self, value, name: str, scalar) -> tuple:
        if isinstance(value, scalar):
            return (value,) * len(self.drift_points)
        values = tuple(value)
        if len(values) != len(self.drift_points):
            raise ValueError(f"{name} needs one value per drift point ({len(self.drift_points)}), got {len(values)}")
        return values

    @property
    def label_names(self) -> list[str]:
        return [f"y{i}" for i in range(self.n_labels)]

    @property
    def feature_names(self) -> list[str]:
        return [f"x{i}" for i in range(self.n_features)]

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The label groups, as tuples of label names."""
        names = self.label_names
        return tuple(
            tuple(names[i] for i in range(self.n_labels) if i * self.n_groups // self.n_labels == g)
            for g in range(self.n_groups)
        )

    def correlated_groups(self, concept: int) -> tuple[int, ...]:
        """Indices of the groups whose labels co-occur under ``concept`` (0 .. number of drifts)."""
        flips = sum(kind != "features" for kind in self._kinds[:concept])
        return tuple(g for g in range(self.n_groups) if (g + flips) % 2 == 0)

    def _concepts(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per concept: which label belongs to a correlated group, and the label prototypes."""
        group_of = np.arange(self.n_labels) * self.n_groups // self.n_labels
        prototypes = rng.standard_normal((self.n_labels, self.n_features))
        concepts = []
        for concept in range(len(self.drift_points) + 1):
            if concept > 0 and self._kinds[concept - 1] != "labels":
                prototypes = rng.standard_normal((self.n_labels, self.n_features))
            correlated = np.isin(group_of, self.correlated_groups(concept))
            concepts.append((correlated, prototypes))
        return concepts

    def _concept_of(self, t: int, widths: tuple[int, ...], rng: np.random.Generator) -> int:
        concept = 0
        for point, width in zip(self.drift_points, widths):
            if width == 0:
                passed = t >= point
            else:
                passed = rng.random() < 1.0 / (1.0 + math.exp(-4.0 * (t - point) / width))
            if not passed:
                break
            concept += 1
        return concept

    def __iter__(self) -> typing.Iterator[tuple[dict[str, float], dict[str, bool]]]:
        rng = np.random.default_rng(self.seed)
        concepts = self._concepts(rng)
        group_of = np.arange(self.n_labels) * self.n_groups // self.n_labels
        independent_rate = self.group_rate * self.on_rate + (1.0 - self.group_rate) * self.off_rate
        label_names, feature_names, widths = self.label_names, self.feature_names, self._widths
        for t in range(self.n_instances):
            correlated, prototypes = concepts[self._concept_of(t, widths, rng)]
            active = rng.random(self.n_groups) < self.group_rate
            rate = np.where(
                correlated, np.where(active[group_of], self.on_rate, self.off_rate), independent_rate
            )
            on = rng.random(self.n_labels) < rate
            x = on.astype(float) @ prototypes + self.noise * rng.standard_normal(self.n_features)
            yield dict(zip(feature_names, x.tolist())), dict(zip(label_names, on.tolist()))

    def __repr__(self) -> str:
        return (
            f"DriftingMultiLabelStream(n_instances={self.n_instances}, n_features={self.n_features}, "
            f"n_labels={self.n_labels}, drift_points={list(self.drift_points)}, seed={self.seed})"
        )
