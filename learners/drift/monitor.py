"""The drift monitor: watches a labelled stream and the learners' errors, and raises few, precise alerts.

It is independent of the learners: it sees the records, the true labels and what each learner
predicted, never a learner's inside. See :class:`DriftMonitor`.
"""

from __future__ import annotations

import collections
import itertools
import math
import typing

from learners.drift.alerts import Alert, StreamPosition, event_id
from learners.drift.batch import Observation, observe_many
from learners.drift.detectors import WindowShiftBank
from learners.drift.family import CARDINALITY, LABELSET, Change, Family, PendingWarning
from learners.drift.lifecycle import LabelLifecycle, labels_on
from learners.drift.sketch import FeatureSketch

__all__ = ["DriftMonitor"]


class DriftMonitor:
    """Watches a multi-label stream for changes and raises :class:`~learners.drift.alerts.Alert` records.

    What it watches, each with window-shift detectors (:mod:`learners.drift.detectors`: a recent
    window against the reference window before it):

    * ``concept``: per learner, the error on each label (one-sided: only a rise) and the mean error
      over the label set;
    * ``prior``: how often each label is on, the label cardinality, and how often pairs of the
      ``max_pair_labels`` most frequent labels are on together (label dependencies);
    * ``feature``: the inputs, one by one when the first records name few, else a seeded random projection
      (:class:`~learners.drift.sketch.FeatureSketch`), on every record, labelled or not;
    * the label space (:class:`~learners.drift.lifecycle.LabelLifecycle`): ``label_born``,
      ``label_dormant``, ``label_revived``.

    Hygiene: within a kind (and learner), a change that moves many labels at once is one alert
    naming them all; after it the kind (for that learner) keeps quiet for ``cooldown`` records; a warning is raised
    once, then either escalates (the next drift names it in ``detail["escalates"]``) or expires.
    Every alert has a stable id from the job, the detector and the record's position, so the same
    records replayed after a restore from a checkpoint raise the same ids. The monitor pickles.

    Parameters
    ----------
    job
        Name of the job or evaluation, part of every event id.
    window, reference
        Sizes of the recent and reference windows of every detector, in records.
    min_reference
        Records the reference window must hold before a detector tests (all of ``reference`` when
        ``None``): a fresh detector (at the start, after a change) speaks later but is steadier,
        which keeps the learners' own early ups and downs from being taken for drift.
    concept_threshold, labelset_threshold, prior_threshold, pair_threshold, feature_threshold
        Standard errors beyond which each kind of detector signals a drift (per label error, mean
        error over the labels, a label's frequency and the cardinality, a pair's co-occurrence, an
        input). For a label's error or frequency (0/1 values) the statistic is an exact test's,
        as a normal deviate (:func:`~learners.drift.family.counts_z`): the normal one is far too
        sure of a rise at rare rates.
    warning_margin
        A warning is signalled this many standard errors below a drift threshold.
    name_threshold
        Standard errors at which a label is named in an alert raised by another detector of the
        same kind.
    min_effect
        Smallest change of an error rate or label frequency that counts (absolute).
    feature_min_effect_sd
        Smallest change of an input's mean that counts, in its standard deviations.
    cooldown
        Records a reported subject keeps quiet; also the pause between two warnings of a kind.
    gather
        Records during which the detectors that signal after the first one are taken as part of
        the same change; its alert is raised at the end of them (or by :meth:`flush`).
    warning_expiry
        Records after which a warning that did not escalate expires.
    max_pair_labels
        Labels whose pairwise co-occurrence is watched: the most frequent ones at the end of the
        warm-up.
    warmup, dormant_after, dormant_factor, dormant_after_s, born_factor
        Label-space settings (see :class:`~learners.drift.lifecycle.LabelLifecycle`).
    learner_warmup
        Labelled records of a learner (from the first the monitor sees of it) whose errors are not
        watched (``window`` when ``None``): a fresh learner's error falls fast and then wanders
        while it grows; with those records in the reference window its first tests took the
        learner's own ups for drift.
    max_raw_features, feature_dims, seed
        Input settings (see :class:`~learners.drift.sketch.FeatureSketch`).

    Examples
    --------
    Two labels; from record 1,500 on ``b`` is on far more often and the learner misses it:

    >>> import random
    >>> rng = random.Random(1)
    >>> monitor = DriftMonitor(job="doc")
    >>> alerts = []
    >>> for i in range(3000):
    ...     a, b = rng.random() < 0.3, rng.random() < (0.1 if i < 1500 else 0.6)
    ...     predicted = {"a": a if rng.random() < 0.9 else not a, "b": False}
    ...     alerts += monitor.update({"x": rng.random()}, {"a": a, "b": b}, {"model": predicted},
    ...                              StreamPosition(i), model_versions={"model": i})
    >>> [(alert.level, alert.kind, alert.labels, alert.learner, alert.last.index) for alert in alerts]  # doctest: +NORMALIZE_WHITESPACE
    [('warning', 'prior', ('b',), None, 1544), ('warning', 'concept', ('b',), 'model', 1559),
     ('drift', 'prior', ('b',), None, 1609), ('drift', 'concept', ('b',), 'model', 1618)]

    Each drift is raised 50 records after the record that set it off (more labels may join it). It escalates the
    warning before it, and names its window and the model version:

    >>> drift = alerts[3]
    >>> drift.detail["escalates"] == alerts[1].event_id, drift.first.index, drift.model_version, drift.detector
    (True, 1369, 1618, 'concept/model')

    """

    def __init__(
        self,
        job: str = "tagstream",
        window: int = 200,
        reference: int = 1000,
        min_reference: int | None = None,
        concept_threshold: float = 6.0,
        labelset_threshold: float = 6.0,
        prior_threshold: float = 5.0,
        pair_threshold: float = 5.5,
        feature_threshold: float = 5.5,
        warning_margin: float = 1.0,
        name_threshold: float = 4.0,
        min_effect: float = 0.05,
        feature_min_effect_sd: float = 0.25,
        cooldown: int = 1000,
        gather: int = 50,
        warning_expiry: int = 500,
        max_pair_labels: int = 12,
        warmup: int = 200,
        dormant_after: int | None = 1000,
        dormant_factor: float = 10.0,
        dormant_after_s: float | None = None,
        born_factor: float = 10.0,
        learner_warmup: int | None = None,
        max_raw_features: int = 16,
        feature_dims: int = 8,
        seed: int = 0,
    ):
        if min(warning_margin, cooldown, gather, max_pair_labels) < 0 or warning_expiry < 1:
            raise ValueError("warning_margin, cooldown, gather and max_pair_labels must be >= 0, warning_expiry >= 1")
        self.job = job
        self.window = window
        self.reference = reference
        self.min_reference = min_reference
        self.concept_threshold = concept_threshold
        self.labelset_threshold = labelset_threshold
        self.prior_threshold = prior_threshold
        self.pair_threshold = pair_threshold
        self.feature_threshold = feature_threshold
        self.warning_margin = warning_margin
        self.name_threshold = name_threshold
        self.min_effect = min_effect
        self.feature_min_effect_sd = feature_min_effect_sd
        self.cooldown = cooldown
        self.gather = gather
        self.warning_expiry = warning_expiry
        self.max_pair_labels = max_pair_labels
        self.learner_warmup = window if learner_warmup is None else learner_warmup
        self.lifecycle = LabelLifecycle(warmup, dormant_after, dormant_factor, dormant_after_s, born_factor)
        self.sketch = FeatureSketch(max_raw_features, feature_dims, seed)
        self.clusters: dict[str, str] = {}
        self._concept: dict[str, Family] = {}
        self._prior = self._family("prior", "prior", None)
        self._prior.add(CARDINALITY, nearby=False, setwide=True, **self._settings(prior_threshold, "both", "empirical"))
        self._feature = self._family("feature", "feature", None)
        self._pairs: list[tuple[str, str]] | None = None
        self._pair_labels: list[str] = []
        self._frequency: collections.Counter[str] = collections.Counter()
        # Positions of the last `window` labelled records and of the last `window` records: the first
        # record of the window an alert is about.
        self._labelled_positions: collections.deque[StreamPosition] = collections.deque(maxlen=window)
        self._positions: collections.deque[StreamPosition] = collections.deque(maxlen=window)
        self._learner_records: dict[str, int] = {}  # labelled records seen per learner

    # -- construction helpers -----------------------------------------------------------------------

    def _family(self, kind: str, name: str, learner: str | None) -> Family:
        bank = WindowShiftBank(self.window, self.reference, self.reference if self.min_reference is None else self.min_reference)
        # A label whose concept changed may see the learner's error fall: a concept alert names it too.
        return Family(kind, name, learner, bank, self.name_threshold, self.cooldown, name_falls=kind == "concept")

    def _settings(self, threshold: float, direction: str = "up", variance: str = "bernoulli", min_effect=None, min_effect_sd=0.0) -> dict:
        return {
            "threshold": threshold,
            "warning_threshold": max(threshold - self.warning_margin, 1e-9),
            "min_effect": self.min_effect if min_effect is None else min_effect,
            "min_effect_sd": min_effect_sd,
            "direction": direction,
            "variance": variance,
        }

    def set_clusters(self, clusters: typing.Mapping[str, str]) -> None:
        """Tell the monitor which cluster each label is in (iHOMER's partition); alerts name them."""
        self.clusters = {str(label): str(cluster) for label, cluster in clusters.items()}

    # -- input ---------------------------------------------------------------------------------------

    def update(
        self,
        x: typing.Mapping,
        y: typing.Mapping[str, bool] | typing.Iterable[str],
        predictions: typing.Mapping[str, typing.Mapping[str, bool]],
        position: StreamPosition,
        model_versions: typing.Mapping[str, int] | None = None,
    ) -> list[Alert]:
        """One labelled record: :meth:`observe_inputs` then :meth:`observe_labels`; returns the alerts raised."""
        return self.observe_inputs(x, position) + self.observe_labels(y, predictions, position, model_versions)

    def observe_inputs(self, x: typing.Mapping, position: StreamPosition) -> list[Alert]:
        """One record's inputs (labelled or not), as they arrive; returns the ``feature`` alerts raised."""
        self._positions.append(position)
        values = self.sketch.transform(x)
        family = self._feature
        if not family.subjects:
            for name, _ in values:
                family.add(name, **self._settings(self.feature_threshold, "both", "floored", 0.0, self.feature_min_effect_sd))
        drifting, warning = family.update(dict(values), position.index)
        return self._decide(family, drifting, warning, position, self._positions, None)

    def observe_labels(
        self,
        y: typing.Mapping[str, bool] | typing.Iterable[str],
        predictions: typing.Mapping[str, typing.Mapping[str, bool]],
        position: StreamPosition,
        model_versions: typing.Mapping[str, int] | None = None,
    ) -> list[Alert]:
        """One record's true labels and what each learner had predicted for it; returns the alerts raised.

        ``y`` is ``dict[label, bool]`` or the labels that are on; ``predictions`` maps each learner
        to its ``dict[label, bool]`` (labels it did not predict are off). ``model_versions`` maps
        each learner to the records it had learned from when it predicted.
        """
        on = labels_on(y)
        return self._labels_observed(on, predictions, position, model_versions, self._label_space_update(on, position))

    def _labels_observed(self, on: set[str], predictions, position: StreamPosition, model_versions, changes) -> list[Alert]:
        """:meth:`observe_labels` once the label space has taken the record in (its ``changes``)."""
        self._labelled_positions.append(position)
        index = position.index
        alerts = self._label_space_alerts(changes, position)
        known = self.lifecycle.labels
        prior = self._prior
        for label in known:
            if label not in prior.subjects:
                prior.add(label, (label,), **self._settings(self.prior_threshold, direction="both"))
        values = {label: float(label in on) for label in known}
        values[CARDINALITY] = float(len(on))
        if self._pairs is None and self.lifecycle.seen >= self.lifecycle.warmup:
            self._start_pairs()
        if self._pairs:
            # Co-variation against the labels' reference frequencies: a change of one label's
            # frequency alone leaves it unmoved, a change of how the two go together does not.
            reference = prior.bank.reference_mean
            rate = {label: reference[prior.subjects[label].index] for label in self._pair_labels}
            for a, b in self._pairs:
                values[f"{a}+{b}"] = ((a in on) - rate[a]) * ((b in on) - rate[b])
        alerts += self._decide(prior, *prior.update(values, index), position, self._labelled_positions, None)
        versions = model_versions or {}
        for learner, predicted in predictions.items():
            learned = self._learner_records[learner] = self._learner_records.get(learner, 0) + 1
            if learned <= self.learner_warmup:
                continue  # a young learner's error is its learning, not the stream's
            family = self._concept.get(learner)
            if family is None:
                family = self._concept[learner] = self._family("concept", f"concept/{learner}", learner)
                family.add(LABELSET, nearby=False, setwide=True,
                           **self._settings(self.labelset_threshold, variance="empirical", min_effect=self.min_effect / 2))
            errors = {}
            for label in known:
                if label not in family.subjects:
                    family.add(label, (label,), **self._settings(self.concept_threshold))
                errors[label] = float(bool(predicted.get(label, False)) != (label in on))
            errors[LABELSET] = sum(errors.values()) / max(len(errors), 1)
            drifting, warning = family.update(errors, index)
            alerts += self._decide(family, drifting, warning, position, self._labelled_positions, versions.get(learner))
        return alerts

    def observe_many(self, observations: typing.Sequence[Observation]) -> list[Alert]:
        """Many records at once, in stream order; returns the alerts raised.

        Each :class:`~learners.drift.batch.Observation` stands for the per-record calls
        (:meth:`set_clusters`, :meth:`observe_inputs`, :meth:`observe_labels`); the alerts, their
        order and the monitor's state after are those of the per-record calls, but the records
        where nothing but the detectors' windows changes are taken together, every label and
        record at once (:mod:`learners.drift.batch`).

        >>> monitor = DriftMonitor(job="doc", warmup=1, born_factor=0.0)  # a label is born when first on
        >>> [alert.kind for alert in monitor.observe_many([
        ...     Observation(StreamPosition(0), x={"f": 1.0}, labels={"a": True}, predictions={"m": {"a": True}}),
        ...     Observation(StreamPosition(1), x={"f": 0.5}, labels={"a": True, "b": True}, predictions={"m": {}}),
        ... ])]
        ['label_born']

        """
        return observe_many(self, observations)

    def _start_pairs(self) -> None:
        frequent = [label for label, _ in self._frequency.most_common(self.max_pair_labels)]
        self._pair_labels = sorted(frequent)
        self._pairs = list(itertools.combinations(self._pair_labels, 2))
        for a, b in self._pairs:
            self._prior.add(f"{a}+{b}", (a, b), nearby=False, **self._settings(self.pair_threshold, "both", "empirical"))

    def _label_space_update(self, on: set[str], position: StreamPosition) -> list[tuple[str, str]]:
        """Take a labelled record into the label space; return its changes (see :meth:`LabelLifecycle.update`)."""
        if self._pairs is None:
            self._frequency.update(on)
        return self.lifecycle.update(position.index, on, position.ts)

    def _label_space_alerts(self, changes: list[tuple[str, str]], position: StreamPosition) -> list[Alert]:
        alerts = []
        for kind, label in changes:
            life = self.lifecycle.labels[label]
            first = position
            # Only the index and time of a label's first and last records are kept.
            if kind == "label_dormant":
                first = StreamPosition(life.last_on, ts=life.last_on_ts)
            elif kind == "label_born":
                first = StreamPosition(life.first_on, ts=life.first_on_ts)
            if kind == "label_revived" and label in self._prior.subjects:
                self._prior.bank.reset(self._prior.subjects[label].index)  # its frequency starts again from here
            alerts.append(
                self._alert(
                    "drift", kind, "medium" if kind == "label_dormant" else "low", (label,), None, first, position, position,
                    None, f"labels/{kind}/{label}", {"name": "records_since_on", "value": position.index - life.last_on,
                     "threshold": self.lifecycle.dormant_after if kind == "label_dormant" else None}, {},
                )
            )
        return alerts

    # -- deciding and building alerts ----------------------------------------------------------------

    def _decide(self, family, drifting, warning, position, positions, model_version) -> list[Alert]:
        index = position.index
        if family.warning is not None and index >= family.warning.expires_at:
            family.warning = None
            family.quiet_until = index + self.cooldown
        if drifting:
            change = family.change
            if change is None:
                change = family.change = Change(index, positions[0], position)
            for subject in drifting:
                change.add(subject, family.statistic(subject))
            change.moved_pairs.update(s.labels for s in family.close_pairs())  # before their detectors restart
            family.reported(drifting, index)  # quiet from now on: they are part of this change
        if family.change is not None and index >= family.change.opened_at + self.gather:
            return [self._close(family, position, model_version)]
        if family.change is None and warning and family.warning is None and index >= family.quiet_until:
            labels = tuple(sorted({label for s in warning for label in s.labels}))
            strongest = max(warning, key=lambda s: abs(family.bank.statistic[s.index]))
            detail = {"expires_after": self.warning_expiry}
            if family.kind == "feature":
                detail["features"] = sorted(s.name for s in warning)
            alert = self._alert("warning", family.kind, "low", labels, family.learner, positions[0], position, position,
                                model_version, family.name, family.statistic(strongest), detail)
            family.warning = PendingWarning(alert.event_id, labels, index + self.warning_expiry)
            return [alert]
        return []

    def _explain_pairs(self, named: set[str], signalled: list[tuple[str, str]], moved: typing.Iterable[tuple[str, str]], index: int) -> set[str]:
        """The labels behind the signalled label pairs: picked greedily among the labels of every
        moved pair, until each signalled pair has one; those in a signalled pair are named.

        When one label's values change, its pairs with the labels it goes with move; the other
        label of each such pair did not change. So labels are picked by the number of moved pairs
        (signalled, or standing at ``name_threshold`` while the change was gathered) they are in,
        of those no label picked is in yet; between labels in as many, by the rise of the learners' error on them (only the changed
        label's relation to the inputs changed), when one stands at ``name_threshold / 4`` (one
        standard error at the default) or more. A tie that neither settles explains its pairs but
        names none of its labels: the alert lists the pair among the detectors that signalled
        (``detail["signalled"]``), and says no more than it knows. A pair with a label already
        named for its own frequency is explained by it. Only labels of signalled pairs are named:
        pairs are named when they signal themselves.

        The pairs alone cannot tell which label of a tie changed, and naming both names one that
        did not (half the names wrong, for a tie of two); a label whose error rose by a standard
        error while the other's did not is the better guess. (Two labels swapping values move their pairs with a third label that goes
        with both, and with no other: yeast's Class2/Class3 swap tied Class1 with Class2, whose
        error had risen 1.3 standard errors at the alert against 0.0, under the old floor of 2.)
        A label of no signalled pair may explain some of them first: on delicious, TAG_blog and
        TAG_tools swapped and TAG_blogs+TAG_tools signalled; TAG_blogs was in two moved pairs and
        TAG_tools in one, but TAG_blogs' other one, with TAG_blog, is one of TAG_blog's three.
        """
        uncovered = {frozenset(pair) for pair in signalled if not named.intersection(pair)}
        pending = {frozenset(pair) for pair in moved if not named.intersection(pair)} | uncovered
        chosen: set[str] = set()
        unsettled: set[str] = set()
        while uncovered:
            candidates = {label for pair in pending for label in pair}
            degree = {label: sum(label in pair for pair in pending) for label in candidates}
            best = max(degree.values())
            tied = [label for label in candidates if degree[label] == best]
            if len(tied) > 1:
                rise = {label: self._error_rise(label, index) for label in tied}
                top = max(rise.values())
                if top >= self.name_threshold / 4:
                    tied = [label for label in tied if rise[label] == top]
                else:
                    unsettled.update(tied)
            chosen.update(tied)
            pending = {pair for pair in pending if not pair & chosen}
            uncovered = {pair for pair in uncovered if not pair & chosen}
        return {label for label in chosen - unsettled if any(label in pair for pair in signalled)}

    def _error_rise(self, label: str, index: int) -> float:
        """The largest rise of a learner's error on ``label`` now, in standard errors (0 when none
        is tested; infinite when a ``concept`` alert named the label less than ``cooldown`` records ago)."""
        rise = 0.0
        for family in self._concept.values():
            if index < family.label_cool_until.get(label, -1):
                return math.inf  # its detector restarted after that alert: the rise was reported
            subject = family.subjects.get(label)
            if subject is not None and family.bank.ready[subject.index]:
                rise = max(rise, family.z(subject.index))
        return rise

    def _close(self, family: Family, position: StreamPosition, model_version: int | None) -> Alert:
        """The one alert of a change: every subject that signalled it, and those close behind now."""
        change, family.change = family.change, None
        subjects = family.named(list(change.subjects.values()), position.index)
        moved_pairs = change.moved_pairs | {s.labels for s in family.close_pairs()}
        family.reported([s for s in subjects if s.name not in change.subjects], position.index)
        family.cool_until = position.index + self.cooldown
        labels = {label for s in subjects if len(s.labels) != 2 for label in s.labels}
        labels = tuple(sorted(labels | self._explain_pairs(labels, [s.labels for s in subjects if len(s.labels) == 2], moved_pairs, position.index)))
        detail = {"signalled": sorted(change.subjects)}
        if family.kind == "feature":
            detail["features"] = sorted(s.name for s in subjects)
        if family.warning is not None:
            detail["escalates"] = family.warning.event_id
            family.warning = None
        wide = len(labels) >= max(2, len(self.lifecycle.present()) // 2)
        severity = "high" if change.ratio >= 2.0 or wide else "medium"
        return self._alert("drift", family.kind, severity, labels, family.learner, change.first, change.trigger, position,
                           model_version, family.name, change.statistic, detail)

    def flush(self, position: StreamPosition) -> list[Alert]:
        """Raise the alerts of changes still being gathered (at the end of a stream), as of ``position``."""
        families = [self._prior, self._feature, *self._concept.values()]
        return [self._close(family, position, None) for family in families if family.change is not None]

    def _alert(self, level, kind, severity, labels, learner, first, trigger, last, model_version, detector, statistic, detail) -> Alert:
        clusters = tuple(sorted({self.clusters[label] for label in labels if label in self.clusters}))
        return Alert(
            # The record that set the change off identifies it: the labels named may still grow after it.
            event_id=event_id(self.job, f"{level}/{detector}", (), trigger),
            level=level,
            kind=kind,
            severity=severity,
            labels=tuple(labels),
            learner=learner,
            clusters=clusters,
            first=first,
            last=last,
            model_version=model_version,
            detector=detector,
            statistic=statistic,
            job=self.job,
            detail=detail,
        )

    def __setstate__(self, state: dict) -> None:
        # A monitor pickled before learner warm-ups, moved pairs and named falls existed: its learners
        # are past any warm-up, a change it was gathering has no pairs recorded yet, and its concept
        # alerts name falls of the error as new ones do.
        self.__dict__.update(state)
        self.__dict__.setdefault("learner_warmup", 0)
        self.__dict__.setdefault("_learner_records", {})
        for family in [self._prior, self._feature, *self._concept.values()]:
            if family.change is not None and not hasattr(family.change, "moved_pairs"):
                family.change.moved_pairs = set()
            family.__dict__.setdefault("name_falls", family.kind == "concept")

    def __repr__(self) -> str:
        return f"DriftMonitor(job={self.job!r}, window={self.window}, labels={len(self.lifecycle.labels)})"
