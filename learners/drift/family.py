"""The monitor's detectors grouped by kind of change: a bank of detectors, what each is about, and
the state that turns their signals into one alert per change (gathering, cool-down, warnings)."""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import typing

import numpy as np

from learners.drift.alerts import StreamPosition
from learners.drift.detectors import DRIFT, NONE, WARNING, WindowShiftBank

__all__ = ["CARDINALITY", "LABELSET", "Change", "Family", "PendingWarning", "Subject", "counts_z"]

#: Subjects of a family that are not one label (the whole label set, the cardinality).
LABELSET = "labelset"
CARDINALITY = "cardinality"


_NORMAL = statistics.NormalDist()


@functools.lru_cache(maxsize=1 << 16)  # full windows: the same counts come back record after record
def counts_z(recent: int, window: int, reference: int, n_reference: int) -> float:
    """How far ``recent`` events in ``window`` records stand from ``reference`` in the ``n_reference``
    records before, as the normal deviate of an exact test (signed: positive when the recent rate
    is the higher).

    The test conditions on the events of both windows together: were the recent window any
    ``window`` of the ``window + n_reference`` records, its count would be hypergeometric. The
    one-sided mid-p tail in the direction of the change is turned into a z, so it reads like the
    normal statistic where that is right (rates away from 0 and 1) and stays honest where it is
    not: at rare rates the normal statistic takes the reference rate as known and the recent
    rate's spread as the reference's, and a label on 10 times in 1,000 records, then 10 times in
    200, stands at z 5.1 there against 3.4 here; 14 errors in 200 records against 14 in 1,000
    (2.8 expected) at 6.1 against 4.1.

    >>> round(counts_z(10, 200, 10, 1000), 2), round(counts_z(60, 200, 200, 1000), 2)
    (3.42, 3.04)
    >>> round(counts_z(0, 200, 50, 1000), 2)  # a label on 5 % of the time, then not in 200 records
    -3.92

    """
    total, records = recent + reference, window + n_reference
    if window * reference == recent * n_reference:
        return 0.0
    upper = recent * n_reference > reference * window
    low, high = max(0, total - n_reference), min(total, window)
    base = math.lgamma(total + 1) + math.lgamma(records - total + 1) - math.lgamma(records + 1)
    base += math.lgamma(window + 1) + math.lgamma(n_reference + 1)

    def mass(k: int) -> float:
        return math.exp(base - math.lgamma(k + 1) - math.lgamma(window - k + 1) - math.lgamma(total - k + 1)
                        - math.lgamma(n_reference - total + k + 1))

    beyond = range(recent + 1, high + 1) if upper else range(low, recent)
    tail = 0.5 * mass(recent) + math.fsum(mass(k) for k in beyond)
    z = -_NORMAL.inv_cdf(min(max(tail, 1e-300), 0.5))
    return z if upper else -z


@dataclasses.dataclass(slots=True)
class Subject:
    """One detector of a family's bank and what it is about.

    ``nearby``: the subject is named in an alert when it stands close to its threshold while
    another detector signals (one label, one input); set-wide subjects (the label set, the
    cardinality) and pairs are named only when they signal themselves, set-wide ones are
    restarted with every change of their family.
    """

    index: int
    labels: tuple[str, ...]
    name: str
    nearby: bool
    setwide: bool
    cool_until: int = -1


@dataclasses.dataclass(slots=True)
class PendingWarning:
    event_id: str
    labels: tuple[str, ...]
    expires_at: int


@dataclasses.dataclass(slots=True)
class Change:
    """A change being gathered: the detectors that signalled it since ``opened_at``."""

    opened_at: int
    first: StreamPosition
    trigger: StreamPosition
    subjects: dict[str, Subject] = dataclasses.field(default_factory=dict)
    statistic: dict = dataclasses.field(default_factory=dict)
    ratio: float = 0.0
    moved_pairs: set = dataclasses.field(default_factory=set)  # label pairs standing out while it was gathered

    def add(self, subject: Subject, statistic: dict) -> None:
        self.subjects[subject.name] = subject
        ratio = abs(statistic["value"]) / statistic["threshold"]
        if ratio > self.ratio:
            self.statistic, self.ratio = statistic, ratio


class Family:
    """The detectors of one kind of change (and one learner, for errors); one alert per change.

    When a detector signals a drift, the family gathers the change for ``gather`` records: every
    detector that signals in that time is part of it. Then one alert names the labels of all of
    them and of every other detector that stands at ``name_threshold`` or more; those detectors
    restart, and the family keeps quiet for ``cooldown`` records (its detectors restart when they
    signal in that time), so the same change, or its ripples in the learners' error, is not
    reported twice. A warning is raised once, escalates into the next drift of the family, or
    expires after the monitor's ``warning_expiry`` records; after it expires the family raises no
    new warning for ``cooldown`` records.

    With ``name_falls``, a one-sided (``up``) detector whose mean *fell* by ``name_threshold``
    standard errors is named too (never signals): a learner's error on a label whose relation to
    the inputs changed may fall as well as rise, when the label's new concept is one the learner
    already knows better than its old one (two labels swapping values: the learner had learned
    one of them well and the other not at all).
    """

    name_falls = False  # families pickled before it existed

    def __init__(self, kind: str, name: str, learner: str | None, bank: WindowShiftBank, name_threshold: float, cooldown: int,
                 name_falls: bool = False):
        self.kind = kind
        self.name = name
        self.learner = learner
        self.bank = bank
        self.name_threshold = name_threshold
        self.cooldown = cooldown
        self.name_falls = name_falls
        self.subjects: dict[str, Subject] = {}
        self.label_cool_until: dict[str, int] = {}
        self.warning: PendingWarning | None = None
        self.change: Change | None = None
        self.quiet_until = -1
        self.cool_until = -1  # the whole family keeps quiet after an alert: a change moves its inputs together

    def add(self, key: str, labels: tuple[str, ...] = (), nearby: bool = True, setwide: bool = False, **settings) -> None:
        self.subjects[key] = Subject(self.bank.add(**settings), labels, key, nearby, setwide)

    def update(self, values: typing.Mapping[str, float], index: int) -> tuple[list[Subject], list[Subject]]:
        """Feed one value per subject (by key); return the subjects signalling drift, and those signalling a warning."""
        levels = self.bank.update([values[key] for key in self.subjects])
        drifting, warning = [], []
        if not levels.any():
            return drifting, warning
        subjects = list(self.subjects.values())
        for i in np.flatnonzero(levels):
            subject = subjects[i]
            if self.cooling(subject, index):
                if levels[i] == DRIFT:
                    self.bank.reset(subject.index)  # the change already reported; build a new reference after it
                continue
            level = self._exact_level(i, levels[i])
            if level != NONE:
                (drifting if level == DRIFT else warning).append(subject)
        return drifting, warning

    def z(self, i: int) -> float:
        """Detector ``i``'s statistic: for 0/1 values the exact test's (:func:`counts_z`), else the bank's."""
        bank = self.bank
        if not (bank.bernoulli[i] and bank.ready[i]):
            return float(bank.statistic[i])
        n_reference = min(max(bank._t - int(bank._start[i]) - bank.window, 0), bank.reference)
        return counts_z(round(bank._recent_sum[i]), bank.window, round(bank._reference_sum[i]), n_reference)

    def _exact_level(self, i: int, level: int) -> int:
        """The bank's level for 0/1 values, lowered to what the exact test supports (the bank's normal
        statistic screens; it is too sure of itself at rare rates, and the exact test is too slow for
        every detector at every record)."""
        bank = self.bank
        if not bank.bernoulli[i]:
            return level
        z = self.z(i)
        z = z if bank.up[i] else abs(z)
        if z >= bank.threshold[i]:
            return level
        if z < bank.warning_threshold[i]:
            return NONE
        return WARNING if level == DRIFT else level

    def cooling(self, subject: Subject, index: int) -> bool:
        """Whether the subject, or a label it is about, was reported less than ``cooldown`` records ago."""
        if index < self.cool_until or index < subject.cool_until:
            return True
        return any(index < self.label_cool_until.get(l, -1) for l in subject.labels)

    def reported(self, subjects: list[Subject], index: int) -> None:
        """Restart the reported subjects, every subject about a reported label and the set-wide ones; cool down."""
        labels = {label for subject in subjects for label in subject.labels}
        for label in labels:
            self.label_cool_until[label] = index + self.cooldown
        for subject in self.subjects.values():
            if subject in subjects or labels.intersection(subject.labels):
                self.bank.reset(subject.index)
                subject.cool_until = index + self.cooldown
            elif subject.setwide:
                self.bank.reset(subject.index)  # the change moved it too

    def named(self, drifting: list[Subject], index: int) -> list[Subject]:
        """The drifting subjects plus those close behind: one alert names every label the change moved
        (with ``name_falls``, in either direction)."""
        bank = self.bank
        one_sided = bank.up & (not self.name_falls)
        z = np.where(one_sided, bank.statistic, np.abs(bank.statistic))
        size = np.where(one_sided, bank.effect, np.abs(bank.effect))
        # The normal statistic screens at half the threshold: the exact one stands further out than it
        # for a rate falling towards 0 (5 % to none in 200 records: 3.9 against 3.0).
        close = bank.ready & (z >= self.name_threshold / 2) & (size >= bank.min_effect)
        chosen = {s.name: s for s in drifting}
        subjects = list(self.subjects.values())
        for i in np.flatnonzero(close):
            subject = subjects[i]
            if subject.nearby and subject.name not in chosen and not self.cooling(subject, index):
                exact = self.z(i)
                if (exact if one_sided[i] else abs(exact)) >= self.name_threshold:
                    chosen[subject.name] = subject
        return list(chosen.values())

    def close_pairs(self) -> list[Subject]:
        """Subjects about two labels (label pairs) that stand at ``name_threshold`` or more now."""
        bank = self.bank
        close = bank.ready & (np.abs(bank.statistic) >= self.name_threshold) & (np.abs(bank.effect) >= bank.min_effect)
        subjects = list(self.subjects.values())
        return [subjects[i] for i in np.flatnonzero(close) if len(subjects[i].labels) == 2]

    def statistic(self, subject: Subject) -> dict:
        bank, i = self.bank, subject.index
        return {
            "name": "z",
            "subject": subject.name,
            "value": round(self.z(i), 3),
            "threshold": float(bank.threshold[i]),
            "reference_mean": round(float(bank.reference_mean[i]), 4),
            "recent_mean": round(float(bank.recent_mean[i]), 4),
        }
