"""The multi-label learner protocol and the shared drift-event record.

A multi-label learner takes a ``dict`` of features and a ``dict[label, bool]`` (or a set of the
labels that are on) and follows river's verbs: ``learn_one`` updates, ``predict_proba_one`` returns
one probability per known label, ``predict_one`` thresholds it. Predicting never changes state.

Learners that detect drift or restructure themselves record :class:`DriftEvent` objects; whoever
drives the learner (the evaluator, a pipeline actor) collects them with :meth:`pop_events`.

Partial feedback: a target may come with a :class:`LabelMask` that says which labels were judged.
``learn_one_masked`` learns from the judged labels only; a learner that cannot (a label-set
learner needs the whole set) raises :class:`PartialLabelsUnsupported`.

Pickled state: every learner pickles the version of its class's state layout
(:attr:`MultiLabelClassifier.STATE_LAYOUT`). A class whose layout changes in a way older pickles
cannot continue from raises its version; unpickling an older layout then fails at once with
:class:`StaleLearnerState`, which names the learner and says to start it fresh, instead of failing
later, deep inside the model, the first time it reaches the changed part.
"""

from __future__ import annotations

import abc
import dataclasses
import gc
import sys
import types
import typing

import numpy as np
from river import base

Label = typing.Hashable
Features = dict[typing.Hashable, float]
LabelDict = dict[Label, bool]

#: Where a drift event happened: the whole model ("global") or one part of it ("local").
LEVELS = ("global", "local")


def deep_size(root: object) -> int:
    """Bytes of ``root`` and of every object it reaches, each counted once.

    The walk follows :func:`gc.get_referents` (as river's ``_raw_memory_usage``) and stops at
    classes, modules and functions. A numpy array counts once, with its data buffer: river's walk
    adds ``nbytes`` to ``sys.getsizeof``, which already holds the buffer of an array that owns it,
    so every array counted twice. A view counts its header and leads to the array it views.

    >>> import numpy as np
    >>> array = np.zeros(1000)
    >>> deep_size(array) == sys.getsizeof(array) and deep_size(array) >= 8000
    True
    >>> deep_size([array, array[10:]]) - deep_size(array) < 1000  # the view's data is the array's
    True

    """
    skip = (type, types.ModuleType, types.FunctionType)
    seen: set[int] = set()
    size = 0
    pending: list[object] = [root]
    while pending:
        walk, beside = [], []
        for obj in pending:
            if isinstance(obj, skip) or id(obj) in seen:
                continue
            seen.add(id(obj))
            size += sys.getsizeof(obj)
            if not isinstance(obj, np.ndarray):
                walk.append(obj)
            elif obj.base is not None:
                beside.append(obj.base)
            elif obj.dtype == object:
                beside.extend(obj.ravel().tolist())
        pending = beside + gc.get_referents(*walk)
    return size


@dataclasses.dataclass(frozen=True, slots=True)
class DriftEvent:
    """Something a learner noticed or changed about itself while learning.

    Parameters
    ----------
    learner
        Short name of the learner that emitted the event (for example ``"mlhat"``).
    level
        ``"global"`` when it concerns the whole model or the label partition, ``"local"`` when
        it concerns one node, label or member.
    kind
        What happened: ``"drift"``, ``"warning"``, ``"subtree_swap"``, ``"split"``, ``"merge"``,
        ``"restructure"``, ``"reset"``, ...
    instance
        Number of instances the learner had learned from when the event happened.
    labels
        The labels concerned, if any.
    node
        Identifier of the node, member or cluster concerned, if any.
    detail
        Small JSON-serialisable extra information (statistics behind the decision).

    Examples
    --------
    >>> DriftEvent("mlhat", "local", "drift", 120, labels=("a", "b"), node="root/0")
    DriftEvent(learner='mlhat', level='local', kind='drift', instance=120, labels=('a', 'b'), node='root/0', detail={})

    """

    learner: str
    level: str
    kind: str
    instance: int
    labels: tuple[str, ...] = ()
    node: str | None = None
    detail: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")

    def to_dict(self) -> dict:
        return {
            "learner": self.learner,
            "level": self.level,
            "kind": self.kind,
            "instance": self.instance,
            "labels": [str(label) for label in self.labels],
            "node": self.node,
            "detail": dict(self.detail),
        }


def as_label_dict(y: typing.Mapping[Label, bool] | typing.AbstractSet[Label], known=()) -> LabelDict:
    """Normalise a label target to ``dict[label, bool]``.

    A set lists the labels that are on; every label in ``known`` that is not in it is off.

    Examples
    --------
    >>> as_label_dict({"b"}, known=["a", "b"])
    {'a': False, 'b': True}
    >>> as_label_dict({"a": 1, "b": 0})
    {'a': True, 'b': False}

    """
    if isinstance(y, typing.Mapping):
        return {label: bool(value) for label, value in y.items()}
    if isinstance(y, (set, frozenset, typing.AbstractSet)):
        out = {label: False for label in known}
        out.update({label: True for label in y})
        return out
    raise TypeError(f"y must be a dict of label -> bool or a set of labels, got {type(y).__name__}")


@dataclasses.dataclass(frozen=True, slots=True)
class LabelMask:
    """Which labels of a target were judged, for partial label feedback.

    Give either ``known``, the labels judged (every other label is not), or ``unknown``, the
    labels not judged (every other label is). A judged label that is not on in the target is off.

    Parameters
    ----------
    known
        The labels judged, or ``None`` to judge every label not in ``unknown``.
    unknown
        The labels not judged (used only when ``known`` is ``None``).

    Examples
    --------
    >>> mask = LabelMask(unknown=frozenset({"b"}))
    >>> mask.judged("a"), mask.judged("b"), mask.judged("never-seen")
    (True, False, True)
    >>> LabelMask(known=frozenset({"a"})).restrict({"a": True, "b": False, "c": True})
    {'a': True}

    """

    known: frozenset | None = None
    unknown: frozenset = frozenset()

    def __post_init__(self):
        if self.known is not None and self.unknown:
            raise ValueError("give the labels judged (known) or the labels not judged (unknown), not both")
        object.__setattr__(self, "unknown", frozenset(self.unknown))
        if self.known is not None:
            object.__setattr__(self, "known", frozenset(self.known))

    def judged(self, label: Label) -> bool:
        """Whether ``label`` was judged."""
        return label in self.known if self.known is not None else label not in self.unknown

    def restrict(self, y: typing.Mapping[Label, bool]) -> LabelDict:
        """The judged entries of a ``dict[label, bool]``, in its order."""
        return {label: value for label, value in y.items() if self.judged(label)}

    @property
    def judges_all(self) -> bool:
        """Whether every label is judged (no ``known`` list and nothing ``unknown``)."""
        return self.known is None and not self.unknown


class PartialLabelsUnsupported(NotImplementedError):
    """A learner was given a partial target (a :class:`LabelMask`) it cannot learn from."""

    def __init__(self, learner: str, reason: str):
        super().__init__(learner, reason)
        self.learner = learner
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.learner} cannot learn from partial labels: {self.reason}"


class StaleLearnerState(ValueError):
    """A pickled learner has a state layout this version cannot go on learning from.

    Parameters
    ----------
    learner
        Class name of the learner whose state is stale.
    found
        Layout version of the pickled state.
    expected
        Layout version this code reads (the class's ``STATE_LAYOUT``).
    change
        What changed in the layout, for the reader of the error.

    Examples
    --------
    >>> print(StaleLearnerState("MLHAT", 1, 2, "split scoring"))
    MLHAT was pickled with state layout 1, this version of tagstream reads layout 2 (split scoring): it cannot go on from that state; start the learner fresh (tagstream run --fresh, or a new model)

    """

    def __init__(self, learner: str, found: int, expected: int, change: str = ""):
        super().__init__(learner, found, expected, change)
        self.learner = learner
        self.found = found
        self.expected = expected
        self.change = change

    @property
    def reason(self) -> str:
        """Which learner, which layouts and what changed, without advice."""
        change = f" ({self.change})" if self.change else ""
        return f"{self.learner} was pickled with state layout {self.found}, this version of tagstream reads layout {self.expected}{change}"

    def __str__(self) -> str:
        return f"{self.reason}: it cannot go on from that state; start the learner fresh (tagstream run --fresh, or a new model)"


class MultiLabelClassifier(base.Estimator, abc.ABC):
    """Base class of tagstream's multi-label learners.

    Subclasses implement :meth:`learn_one` and :meth:`predict_proba_one`; the base class supplies
    :meth:`predict_one` (probability >= 0.5), the drift-event buffer and the model size.
    """

    #: Version of the class's pickled state layout. Raise it (and say why in
    #: ``STATE_LAYOUT_CHANGE``) when a change leaves older pickles unable to go on learning.
    STATE_LAYOUT: typing.ClassVar[int] = 1
    #: What the newest layout changed, shown when an older one is refused.
    STATE_LAYOUT_CHANGE: typing.ClassVar[str] = ""

    @property
    def _supervised(self) -> bool:
        return True

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_state_layout": type(self).STATE_LAYOUT}

    def __setstate__(self, state: dict) -> None:
        found = state.pop("_state_layout", None)
        if found is None:  # pickled before learners recorded their layout
            found = self._unrecorded_layout(state)
        if found != type(self).STATE_LAYOUT:
            raise StaleLearnerState(type(self).__name__, found, type(self).STATE_LAYOUT, type(self).STATE_LAYOUT_CHANGE)
        self.__dict__.update(state)

    @classmethod
    def _unrecorded_layout(cls, state: dict) -> int:
        """The layout of a state pickled before layouts were recorded (override to tell them apart).

        The default takes it for the first layout.
        """
        return 1

    @abc.abstractmethod
    def learn_one(self, x: Features, y: LabelDict) -> None:
        """Update the model with one instance and its labels (``dict[label, bool]`` or a set)."""

    @abc.abstractmethod
    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        """Probability that each known label is on. Labels never seen are absent."""

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        """Update the model with the judged labels of ``y`` only (see :class:`LabelMask`).

        A mask that judges every label is plain :meth:`learn_one`. Learners that can learn from
        some labels and not others override this; the others raise
        :class:`PartialLabelsUnsupported` for any other mask.
        """
        if mask.judges_all:
            self.learn_one(x, y)
            return
        raise PartialLabelsUnsupported(type(self).__name__, self._partial_labels_reason)

    #: Why a learner does not override :meth:`learn_one_masked` (shown in the error).
    _partial_labels_reason = "it does not implement learn_one_masked"

    @property
    def supports_partial_labels(self) -> bool:
        """Whether :meth:`learn_one_masked` accepts masks that leave some labels unjudged."""
        return type(self).learn_one_masked is not MultiLabelClassifier.learn_one_masked

    def predict_one(self, x: Features) -> LabelDict:
        """Labels predicted on: probability >= 0.5."""
        return {label: p >= 0.5 for label, p in self.predict_proba_one(x).items()}

    @property
    def model_bytes(self) -> int:
        """Size of the model in memory, in bytes: every object it reaches (see :func:`deep_size`)."""
        return deep_size(self)

    def _emit(self, event: DriftEvent) -> None:
        self.__dict__.setdefault("_events", []).append(event)

    def pop_events(self) -> list[DriftEvent]:
        """Return the drift events recorded since the last call, and forget them."""
        events = self.__dict__.get("_events") or []
        self.__dict__["_events"] = []
        return events
