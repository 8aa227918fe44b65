"""Partial label feedback in process: masked learning (``learn_one_masked``) and masked scoring.

Every learner of the catalogue either learns from the judged labels only, or says clearly that it
cannot. "Only" is checked by changing the values of the labels not judged: a learner that learns
from the judged labels only ends in exactly the same state.
"""

from __future__ import annotations

import pickle
import random

import pytest

from learners.base import LabelMask, PartialLabelsUnsupported
from learners.evaluate import Prequential
from learners.mlhat import MLHAT
from learners.registry import LEARNERS, make

SEED = 5
N_FULL = 60  # fully judged instances first, so that every learner knows every label
N_PARTIAL = 90
UNKNOWN = LabelMask(unknown=frozenset({"c"}))


def _stream(flip_unjudged: bool) -> list[tuple[dict, dict, LabelMask | None]]:
    rng = random.Random(SEED)
    out = []
    for i in range(N_FULL + N_PARTIAL):
        x = {"u": rng.random(), "v": rng.gauss(0.0, 1.0)}
        y = {"a": x["u"] > 0.5, "b": x["v"] > 0.0, "c": x["u"] + x["v"] > 0.7}
        partial = i >= N_FULL and i % 2 == 1  # the last instance is partial
        if partial and flip_unjudged:
            y["c"] = not y["c"]
        out.append((x, y, UNKNOWN if partial else None))
    return out


def _train(learner, stream) -> list[dict]:
    probas = []
    for x, y, mask in stream:
        probas.append(learner.predict_proba_one(x))
        if mask is None:
            learner.learn_one(x, y)
        else:
            learner.learn_one_masked(x, y, mask)
    return probas


SUPPORTED = [name for name in LEARNERS if make(name, seed=SEED).supports_partial_labels]
UNSUPPORTED = [name for name in LEARNERS if name not in SUPPORTED]


def test_every_family_has_a_learner_that_learns_from_partial_labels():
    families = {LEARNERS[name].family for name in SUPPORTED}
    assert families == {entry.family for entry in LEARNERS.values()}


@pytest.mark.parametrize("name", SUPPORTED)
def test_labels_not_judged_have_no_influence(name):
    as_given = _train(make(name, seed=SEED), _stream(flip_unjudged=False))
    flipped = _train(make(name, seed=SEED), _stream(flip_unjudged=True))
    assert as_given == flipped


def _build(name: str):
    if name == "mlhat":
        # Partial instances train the leaves' bagged regressions, which predict once a leaf holds
        # cardinality_th instances (750 by default, more than this stream): predict with them now.
        return MLHAT(cardinality_th=10, seed=SEED)
    return make(name, seed=SEED)


def _learned_state(name: str, learner):
    if name == "br-sgt":
        # Stochastic gradient trees predict the same for a while whatever they learn: compare
        # what the members hold instead.
        return pickle.dumps(learner.members)
    return None


@pytest.mark.parametrize("name", SUPPORTED)
def test_judged_labels_of_a_partial_instance_are_learned(name):
    with_partial, without_partial = _build(name), _build(name)
    stream = _stream(flip_unjudged=False)
    probe = [x for x, _, _ in stream[::7]]
    differs = False
    for x, y, mask in stream:
        if mask is None:
            with_partial.learn_one(x, y)
            without_partial.learn_one(x, y)
            continue
        with_partial.learn_one_masked(x, y, mask)
        state = _learned_state(name, with_partial)
        if state is not None:
            differs = differs or state != _learned_state(name, without_partial)
        else:
            differs = differs or any(with_partial.predict_proba_one(p) != without_partial.predict_proba_one(p) for p in probe)
    assert differs


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_a_learner_that_cannot_says_so_and_learns_nothing(name):
    learner = make(name, seed=SEED)
    stream = _stream(flip_unjudged=False)
    for x, y, _ in stream[:N_FULL]:
        learner.learn_one(x, y)
    before = [learner.predict_proba_one(x) for x, _, _ in stream]
    x, y, mask = stream[N_FULL + 1]
    with pytest.raises(PartialLabelsUnsupported, match="cannot learn from partial labels: ") as raised:
        learner.learn_one_masked(x, y, mask)
    assert raised.value.learner == type(learner).__name__
    assert [learner.predict_proba_one(x) for x, _, _ in stream] == before


@pytest.mark.parametrize("name", ["majority", "mlhat"])
def test_a_mask_that_judges_everything_is_plain_learn_one(name):
    plain, masked = make(name, seed=SEED), make(name, seed=SEED)
    for x, y, _ in _stream(flip_unjudged=False):
        plain.learn_one(x, y)
        masked.learn_one_masked(x, y, LabelMask())
    probe = {"u": 0.3, "v": 0.2}
    assert plain.predict_proba_one(probe) == masked.predict_proba_one(probe)


def test_a_mask_takes_known_or_unknown_not_both():
    with pytest.raises(ValueError, match="not both"):
        LabelMask(known=frozenset({"a"}), unknown=frozenset({"b"}))
    assert LabelMask(known=frozenset()).judged("a") is False
    assert LabelMask().judges_all and not LabelMask(known=frozenset({"a"})).judges_all


def test_the_evaluator_scores_only_judged_labels_and_teaches_only_them():
    # c is always predicted wrongly by no-change on the partial instances, but it is not judged there.
    stream = [
        ({}, {"a": True, "c": True}, None),
        ({}, {"a": True, "c": False}, LabelMask(known=frozenset({"a"}))),
        ({}, {"a": True, "c": False}, LabelMask(unknown=frozenset({"c"}))),
    ]
    learner = make("no-change")
    result = Prequential({"no-change": learner}, report_every=None).run(stream)["no-change"]
    assert result.instances == 3
    # The first prediction came before anything was learned; the next two are right on "a", the
    # only label judged, although "c" (kept on, its last judged value) is off in their targets.
    assert result.cumulative["subset_accuracy"] == pytest.approx(2 / 3)
    assert learner.predict_one({}) == {"a": True, "c": True}
    assert result.per_label_f1["c"] == 0.0


def test_the_evaluator_stops_with_a_clear_error_for_a_learner_that_cannot():
    stream = [({}, {"a": True}, None), ({}, {"a": True, "b": False}, LabelMask(unknown=frozenset({"b"})))]
    with pytest.raises(PartialLabelsUnsupported, match="MajorityLabelset"):
        Prequential({"majority": make("majority")}, report_every=None).run(stream)
