"""A seeded multi-label stream that drifts at known points, in known ways, on known labels.

:class:`DriftingMultiLabelStream` generates it; :func:`open_synthetic` builds one from a short
spec such as ``synthetic:kind=prior+birth,at=2000+4000,seed=3``, which is how the command line's
``--dataset synthetic...`` reaches it.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np

from stream.errors import UnknownDatasetError

__all__ = ["DRIFT_KINDS", "SYNTHETIC", "Change", "DriftingMultiLabelStream", "is_synthetic", "open_synthetic"]

#: What a drift may change (see :class:`DriftingMultiLabelStream`).
DRIFT_KINDS = ("labels", "features", "both", "prior", "birth", "death", "recurring")

#: The dataset name of the synthetic stream on the command line.
SYNTHETIC = "synthetic"


@dataclasses.dataclass(frozen=True)
class Change:
    """One drift of a synthetic stream: where it is centred, how wide, what kind, which labels it changes."""

    position: int
    width: int
    kind: str
    labels: tuple[str, ...]


class DriftingMultiLabelStream:
    """A seeded multi-label stream that drifts at known points, in known ways, on known labels.

    How an instance is generated (concept ``k`` in force, see below):

    1. **Labels.** The labels are split into ``n_groups`` contiguous groups (label ``i`` belongs to
       group ``i * n_groups // n_labels``). Each group is either *correlated* or *independent* under
       concept ``k``, and has an activation rate ``r_g`` (``group_rate`` at first):

       * correlated: a latent group activation ``a ~ Bernoulli(r_g)`` is drawn; each label of the
         group is then on with probability ``on_rate`` if ``a`` is 1, else ``off_rate``. The labels
         of the group co-occur.
       * independent: each label of the group is on with probability
         ``m = r_g * on_rate + (1 - r_g) * off_rate``, independently of the others.

       Both cases give every label of the group the same marginal rate ``m``: a dependency drift
       changes which labels co-occur and nothing else. A label that is *absent* under concept
       ``k`` is never on.
    2. **Features.** Each label ``l`` has a prototype ``w_l`` in feature space (standard normal
       entries). The features are the sum of the prototypes of the labels that are on, plus
       Gaussian noise: ``x = sum(w_l for l on) + noise * N(0, I)``. All ``n_features`` features are
       present in every ``x``.

    Concepts and drifts: concept 0 makes the even-numbered groups correlated and the odd-numbered
    ones independent, and the last ``absent_labels`` labels absent. Drift ``j`` (at
    ``drift_points[j]``) creates concept ``j + 1`` from concept ``j`` according to its kind, on the
    groups ``drift_groups[j]`` (every group by default):

    * ``"labels"``: those groups flip, correlated <-> independent (label dependencies change);
    * ``"features"``: new prototypes for their labels (the feature -> label concept changes; label
      statistics stay the same);
    * ``"both"``: both at once;
    * ``"prior"``: their activation rate switches between ``group_rate`` and ``prior_rate`` (the
      labels' frequencies and the label cardinality change);
    * ``"birth"``: the next absent label appears (``absent_labels`` must leave one);
    * ``"death"``: the first label that is present and was present from the start disappears;
    * ``"recurring"``: concept ``j - 1`` comes back (needs a drift before it).

    :attr:`changes` lists every drift with the labels it changes, the ground truth a drift detector
    is scored against.

    A drift of width 0 is abrupt: instance ``t`` (0-based) belongs to the new concept when
    ``t >= drift_points[j]``. A drift of width ``w > 0`` is gradual as in MOA's
    ``ConceptDriftStream``: instance ``t`` is drawn from the new concept with probability
    ``1 / (1 + exp(-4 (t - p) / w))``, so the change is centred on ``p`` and mostly happens within
    ``w`` instances. With several drifts, instance ``t`` belongs to concept ``j`` where ``j`` is the
    number of consecutive drifts, from the first, that it has passed.

    Feature names are ``x0 .. x{n_features - 1}``, label names ``y0 .. y{n_labels - 1}``; every
    label is in every ``y`` (``False`` when off or absent).

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
        One of :data:`DRIFT_KINDS` for every drift, or one per drift.
    drift_width
        Width of every drift, or one per drift; 0 is abrupt.
    group_rate
        Probability that a correlated group is active (before any ``prior`` drift).
    on_rate
        Probability that a label of an active correlated group is on.
    off_rate
        Probability that a label of an inactive correlated group is on.
    noise
        Standard deviation of the Gaussian noise added to each feature.
    drift_groups
        Per drift, the indices of the groups it changes (``labels``, ``features``, ``both``,
        ``prior``); ``None`` (or ``None`` for one drift) changes every group.
    prior_rate
        Activation rate a group switches to (and back from) at a ``prior`` drift.
    absent_labels
        Labels (the last ones) absent at first, for ``birth`` drifts.
    name
        Name of the stream as a dataset.

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

    Local drifts, a label born and a label dying, with their ground truth:

    >>> stream = DriftingMultiLabelStream(
    ...     n_instances=4000, n_features=5, n_labels=6, drift_points=[1000, 2000, 3000], seed=1, n_groups=3,
    ...     drift_kinds=["prior", "birth", "death"], drift_groups=[[1], None, None], absent_labels=1,
    ... )
    >>> [(change.position, change.kind, change.labels) for change in stream.changes]
    [(1000, 'prior', ('y2', 'y3')), (2000, 'birth', ('y5',)), (3000, 'death', ('y0',))]
    >>> rows = list(stream)
    >>> any(y["y5"] for _, y in rows[:2000]), any(y["y5"] for _, y in rows[2000:])
    (False, True)

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
        drift_groups: typing.Sequence[typing.Sequence[int] | None] | None = None,
        prior_rate: float = 0.7,
        absent_labels: int = 0,
        name: str = SYNTHETIC,
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
        self.drift_groups = drift_groups
        self.prior_rate = prior_rate
        self.absent_labels = absent_labels
        self.name = name
        self._check()
        self._structure = self._structures()

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
        for name in ("group_rate", "on_rate", "off_rate", "prior_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if not 0 <= self.absent_labels < self.n_labels:
            raise ValueError(f"absent_labels must be between 0 and n_labels - 1, got {self.absent_labels}")
        for groups in self._groups_per_drift:
            if any(not 0 <= g < self.n_groups for g in groups):
                raise ValueError(f"drift_groups must hold group indices in [0, {self.n_groups}), got {self.drift_groups}")

    @property
    def _kinds(self) -> tuple[str, ...]:
        return self._per_drift(self.drift_kinds, "drift_kinds", str)

    @property
    def _widths(self) -> tuple[int, ...]:
        return self._per_drift(self.drift_width, "drift_width", (int, float))

    @property
    def _groups_per_drift(self) -> tuple[tuple[int, ...], ...]:
        every = tuple(range(self.n_groups))
        if self.drift_groups is None:
            return (every,) * len(self.drift_points)
        values = self._per_drift(self.drift_groups, "drift_groups", type(None))
        return tuple(every if groups is None else tuple(groups) for groups in values)

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
    def citation(self) -> None:
        return None

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The label groups, as tuples of label names."""
        names = self.label_names
        return tuple(
            tuple(names[i] for i in range(self.n_labels) if i * self.n_groups // self.n_labels == g)
            for g in range(self.n_groups)
        )

    @property
    def _group_of(self) -> np.ndarray:
        return np.arange(self.n_labels) * self.n_groups // self.n_labels

    def correlated_groups(self, concept: int) -> tuple[int, ...]:
        """Indices of the groups whose labels co-occur under ``concept`` (0 .. number of drifts)."""
        return tuple(int(g) for g in np.flatnonzero(self._structure[concept][0]))

    def _structures(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per concept: correlated groups, group rates, present labels, and per label the concept
        whose prototype draw it uses (a recurring concept reuses an earlier one's)."""
        group_of = self._group_of
        correlated = np.arange(self.n_groups) % 2 == 0
        rates = np.full(self.n_groups, self.group_rate)
        present = np.arange(self.n_labels) < self.n_labels - self.absent_labels
        source = np.zeros(self.n_labels, dtype=int)
        structures = [(correlated, rates, present, source)]
        unborn = list(range(self.n_labels - self.absent_labels, self.n_labels))
        for j, (kind, groups) in enumerate(zip(self._kinds, self._groups_per_drift)):
            correlated, rates, present, source = (part.copy() for part in structures[j])
            chosen = np.isin(np.arange(self.n_groups), groups)
            if kind in ("labels", "both"):
                correlated[chosen] = ~correlated[chosen]
            if kind in ("features", "both"):
                source[chosen[group_of]] = j + 1
            if kind == "prior":
                rates[chosen] = np.where(rates[chosen] == self.group_rate, self.prior_rate, self.group_rate)
            if kind == "birth":
                if not unborn:
                    raise ValueError(f"drift {j} is a birth but no absent label is left (absent_labels={self.absent_labels})")
                present[unborn.pop(0)] = True
            if kind == "death":
                alive = [i for i in range(self.n_labels - self.absent_labels) if present[i]]
                if not alive:
                    raise ValueError(f"drift {j} is a death but no label is left to die")
                present[alive[0]] = False
            if kind == "recurring":
                if j == 0:
                    raise ValueError("the first drift cannot be recurring: there is no earlier concept to come back")
                correlated, rates, present, source = (part.copy() for part in structures[j - 1])
            structures.append((correlated, rates, present, source))
        return structures

    @property
    def changes(self) -> list[Change]:
        """Every drift with the labels whose distribution or concept it changes."""
        group_of, names = self._group_of, self.label_names
        out = []
        for j, (point, width, kind) in enumerate(zip(self.drift_points, self._widths, self._kinds)):
            before, after = self._structure[j], self._structure[j + 1]
            changed = (before[0] != after[0])[group_of] | (before[1] != after[1])[group_of] | (before[3] != after[3])
            changed = (changed & before[2] & after[2]) | (before[2] != after[2])  # absent labels change only by birth or death
            out.append(Change(point, int(width), kind, tuple(names[i] for i in np.flatnonzero(changed))))
        return out

    def _concepts(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per concept: which label is in a correlated group, its group's rate, whether present, the prototypes."""
        group_of = self._group_of
        draws = {0: rng.standard_normal((self.n_labels, self.n_features))}
        for concept, kind in enumerate(self._kinds, start=1):
            if kind in ("features", "both"):
                draws[concept] = rng.standard_normal((self.n_labels, self.n_features))
        rows = np.arange(self.n_labels)
        return [
            (correlated[group_of], rates, present, np.stack([draws[source[l]][l] for l in rows]))
            for correlated, rates, present, source in self._structure
        ]

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
        group_of = self._group_of
        label_names, feature_names, widths = self.label_names, self.feature_names, self._widths
        for t in range(self.n_instances):
            correlated, rates, present, prototypes = concepts[self._concept_of(t, widths, rng)]
            active = rng.random(self.n_groups) < rates
            independent_rate = rates * self.on_rate + (1.0 - rates) * self.off_rate
            rate = np.where(
                correlated, np.where(active[group_of], self.on_rate, self.off_rate), independent_rate[group_of]
            )
            on = (rng.random(self.n_labels) < rate) & present
            x = on.astype(float) @ prototypes + self.noise * rng.standard_normal(self.n_features)
            yield dict(zip(feature_names, x.tolist())), dict(zip(label_names, on.tolist()))

    def __repr__(self) -> str:
        return (
            f"DriftingMultiLabelStream(n_instances={self.n_instances}, n_features={self.n_features}, "
            f"n_labels={self.n_labels}, drift_points={list(self.drift_points)}, seed={self.seed})"
        )


#: What ``--dataset synthetic`` alone generates: 6,000 records, 10 features, 12 labels in 3 groups,
#: abrupt drifts of labels and features at 2,000 and 4,000, seed 7.
SPEC_DEFAULTS = {"n": 6000, "features": 10, "labels": 12, "groups": 3, "at": (2000, 4000), "kind": ("both",),
                 "width": (0,), "seed": 7, "noise": 0.5}

_SPEC_HELP = (
    "synthetic[:key=value,...] with keys n (records), features, labels, groups, seed, noise, "
    "at (drift positions, joined with +), kind (one or one per drift, joined with +, of "
    + ", ".join(DRIFT_KINDS) + "), width (0 = abrupt; one or one per drift, joined with +)"
)


def is_synthetic(name: str) -> bool:
    """Whether a dataset name asks for the synthetic stream (``synthetic`` or ``synthetic:...``).

    >>> is_synthetic("synthetic"), is_synthetic("Synthetic:kind=prior"), is_synthetic("yeast")
    (True, True, False)

    """
    head = name.split(":", 1)[0]
    return head.lower() == SYNTHETIC


def open_synthetic(spec: str = SYNTHETIC) -> DriftingMultiLabelStream:
    """The synthetic stream a dataset name asks for (see ``SPEC_DEFAULTS`` for what is not given).

    Birth drifts get as many absent labels as they need.

    Examples
    --------
    >>> stream = open_synthetic("synthetic:kind=prior+birth,at=1000+2000,n=3000,seed=3")
    >>> stream.n_instances, stream.drift_points, [change.kind for change in stream.changes]
    (3000, (1000, 2000), ['prior', 'birth'])
    >>> open_synthetic("synthetic:kind=sideways")
    Traceback (most recent call last):
    ...
    stream.errors.UnknownDatasetError: bad synthetic spec 'synthetic:kind=sideways': drift kind must be one of ('labels', 'features', 'both', 'prior', 'birth', 'death', 'recurring'), got 'sideways'; expected synthetic[:key=value,...] with keys n (records), features, labels, groups, seed, noise, at (drift positions, joined with +), kind (one or one per drift, joined with +, of labels, features, both, prior, birth, death, recurring), width (0 = abrupt; one or one per drift, joined with +)

    """
    if not is_synthetic(spec):
        raise UnknownDatasetError(f"not a synthetic spec: {spec!r}; expected {_SPEC_HELP}")
    options = dict(SPEC_DEFAULTS)
    try:
        _, _, tail = spec.partition(":")
        for item in filter(None, tail.split(",")):
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or key not in SPEC_DEFAULTS:
                raise ValueError(f"unknown option {item!r}")
            if key in ("at", "width"):
                options[key] = tuple(int(v) for v in value.split("+") if v != "")
            elif key == "kind":
                options[key] = tuple(value.split("+"))
            elif key == "noise":
                options[key] = float(value)
            else:
                options[key] = int(value)
        points = options["at"]
        kinds, widths = options["kind"], options["width"]
        return DriftingMultiLabelStream(
            n_instances=options["n"],
            n_features=options["features"],
            n_labels=options["labels"],
            drift_points=points,
            seed=options["seed"],
            n_groups=options["groups"],
            drift_kinds=kinds[0] if len(kinds) == 1 else kinds,
            drift_width=widths[0] if len(widths) == 1 else widths,
            noise=options["noise"],
            absent_labels=(kinds * len(points) if len(kinds) == 1 else kinds).count("birth"),
        )
    except ValueError as error:
        raise UnknownDatasetError(f"bad synthetic spec {spec!r}: {error}; expected {_SPEC_HELP}") from None
