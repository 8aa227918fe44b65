"""The drift monitor over many records at once: the alerts of the record-by-record calls, with the
per-label work done for every label and record together.

Almost every record changes nothing but the detectors' windows: no detector signals, no label is
new or falls quiet, no gathered change or warning is due. :func:`observe_many` looks ahead over a
run of records with :meth:`~learners.drift.detectors.WindowShiftBank.look_ahead` (numpy, one row
per record and one column per detector), finds the first record where something else happens,
takes the records before it in bulk and that record through the monitor's own per-record path,
then goes on after it. The look-ahead repeats the per-record arithmetic operation for operation, so
the alerts are the same, to the bit of their statistics, and so is the monitor's state after.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

from learners.drift.alerts import Alert, StreamPosition
from learners.drift.detectors import DRIFT, WARNING, Ahead
from learners.drift.family import CARDINALITY, LABELSET, Family, counts_z
from learners.drift.lifecycle import labels_on

if typing.TYPE_CHECKING:
    from learners.drift.monitor import DriftMonitor

__all__ = ["Observation", "observe_many"]

#: Most records looked ahead over at once (fewer when the monitor's windows are shorter): the
#: look-ahead holds about a dozen arrays of records x detectors.
MAX_AHEAD = 128


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """One record's worth of input to :meth:`~learners.drift.monitor.DriftMonitor.observe_many`.

    It stands for the per-record calls, in this order: ``set_clusters(clusters)`` when
    ``clusters`` is given, ``observe_inputs(x, position)`` when ``x`` is, and
    ``observe_labels(labels, predictions, position, model_versions)`` when ``labels`` is (a
    record that came with its labels has both; a late label only ``labels``).

    Parameters
    ----------
    position
        Where the record is in the stream.
    x
        The record's inputs, or ``None``.
    labels
        Its true labels (``dict[label, bool]`` or the labels that are on), or ``None``.
    predictions
        Per learner, what it had predicted for the record (``dict[label, bool]``).
    model_versions
        Per learner, the records it had learned from when it predicted.
    clusters
        The label clusters to name from now on (see :meth:`~learners.drift.monitor.DriftMonitor.set_clusters`).
    """

    position: StreamPosition
    x: typing.Mapping | None = None
    labels: typing.Mapping[str, bool] | typing.Iterable[str] | None = None
    predictions: typing.Mapping[str, typing.Mapping[str, bool]] = dataclasses.field(default_factory=dict)
    model_versions: typing.Mapping[str, int] | None = None
    clusters: typing.Mapping[str, str] | None = None


def observe_many(monitor: DriftMonitor, observations: typing.Sequence[Observation]) -> list[Alert]:
    """Feed ``observations`` in order; return the alerts the per-record calls would have raised."""
    alerts: list[Alert] = []
    start = 0
    while start < len(observations):
        stop, changes = _quiet_run(monitor, observations, start)
        if stop < len(observations) and stop < start + _cap(monitor):
            alerts += _one(monitor, observations[stop], changes)  # something happens here: the per-record path
            stop += 1
        start = stop
    return alerts


def _cap(monitor: DriftMonitor) -> int:
    return min(MAX_AHEAD, monitor.window, monitor.reference)


def _one(monitor: DriftMonitor, observation: Observation, changes: list | None) -> list[Alert]:
    """The per-record calls for one observation; ``changes``: its label space's, when already taken in."""
    if observation.clusters is not None:
        monitor.set_clusters(observation.clusters)
    alerts = []
    if observation.x is not None:
        alerts += monitor.observe_inputs(observation.x, observation.position)
    if observation.labels is None:
        return alerts
    if changes is None:
        return alerts + monitor.observe_labels(observation.labels, observation.predictions, observation.position,
                                               observation.model_versions)
    on = labels_on(observation.labels)
    return alerts + monitor._labels_observed(on, observation.predictions, observation.position, observation.model_versions, changes)


@dataclasses.dataclass(slots=True)
class _Rows:
    """The records of a quiet run that one family's detectors see: their place in the run, their
    stream indices and one row of values each."""

    at: list[int] = dataclasses.field(default_factory=list)
    index: list[int] = dataclasses.field(default_factory=list)
    values: list = dataclasses.field(default_factory=list)


def _quiet_run(monitor: DriftMonitor, observations: typing.Sequence[Observation], start: int) -> tuple[int, list | None]:
    """Take in bulk the records from ``start`` on that change nothing but the detectors' windows
    and the label space's counts, up to :data:`MAX_AHEAD` of them. Return where that run stopped
    and, when it stopped at a record whose labels changed the label space (a label new, back or
    fallen quiet), those changes: the record is taken into the label space already."""
    end = min(len(observations), start + _cap(monitor))
    lifecycle, prior = monitor.lifecycle, monitor._prior
    known = lifecycle.labels
    label_id = {label: i for i, label in enumerate(known)}
    if len(prior.subjects) != 1 + len(known) + len(monitor._pairs or ()):
        return start, None  # a label not watched yet
    concept = {name: family for name, family in monitor._concept.items() if len(family.subjects) == 1 + len(known)}
    features = monitor._feature
    inputs, labelled = _Rows(), _Rows()
    errors: dict[str, _Rows] = {name: _Rows() for name in concept}
    young: dict[str, int] = {}  # records of learners still in their warm-up
    seen = lifecycle.seen
    warming = monitor.sketch.warmup_left if not features.subjects else 0
    stop = start
    # What makes detectors or restarts them (or chooses the label pairs): found record by record,
    # nothing changed yet. Labels falling quiet are found as the records are taken in (_commit).
    for stop in range(start, end):
        observation = observations[stop]
        index = observation.position.index
        if observation.x is not None:
            if not features.subjects:
                if warming <= 1:
                    break  # the sketch decides what it watches: the detectors are made
                warming -= 1  # the sketch's warm-up: nothing watched yet (it sees the record in _commit)
                inputs.values.append([])
            else:
                inputs.values.append([value for _, value in monitor.sketch.transform(observation.x)])
            inputs.at.append(stop)
            inputs.index.append(index)
        if observation.labels is None:
            continue
        seen += 1
        on = labels_on(observation.labels)
        if monitor._pairs is None and seen >= lifecycle.warmup:
            break  # the label pairs are chosen
        if any(label not in known or known[label].dormant for label in on):
            break  # a label new or back: its detectors are made or restarted
        predictions = observation.predictions
        if any(name not in concept and (name in monitor._concept or _learned(monitor, young, name) > monitor.learner_warmup)
               for name in predictions):
            break  # a learner's detectors are made, or lack a label
        row = len(labelled.at)
        labelled.at.append(stop)
        labelled.index.append(index)
        labelled.values.append(on)
        for name, predicted in predictions.items():
            if name in concept:
                rows = errors[name]
                rows.at.append(stop)
                rows.index.append(index)
                rows.values.append((row, [label for label, value in predicted.items() if value]))
            else:
                young[name] = young.get(name, 0) + 1
    else:
        stop = end
    # Where a detector would signal (or a gathered change or warning falls due) the run stops too.
    truth = _label_matrix(labelled.values, label_id)
    looks = []
    if inputs.at:
        looks.append((features, inputs, np.asarray(inputs.values, dtype=float).reshape(len(inputs.at), len(features.bank))))
    if labelled.at:
        looks.append((prior, labelled, _prior_values(monitor, truth, labelled.values, label_id)))
    for name, rows in errors.items():
        if rows.at:
            predicted = _label_matrix([on for _, on in rows.values], label_id)
            wrong = predicted != truth[[row for row, _ in rows.values]]
            looks.append((concept[name], rows, _error_values(concept[name], wrong, label_id)))
    aheads = []
    for family, rows, values in looks:
        ahead = family.bank.look_ahead(values)
        due = _first_due(family, ahead, np.asarray(rows.index), monitor)
        if due is not None:
            stop = min(stop, rows.at[due])
        aheads.append((family, rows, ahead))
    return _commit(monitor, observations, start, stop, aheads, dict(zip(labelled.at, labelled.values)))


def _learned(monitor: DriftMonitor, young: dict[str, int], name: str) -> int:
    """Labelled records of learner ``name`` with the one being looked at."""
    return monitor._learner_records.get(name, 0) + young.get(name, 0) + 1


def _label_matrix(rows: list, label_id: dict[str, int]) -> np.ndarray:
    """One row per record, one column per known label (in the order first seen): 1 where on."""
    matrix = np.zeros((len(rows), len(label_id)))
    where = [(k, label_id[label]) for k, labels in enumerate(rows) for label in labels if label in label_id]
    if where:
        matrix[tuple(np.array(where).T)] = 1.0
    return matrix


def _columns(family: Family, keys) -> np.ndarray:
    return np.fromiter((family.subjects[key].index for key in keys), dtype=np.int64, count=len(keys))


def _prior_values(monitor: DriftMonitor, truth: np.ndarray, on: list[set[str]], label_id: dict[str, int]) -> np.ndarray:
    """The prior detectors' values per record: each label on or off, the cardinality and, against
    the labels' reference frequencies just before the record, the co-variation of each pair."""
    prior = monitor._prior
    values = np.zeros((len(truth), len(prior.bank)))
    values[:, _columns(prior, list(label_id))] = truth
    values[:, prior.subjects[CARDINALITY].index] = [float(len(labels)) for labels in on]
    if monitor._pairs:
        pair_labels = monitor._pair_labels
        ids = [label_id[label] for label in pair_labels]
        ahead = prior.bank.look_ahead(truth[:, ids], columns=_columns(prior, pair_labels))
        centred = truth[:, ids] - prior.bank.reference_means_before(ahead)
        where = {label: k for k, label in enumerate(pair_labels)}
        a = [where[a] for a, _ in monitor._pairs]
        b = [where[b] for _, b in monitor._pairs]
        values[:, _columns(prior, [f"{x}+{y}" for x, y in monitor._pairs])] = centred[:, a] * centred[:, b]
    return values


def _error_values(family: Family, wrong: np.ndarray, label_id: dict[str, int]) -> np.ndarray:
    """A learner's error detectors' values per record: each label's error and their mean."""
    values = np.zeros((len(wrong), len(family.bank)))
    values[:, _columns(family, list(label_id))] = wrong
    values[:, family.subjects[LABELSET].index] = wrong.sum(axis=1) / max(len(label_id), 1)
    return values


def _first_due(family: Family, ahead: Ahead, index: np.ndarray, monitor: DriftMonitor) -> int | None:
    """The first row at which the family would do more than update its windows: a detector
    signals drift (reported, or restarted while cooling down), a warning that could be raised,
    or a gathered change or pending warning falls due."""
    levels = ahead.levels
    due = (levels == DRIFT).any(axis=1)
    if family.change is None and family.warning is None and (levels == WARNING).any():
        warned = (levels == WARNING) & (index[:, None] >= _cool_end(family)[None, :])
        warned &= (index >= family.quiet_until)[:, None]
        due |= _exact_warnings(family, ahead, warned)
    if family.warning is not None:
        due |= index >= family.warning.expires_at
    if family.change is not None:
        due |= index >= family.change.opened_at + monitor.gather
    rows = np.flatnonzero(due)
    return int(rows[0]) if len(rows) else None


def _exact_warnings(family: Family, ahead: Ahead, warned: np.ndarray) -> np.ndarray:
    """Per row, whether a warning of the bank there stands as a warning of the family: for 0/1
    values the exact test (:meth:`Family.z`) must agree. A rare label's detector may stand at a
    warning of the bank's statistic for hundreds of records that the exact test turns down; each
    would otherwise stop the run and go through the per-record path. Rows are tried in order
    up to the first that warns."""
    bank = family.bank
    bernoulli = bank.bernoulli[ahead.columns]
    found = np.zeros(len(warned), dtype=bool)
    for row in np.flatnonzero(warned.any(axis=1)):
        for column in np.flatnonzero(warned[row]):
            if not bernoulli[column]:
                found[row] = True
                break
            n_reference = min(max(int(ahead.age[row, column]) - bank.window, 0), bank.reference)
            z = counts_z(round(ahead.recent[row, column]), bank.window, round(ahead.reference[row, column]), n_reference)
            detector = column if isinstance(ahead.columns, slice) else ahead.columns[column]
            if (z if bank.up[detector] else abs(z)) >= bank.warning_threshold[detector]:
                found[row] = True
                break
        if found[row]:
            break
    return found


def _cool_end(family: Family) -> np.ndarray:
    """Per detector of the family, the record index until which it keeps quiet (see :meth:`Family.cooling`)."""
    label_cool = family.label_cool_until
    ends = []
    for subject in family.subjects.values():
        end = max(family.cool_until, subject.cool_until)
        for label in subject.labels:
            end = max(end, label_cool.get(label, -1))
        ends.append(end)
    return np.array(ends, dtype=np.int64)


def _commit(monitor: DriftMonitor, observations: typing.Sequence[Observation], start: int, stop: int, aheads,
            on: dict[int, set[str]]) -> tuple[int, list | None]:
    """Take records ``start`` to ``stop`` (not included): the per-record bookkeeping and label space,
    then every family's windows. A record whose labels change the label space ends it there (see
    :func:`_quiet_run`): the look-ahead past it assumed the label space unchanged."""
    for at in range(start, stop):
        observation = observations[at]
        if observation.labels is not None:
            changes = monitor._label_space_update(on[at], observation.position)
            if changes:
                stop = at
                break
        if observation.clusters is not None:
            monitor.set_clusters(observation.clusters)
        if observation.x is not None:
            monitor._positions.append(observation.position)
            if not monitor._feature.subjects:
                monitor.sketch.transform(observation.x)  # the sketch's warm-up (see _quiet_run): watches nothing yet
        if observation.labels is not None:
            monitor._labelled_positions.append(observation.position)
            for name in observation.predictions:
                monitor._learner_records[name] = monitor._learner_records.get(name, 0) + 1
    else:
        changes = None
    for family, rows, ahead in aheads:
        family.bank.commit(ahead, sum(1 for at in rows.at if at < stop))
    return stop, changes
