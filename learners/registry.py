"""The learner catalogue: short name -> description and constructor.

The CLI, the evaluator and the pipeline build learners by name from here. Constructors import
their module lazily so that listing the catalogue stays cheap.

Examples
--------
>>> learner = make("majority", seed=1)
>>> learner.predict_one({"x": 1.0})
{}
>>> "mlhat" in LEARNERS
True

"""

from __future__ import annotations

import dataclasses
import importlib
import typing

from learners.base import MultiLabelClassifier


@dataclasses.dataclass(frozen=True)
class LearnerEntry:
    description: str
    family: str  # "local" (binary relevance), "transformation", "global", "baseline", "hierarchy"
    build: typing.Callable[[int | None], MultiLabelClassifier]


def _class(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _br(classifier: typing.Callable[[int | None], typing.Any], absent_as_zero: bool = True):
    def build(seed):
        return _class("learners.binary_relevance:BinaryRelevance")(
            classifier(seed), seed=seed, absent_as_zero=absent_as_zero
        )

    return build


def _river(path: str, **params):
    def classifier(seed):
        cls = _class(path)
        return cls(seed=seed, **params) if "seed" in _init_params(cls) else cls(**params)

    return classifier


def _init_params(cls) -> set[str]:
    import inspect

    return set(inspect.signature(cls).parameters)


def _amrules(seed):
    # The guarded splitter: stock AMRules divides by zero when a rule's 0/1 target never varied.
    splitter = _class("learners.threshold_regressor:PureTargetSafeSplitter")()
    return _class("learners.threshold_regressor:ThresholdRegressor")(
        _class("river.rules:AMRules")(splitter=splitter), threshold=0.5
    )


def _sgt(seed):
    # The default static quantizer copies its bins for every feature of every new leaf, which
    # made BR-SGT ~8x slower on dense data for no better scores; the dynamic one keeps no bins.
    return _class("river.tree:SGTClassifier")(feature_quantizer=_class("river.tree.splitter:DynamicQuantizer")())


def _adwin_bagging_lr(seed):
    return _class("river.ensemble:ADWINBaggingClassifier")(
        _class("river.linear_model:LogisticRegression")(), n_models=10, seed=seed
    )


def _adwin_boosting_lr(seed):
    return _class("river.ensemble:ADWINBoostingClassifier")(
        _class("river.linear_model:LogisticRegression")(), n_models=10, seed=seed
    )


def _plain(path: str, **params):
    def build(seed):
        return _class(path)(seed=seed, **params)

    return build


LEARNERS: dict[str, LearnerEntry] = {
    # Local: binary relevance, one river binary classifier per label. br-mt uses river's public
    # single-tree MondrianTreeClassifier (the tree AMF averages). br-knn shares one window and one
    # exact neighbour search among its labels (KNNBinaryRelevance); it takes no seed.
    # Logistic regressions read an absent feature as 0 already, so their members are not handed
    # the zeros of sparse data (see BinaryRelevance.absent_as_zero).
    "br-knn": LearnerEntry("Binary relevance of k-nearest neighbours", "local", lambda seed: _class("learners.knn_binary_relevance:KNNBinaryRelevance")()),
    "br-nb": LearnerEntry("Binary relevance of Gaussian naive Bayes", "local", _br(_river("river.naive_bayes:GaussianNB"))),
    "br-amrules": LearnerEntry("Binary relevance of AMRules regressors on 0/1, threshold 0.5", "local", _br(_amrules)),
    "br-ht": LearnerEntry("Binary relevance of Hoeffding trees", "local", _br(_river("river.tree:HoeffdingTreeClassifier"))),
    "br-hat": LearnerEntry("Binary relevance of Hoeffding adaptive trees", "local", _br(_river("river.tree:HoeffdingAdaptiveTreeClassifier"))),
    "br-efdt": LearnerEntry("Binary relevance of extremely fast decision trees", "local", _br(_river("river.tree:ExtremelyFastDecisionTreeClassifier"))),
    "br-sgt": LearnerEntry("Binary relevance of stochastic gradient trees", "local", _br(_sgt)),
    "br-mt": LearnerEntry("Binary relevance of Mondrian trees", "local", _br(_river("river.tree.mondrian:MondrianTreeClassifier"))),
    "br-arf": LearnerEntry("Binary relevance of adaptive random forests", "local", _br(_river("river.forest:ARFClassifier", n_models=10))),
    "br-amf": LearnerEntry("Binary relevance of aggregated Mondrian forests", "local", _br(_river("river.forest:AMFClassifier", n_estimators=10))),
    "br-abalr": LearnerEntry("Binary relevance of ADWIN bagging of logistic regression", "local", _br(_adwin_bagging_lr, absent_as_zero=False)),
    "br-aboostlr": LearnerEntry("Binary relevance of ADWIN boosting of logistic regression", "local", _br(_adwin_boosting_lr, absent_as_zero=False)),
    "logistic": LearnerEntry("Per-label logistic regression, vectorised, AdaGrad, F1-tuned thresholds (text default)", "local", _plain("learners.logistic:OnlineLogistic")),
    # Problem transformation.
    "cc": LearnerEntry("Classifier chain of logistic regressions", "transformation", _plain("learners.classifier_chain:ClassifierChain")),
    "logistic-cc": LearnerEntry("Classifier chain of the vectorised logistic regressions", "transformation", _plain("learners.logistic:LogisticChain")),
    "ps": LearnerEntry("Pruned sets (label powerset of frequent label sets)", "transformation", _plain("learners.pruned_sets:PrunedSets")),
    # Global trees.
    "mlht": LearnerEntry("Multi-label Hoeffding tree (BR leaves)", "global", _plain("learners.mlht:MLHT")),
    "mlht-ps": LearnerEntry("Multi-label Hoeffding tree with pruned-sets leaves", "global", _plain("learners.mlht:MLHT", leaf_model="ps")),
    "mlhat": LearnerEntry("Multi-label Hoeffding adaptive tree", "global", _plain("learners.mlhat:MLHAT")),
    "isoupt": LearnerEntry("iSOUP-Tree: multi-target regression tree on 0/1, threshold 0.5", "global", _plain("learners.isoup_tree:ISOUPTree")),
    "mlbels": LearnerEntry("MLBELS: multi-label broad-learning ensemble for drifting streams", "global", _plain("learners.mlbels:MLBELS")),
    # Hierarchy of classifiers over online label clusters.
    "ihomer": LearnerEntry("iHOMER: online hierarchy of multi-label learners over label clusters", "hierarchy", _plain("learners.ihomer:IHOMER")),
    # The floors: the most frequent label set, and the last one (what a file sorted by label set
    # rewards without any learning).
    "majority": LearnerEntry("Most frequent label set seen so far", "baseline", _plain("learners.majority:MajorityLabelset")),
    "no-change": LearnerEntry("Label set of the previous instance (the stickiness floor)", "baseline", _plain("learners.no_change:NoChange")),
}


class UnknownLearnerError(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown learner {self.name!r}; choose from: {', '.join(LEARNERS)}"


def make(name: str, seed: int | None = None) -> MultiLabelClassifier:
    """Build the learner registered as ``name``."""
    try:
        entry = LEARNERS[name]
    except KeyError:
        raise UnknownLearnerError(name) from None
    return entry.build(seed)


def expand(names: str | typing.Iterable[str]) -> list[str]:
    """Turn ``"a,b"`` or ``"all"`` into a list of registered names, checking each one.

    >>> expand("mlhat,br-ht")
    ['mlhat', 'br-ht']
    >>> expand("nope")
    Traceback (most recent call last):
    ...
    learners.registry.UnknownLearnerError: unknown learner 'nope'; choose from: ...

    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out: list[str] = []
    for name in names:
        if name == "all":
            out.extend(n for n in LEARNERS if n not in out)
        elif name in LEARNERS:
            if name not in out:
                out.append(name)
        else:
            raise UnknownLearnerError(name)
    return out
