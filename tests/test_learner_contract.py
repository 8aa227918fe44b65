"""The contract every learner in the catalogue keeps, checked on small seeded multi-label streams.

Each check runs on every entry of ``learners.registry.LEARNERS``. The streams are made here: a
dense one whose features partly vanish and partly appear halfway, and a sparse one with absent
features (absent means 0) whose vocabulary also shifts. Labels appear mid-stream, some targets are
empty, and targets alternate between ``dict[label, bool]`` and a set of the labels that are on.
"""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river import base

from learners.base import DriftEvent
from learners.registry import LEARNERS, make

N_INSTANCES = 200
SEED = 11
#: Instance at which each label first appears; labels appear mid-stream on purpose.
LABEL_START = {"l0": 0, "l1": 0, "l2": 0, "l3": 0, "l4": 50, "l5": 120}


def _dense_features(rng: random.Random, i: int) -> dict[str, float]:
    # f0..f2 vanish halfway and f10..f12 appear.
    names = range(10) if i < N_INSTANCES // 2 else range(3, 13)
    return {f"f{j}": rng.gauss(0.0, 1.0) for j in names}


def _sparse_features(rng: random.Random, i: int) -> dict[str, float]:
    # Most features are absent; the vocabulary moves from f0..f29 to f10..f39 halfway.
    names = range(30) if i < N_INSTANCES // 2 else range(10, 40)
    return {f"f{j}": rng.uniform(0.1, 1.0) for j in names if rng.random() < 0.2}


def make_stream(kind: str, seed: int = SEED, n: int = N_INSTANCES) -> list[tuple[dict, dict | set]]:
    """A seeded multi-label stream: ``kind`` is ``"dense"`` or ``"sparse"``."""
    rng = random.Random(seed)
    features = {"dense": _dense_features, "sparse": _sparse_features}[kind]
    threshold = 0.3 if kind == "dense" else 0.4
    stream = []
    for i in range(n):
        x = features(rng, i)
        active = [label for label, start in LABEL_START.items() if i >= start]
        on = set()
        if i % 10 != 9:  # every tenth target is empty
            for k, label in enumerate(active):
                score = x.get(f"f{k + 3}", 0.0) + 0.5 * x.get(f"f{k + 20}", 0.0) - 0.3 * x.get(f"f{k + 6}", 0.0)
                if (score > threshold) != (rng.random() < 0.05):
                    on.add(label)
        y = {label: label in on for label in active} if i % 2 == 0 else on
        stream.append((x, y))
    return stream


STREAMS = {kind: make_stream(kind) for kind in ("dense", "sparse")}


def _labels_in(y) -> set:
    return set(y)  # keys of a dict target, elements of a set target


def _check_prediction(name: str, i: int, known: set, proba, labels) -> None:
    where = f"{name} at instance {i}"
    assert isinstance(proba, dict), f"{where}: predict_proba_one returned {type(proba).__name__}, not dict"
    assert isinstance(labels, dict), f"{where}: predict_one returned {type(labels).__name__}, not dict"
    assert set(proba) == known, f"{where}: predict_proba_one covers {sorted(proba)}, known labels are {sorted(known)}"
    assert set(labels) == known, f"{where}: predict_one covers {sorted(labels)}, known labels are {sorted(known)}"
    for label, p in proba.items():
        assert isinstance(p, float), f"{where}: probability of {label!r} is {type(p).__name__}, not float"
        assert 0.0 <= p <= 1.0, f"{where}: probability of {label!r} is {p}, outside [0, 1]"
    for label, on in labels.items():
        assert type(on) is bool, f"{where}: prediction of {label!r} is {type(on).__name__}, not bool"


@pytest.mark.parametrize("name", list(LEARNERS))
def test_predict_before_learning_returns_a_dict(name):
    model = make(name, seed=SEED)
    for x in ({}, STREAMS["dense"][0][0], STREAMS["sparse"][0][0]):
        proba = model.predict_proba_one(x)
        labels = model.predict_one(x)
        assert isinstance(proba, dict) and isinstance(labels, dict), f"{name}: predicting before learning"
        assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in proba.values()), f"{name}: {proba}"
        assert all(type(on) is bool for on in labels.values()), f"{name}: {labels}"


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("name", list(LEARNERS))
def test_prequential_contract(name, kind):
    """Types, known labels, purity of predict, seeding and a pickle round-trip, in one pass."""
    stream = STREAMS[kind]
    model = make(name, seed=SEED)
    twin = make(name, seed=SEED)  # same seed, never asked to predict
    restored = None  # pickled and unpickled from `model` halfway
    known: set = set()
    for i, (x, y) in enumerate(stream):
        if i == len(stream) // 2:
            restored = pickle.loads(pickle.dumps(model))
        proba = model.predict_proba_one(x)
        labels = model.predict_one(x)
        _check_prediction(name, i, known, proba, labels)
        assert model.predict_proba_one(x) == proba, f"{name} at instance {i}: predicting twice gave different answers"
        if restored is not None:
            assert restored.predict_proba_one(x) == proba, f"{name} at instance {i}: the unpickled copy disagrees"
            assert restored.predict_one(x) == labels, f"{name} at instance {i}: the unpickled copy disagrees"
        for learner in (model, twin) if restored is None else (model, twin, restored):
            learner.learn_one(x, y)
        known |= _labels_in(y)

    for i, (x, _) in enumerate(stream[-20:]):
        assert twin.predict_proba_one(x) == model.predict_proba_one(x), (
            f"{name}: two learners built with the same seed and fed the same data differ (probe {i}); "
            "either seeding is not deterministic or predicting (which only one of them did) changed state"
        )

    size = model.model_bytes
    assert isinstance(size, int) and size > 0, f"{name}: model_bytes is {size!r}"

    events = model.pop_events()
    assert isinstance(events, list), f"{name}: pop_events returned {type(events).__name__}"
    assert all(isinstance(event, DriftEvent) for event in events), f"{name}: {events}"
    assert model.pop_events() == [], f"{name}: pop_events did not forget the events it returned"


@pytest.mark.parametrize("name", list(LEARNERS))
def test_targets_as_set_or_dict_are_the_same(name):
    # The dict names a label from the first time it is on, as a set does, so both mean the same.
    stream = make_stream("dense", seed=3, n=100)
    as_dict, as_set = make(name, seed=SEED), make(name, seed=SEED)
    seen_on: set = set()
    for i, (x, y) in enumerate(stream):
        on = {label for label in y if y[label]} if isinstance(y, dict) else set(y)
        seen_on |= on
        assert as_dict.predict_proba_one(x) == as_set.predict_proba_one(x), f"{name} at instance {i}"
        as_dict.learn_one(x, {label: label in on for label in seen_on})
        as_set.learn_one(x, on)


def _comparable(value):
    """``value`` with each estimator in it replaced by its type and parameters.

    Estimators given as parameters (iHOMER's pruned-sets root) are cloned with their owner, and an
    estimator has no equality of its own: the clone has the same parameters if each one is the same
    kind of estimator with the same parameters.
    """
    if isinstance(value, base.Estimator):
        return type(value), _comparable(value._get_params())
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_comparable(item) for item in value)
    return value


@pytest.mark.parametrize("name", list(LEARNERS))
def test_clone_is_fresh_with_the_same_params(name):
    stream = STREAMS["dense"][:60]
    model = make(name, seed=SEED)
    for x, y in stream:
        model.learn_one(x, y)
    clone = model.clone()
    assert type(clone) is type(model)
    assert _comparable(clone._get_params()) == _comparable(model._get_params()), (
        f"{name}: clone() changed the parameters"
    )
    fresh = make(name, seed=SEED)
    for i, (x, y) in enumerate(stream):
        assert clone.predict_proba_one(x) == fresh.predict_proba_one(x), (
            f"{name} at instance {i}: the clone of a trained learner does not behave like a fresh one"
        )
        clone.learn_one(x, y)
        fresh.learn_one(x, y)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_labels_can_be_all_off_from_the_start(name):
    model = make(name, seed=SEED)
    for x, _ in STREAMS["sparse"][:30]:
        model.learn_one(x, {"quiet": False})
        model.learn_one(x, set())
    proba = model.predict_proba_one(STREAMS["sparse"][0][0])
    assert set(proba) == {"quiet"}, f"{name}: {proba}"
    assert not math.isnan(proba["quiet"])
