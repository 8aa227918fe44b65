"""Multi-label Hoeffding adaptive tree (MLHAT)."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
from river import drift

from learners.bagged_logistic_br import BaggedLogisticBR
from learners.base import DriftEvent, Features, LabelDict
from learners.class_gaussian_split import EMPTY, FIRST_LABEL, TOTAL, ClassGaussianObservers, class_entropy
from learners.label_combination_knn import LabelCombinationKNN
from learners.mlht import MLHT, tree_leaves
from learners.multilabel_tree import Branch, Instance, Leaf
from learners.split_criterion import hoeffding_bound, merit_range

logger = logging.getLogger(__name__)

#: Floor of a leaf's error when its prediction is weighted by 1 / error^2.
_ERROR_FLOOR = 0.01
#: A leaf where one class (a label, or no label at all) holds more than this share of the weight
#: stops trying to split, as in the reference (river's ``max_share_to_split``).
MAX_SHARE_TO_SPLIT = 0.99


@dataclasses.dataclass(slots=True)
class _Errors:
    """Per-instance cache of leaf predictions and errors while one instance is learned."""

    probas: dict[int, np.ndarray]  # leaf id -> probabilities the preceding prediction computed
    by_leaf: dict[int, float] = dataclasses.field(default_factory=dict)


class AdaptiveBranch(Branch):
    """A branch that watches the error of its subtree and may grow an alternate subtree."""

    def __init__(self, *args, background: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.background = background
        self.drift_detector: drift.ADWIN | None = None
        self.warning_detector: drift.ADWIN | None = None
        self.alternate: Leaf | AdaptiveBranch | None = None
        # Errors of the subtree and of the alternate on the instances seen since the alternate started.
        self.error_sum = 0.0
        self.error_n = 0
        self.alternate_error_sum = 0.0
        self.alternate_error_n = 0


class MLHAT(MLHT):
    """Multi-label Hoeffding adaptive tree (Esteban, Cano, Zafra, Ventura, 2024).

    The tree is MLHT's (binary numeric splits, absent features are 0). Unlike MLHT, it scores and
    tests splits as the reference implementation does:

    * **Bagging weight.** Each instance trains the tree with weight ``k ~ Poisson(poisson_rate)``,
      raised to 1 when it is 0 so that a single tree never drops an instance (as the reference
      implementation does).
    * **Split scoring.** One Gaussian per (feature, class), the classes being the labels, ``empty``
      (no label on) and ``total``, over the values the instances carry (zeros a dense row carries
      included), each class's weight sent whole to one side by thresholds outside its own range
      (:mod:`learners.class_gaussian_split`).
    * **Split test.** The Hoeffding bound's range is ``log2`` of the number of distinct label sets
      the leaf has seen (MLHT's is the number of labels) and its ``n`` the weight the leaf learned;
      a leaf where one class holds over 99 % of the weight stops trying to split. A new leaf starts
      from the class weights the split estimated for it (they count in its entropy) and first tries
      to split once it has learned that weight plus ``grace_period``; the branch learns the
      instance that made it split once more.
    * **Leaf models chosen by size and label entropy.** Every leaf trains a label-combination kNN
      (k = ``n_neighbors`` over the last ``window_size`` instances) and a binary relevance of
      ``n_members`` online-bagged logistic regressions (SGD, learning rate ``lr``). It predicts
      with the kNN while its weight is below ``cardinality_th`` or its label entropy (sum of the
      binary entropies of its labels and of ``empty``) is below ``entropy_th``, and with the bagged
      regressions otherwise.
    * **Local drift.** Every branch feeds the Hamming error of its subtree's prediction on each
      instance (before learning it) to two ADWIN detectors: a warning detector (``warning_delta``)
      and a drift detector (``drift_delta``); only increases of the error count. (The reference
      code calls any rise of the running mean error a warning, which starts alternates almost
      constantly; a looser ADWIN keeps "warning" a statistical test.) On a warning the
      branch starts an alternate subtree, trained on the same instances. Once both have seen more
      than ``drift_window_threshold`` instances since then, the alternate replaces the subtree if
      its error is lower by more than ``sqrt(2 e (1 - e) ln(2 / switch_significance) (1/n1 + 1/n2))``,
      and is pruned if it is higher by as much.
    * **Partial feedback** (:meth:`learn_one_masked`). An instance with labels not judged trains
      the bagged regressions of every leaf it reaches (alternates included) on its judged labels;
      the kNN label powerset, the split statistics and the drift detectors need whole label
      vectors and learn from fully judged instances only.
    * **Combined prediction.** Leaves of alternate subtrees that have more than
      ``drift_window_threshold`` weight vote with the main leaf, each weighted by
      ``1 / error^2`` (its running Hamming error).

    Local drift events (``learner="mlhat"``, ``level="local"``) are recorded for ``"warning"``,
    ``"drift"``, ``"alternate_created"``, ``"subtree_swap"`` and ``"alternate_pruned"``, with the
    node's path (``"root/0/1"``, ``".../alt"`` inside an alternate), the instance count and the
    labels seen at the node.

    Memory: per leaf, the kNN window (``window_size x features`` float32), the bagged regressions
    (``features x n_members x labels`` float32) and, while the leaf may split, the observers
    (``5 x features x (labels + 2)`` float64); above ``max_size`` MiB leaves stop splitting (see MLHT).

    Parameters
    ----------
    grace_period
        Weight a leaf must gather between split attempts.
    delta
        Confidence of the Hoeffding bound.
    tau
        Tie threshold.
    drift_window_threshold
        Instances both the subtree and its alternate must see before they are compared, and weight
        an alternate leaf needs before it votes.
    switch_significance
        Significance of the subtree / alternate comparison.
    cardinality_th
        Leaf weight from which the bagged regressions may predict.
    entropy_th
        Label entropy below which a leaf keeps predicting with the kNN.
    poisson_rate
        Rate of the Poisson bagging weight of the tree.
    bootstrap_sampling
        Draw the Poisson weight at all (otherwise weight 1).
    n_neighbors
        Neighbours of the leaf kNN.
    window_size
        Window of the leaf kNN.
    n_members
        Bagged logistic regressions per label in a leaf.
    lr
        Learning rate of the leaf logistic regressions.
    warning_delta
        Confidence of the ADWIN that starts alternate subtrees.
    drift_delta
        Confidence of the ADWIN that reports drifts.
    combined_prediction
        Let mature alternate leaves vote.
    min_branch_fraction
        Minimum fraction of the weight in each branch of a split.
    max_size
        Size in MiB above which leaves stop splitting.
    memory_estimate_period
        Instances between two size estimates.
    seed
        Seed of the Poisson weights.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> model, correct = MLHAT(grace_period=50, seed=1), 0
    >>> for i in range(600):
    ...     x = {"u": rng.random(), "noise": rng.random()}
    ...     y = {"low": x["u"] < 0.5, "high": x["u"] >= 0.5}
    ...     correct += model.predict_one(x) == y
    ...     model.learn_one(x, y)
    >>> correct > 500, model.describe()["root"]["feature"]
    (True, 'u')

    References
    ----------
    A. Esteban, A. Cano, A. Zafra, S. Ventura, "Hoeffding adaptive trees for multi-label
    classification on data streams", Knowledge-Based Systems 304, 2024.

    """

    def __init__(
        self,
        grace_period: int = 200,
        delta: float = 1.6587784772850855e-7,
        tau: float = 0.05,
        drift_window_threshold: int = 200,
        switch_significance: float = 0.05,
        cardinality_th: int = 750,
        entropy_th: float = 0.3,
        poisson_rate: float = 1.0,
        bootstrap_sampling: bool = True,
        n_neighbors: int = 4,
        window_size: int = 170,
        n_members: int = 10,
        lr: float = 0.3,
        warning_delta: float = 0.01,
        drift_delta: float = 0.002,
        combined_prediction: bool = True,
        min_branch_fraction: float = 0.01,
        max_size: float = 100.0,
        memory_estimate_period: int = 1000,
        seed: int | None = None,
    ):
        self.drift_window_threshold = drift_window_threshold
        self.switch_significance = switch_significance
        self.cardinality_th = cardinality_th
        self.entropy_th = entropy_th
        self.poisson_rate = poisson_rate
        self.bootstrap_sampling = bootstrap_sampling
        self.n_neighbors = n_neighbors
        self.window_size = window_size
        self.n_members = n_members
        self.warning_delta = warning_delta
        self.drift_delta = drift_delta
        self.combined_prediction = combined_prediction
        super().__init__(
            grace_period=grace_period,
            delta=delta,
            tau=tau,
            min_branch_fraction=min_branch_fraction,
            lr=lr,
            max_size=max_size,
            memory_estimate_period=memory_estimate_period,
            seed=seed,
        )

    def _reset(self):
        super()._reset()
        self._n_alternates = 0
        self._n_swaps = 0
        self._n_pruned = 0

    @classmethod
    def _unit_test_params(cls):
        yield {"grace_period": 20, "drift_window_threshold": 20, "cardinality_th": 40, "seed": 1}

    # Layout 2 (c30107e): leaves score splits per (feature, class) and start from the split's class
    # weights. A layout-1 leaf holds MLHT's observers and no class weights, and fails at its next split.
    STATE_LAYOUT = 2
    STATE_LAYOUT_CHANGE = "MLHAT's split scoring and leaf statistics changed on 2026-12-03, commit c30107e"

    @classmethod
    def _unrecorded_layout(cls, state: dict) -> int:
        # Pickles from before layouts were recorded: every leaf made since c30107e carries its class weights.
        stale = any("prior_classes" not in leaf.__dict__ for leaf in tree_leaves(state.get("_root")))
        return 1 if stale else 2

    # -- leaves ----------------------------------------------------------------------------------

    def _new_model(self):
        return (
            LabelCombinationKNN(n_neighbors=self.n_neighbors, window_size=self.window_size),
            BaggedLogisticBR(n_members=self.n_members, lr=self.lr),
        )

    def _learn_leaf_model(self, leaf: Leaf, inst: Instance, weight: float) -> None:
        knn, bagged = leaf.model
        knn.learn(inst)
        bagged.learn(inst, self._rng)  # the members draw their own Poisson weights

    def _leaf_model_name(self, leaf: Leaf) -> str:
        if leaf.weight < self.cardinality_th or class_entropy(self._class_weights(leaf)) < self.entropy_th:
            return "label_combination_knn"
        return "bagged_logistic_br"

    def _leaf_proba(self, leaf: Leaf, inst: Instance) -> np.ndarray:
        n_labels = len(self._index.label_names)
        fallback = leaf.fallback_proba(n_labels)
        if fallback is not None:
            return fallback
        knn, bagged = leaf.model
        if self._leaf_model_name(leaf) == "label_combination_knn":
            return knn.proba(inst, n_labels)
        return bagged.proba(inst, n_labels)

    def _leaf_model_nbytes(self, leaf: Leaf) -> int:
        return sum(model.nbytes for model in leaf.model)

    def _new_branch(self, feature, threshold: float, leaf: Leaf, children: list) -> Branch:
        return AdaptiveBranch(
            feature, threshold, leaf.depth, children, leaf.weight, leaf.label_weights.copy(),
            background=getattr(leaf, "background", False),
        )

    def _new_leaf(self, depth: int, background: bool = False, prior_classes: np.ndarray | None = None) -> Leaf:
        prior = prior_classes if prior_classes is not None else np.zeros(FIRST_LABEL)
        observers = ClassGaussianObservers(min_branch_fraction=self.min_branch_fraction)
        leaf = Leaf(depth, self._new_model(), observers, float(prior[TOTAL]), prior[FIRST_LABEL:].copy())
        leaf.background = background
        leaf.error_sum = 0.0
        leaf.error_n = 0
        # The class weights [total, empty, labels...] the split estimated for the leaf: they count in
        # its entropy, and it first tries to split once it has learned that much plus a grace period
        # (both as the reference, whose new leaves start from the split's statistics).
        leaf.prior_classes = prior
        leaf.last_split_attempt = float(prior[TOTAL])
        return leaf

    def _class_weights(self, leaf: Leaf) -> np.ndarray:
        """The leaf's class weights ``[total, empty, labels...]``, what it inherited included."""
        labels = leaf.label_weights
        out = np.zeros(FIRST_LABEL + max(len(labels), len(leaf.prior_classes) - FIRST_LABEL))
        out[:len(leaf.prior_classes)] = leaf.prior_classes
        out[TOTAL] += leaf.weight
        out[EMPTY] += leaf.empty_weight
        out[FIRST_LABEL:FIRST_LABEL + len(labels)] += labels
        return out

    def _attempt_split(self, leaf: Leaf):
        # The reference's test: splits scored per (feature, class) (learners.class_gaussian_split),
        # the Hoeffding bound's range log2 of the distinct label sets the leaf has seen and its n the
        # weight the leaf learned itself; the null split and the features without a valid split
        # compete at -inf. With many label sets the bound is wider and the tree splits later, so its
        # leaves grow old enough for the bagged regressions (water-quality: 4 leaves became 1).
        leaf.last_split_attempt = leaf.weight
        if leaf.pure:
            return leaf
        classes = self._class_weights(leaf)
        if classes[EMPTY:].max() > MAX_SHARE_TO_SPLIT * classes[TOTAL]:
            leaf.observers = None
            return leaf
        splits = leaf.observers.best_splits(classes)
        bound = hoeffding_bound(merit_range(len(leaf.labelsets)), self.delta, leaf.weight)
        if not splits:
            if bound < self.tau:  # the null split wins the tie: the leaf stops trying
                leaf.observers = None
            return leaf
        best = splits[0]
        second = splits[1].merit if len(splits) > 1 else -math.inf
        if not (best.merit - second > bound or bound < self.tau):
            return leaf
        background = leaf.background
        children = [
            self._new_leaf(leaf.depth + 1, background, best.left),
            self._new_leaf(leaf.depth + 1, background, best.right),
        ]
        feature = self._index.feature_names[best.column]
        logger.debug("split on %r <= %.4g at depth %d (merit %.4f)", feature, best.threshold, leaf.depth, best.merit)
        return self._new_branch(feature, best.threshold, leaf, children)

    # -- learning ----------------------------------------------------------------------------------

    def learn_one(self, x: Features, y: LabelDict) -> None:
        inst = self._encode_target(x, y)
        errors = _Errors(self._memo_probas(x))
        self._n_learned += 1
        weight = 1.0
        if self.bootstrap_sampling:
            weight = float(max(self._rng.poisson(self.poisson_rate), 1))
        if self._root is None:
            self._root = self._new_leaf(0)
        self._root = self._learn(self._root, inst, weight, "root", errors)
        if self._n_learned % self.memory_estimate_period == 0:
            self._enforce_size_limit()

    def _learn_leaves_masked(self, node, inst: Instance, judged: np.ndarray) -> None:
        # Every leaf the instance reaches, in the foreground tree and in the alternates, trains its
        # bagged regressions; the kNN label powerset needs whole label sets and the drift
        # detectors whole error vectors, so they learn from fully judged instances only.
        if isinstance(node, Leaf):
            node.model[1].learn(inst, self._rng, judged)
            return
        if node.alternate is not None:
            self._learn_leaves_masked(node.alternate, inst, judged)
        self._learn_leaves_masked(node.children[node.branch(inst.x)], inst, judged)

    def _subtree_error(self, node, inst: Instance, errors: _Errors) -> float:
        """Hamming error of the subtree's own leaf (alternates aside) on the instance, before learning it."""
        while isinstance(node, Branch):
            node = node.children[node.branch(inst.x)]
        key = id(node)
        error = errors.by_leaf.get(key)
        if error is None:
            proba = errors.probas.get(key)
            if proba is None:
                proba = self._leaf_proba(node, inst)
            y = inst.y
            width = min(len(proba), len(y))
            # Labels first seen in this very instance were predicted off.
            error = float(((proba[:width] >= 0.5) != (y[:width] > 0.5)).sum() + y[width:].sum()) / len(y) if len(y) else 0.0
            errors.by_leaf[key] = error
            # Leaves keep their running error to weight their vote in combined predictions.
            node.error_sum += error
            node.error_n += 1
        return error

    def _learn(self, node, inst: Instance, weight: float, path: str, errors: _Errors):
        """Train the subtree rooted at ``node``; returns the node that takes its place."""
        if isinstance(node, Leaf):
            replacement = self._learn_leaf(node, inst, weight)
            if replacement is not node:
                # As the reference, the new branch learns the instance that made it split, once more.
                replacement.update_stats(inst, weight)
                slot = replacement.branch(inst.x)
                replacement.children[slot] = self._learn_leaf(replacement.children[slot], inst, weight)
            return replacement
        node.update_stats(inst, weight)
        if not node.background:
            error = self._subtree_error(node, inst, errors)
            replacement = self._watch(node, inst, error, path, errors)
            if replacement is not node:
                return self._learn(replacement, inst, weight, path, errors)
        if node.alternate is not None:
            node.alternate = self._learn(node.alternate, inst, weight, f"{path}/alt", errors)
        slot = node.branch(inst.x)
        node.children[slot] = self._learn(node.children[slot], inst, weight, f"{path}/{slot}", errors)
        return node

    def _watch(self, node: AdaptiveBranch, inst: Instance, error: float, path: str, errors: _Errors):
        """Drift detection and alternate-subtree management at one branch; returns its replacement."""
        if node.drift_detector is None:
            node.drift_detector = drift.ADWIN(delta=self.drift_delta)
            node.warning_detector = drift.ADWIN(delta=self.warning_delta)
        before = node.drift_detector.estimation
        node.drift_detector.update(error)
        if node.drift_detector.drift_detected and node.drift_detector.estimation > before:
            self._event("drift", node, path, before=before, after=node.drift_detector.estimation)
        before = node.warning_detector.estimation
        node.warning_detector.update(error)
        if node.warning_detector.drift_detected and node.warning_detector.estimation > before:
            self._event("warning", node, path, before=before, after=node.warning_detector.estimation)
            if node.alternate is None:
                node.alternate = self._new_leaf(node.depth, background=True)
                node.error_sum, node.error_n = 0.0, 0
                node.alternate_error_sum, node.alternate_error_n = 0.0, 0
                self._n_alternates += 1
                self._event("alternate_created", node, path)
        if node.alternate is None:
            return node
        node.error_sum += error
        node.error_n += 1
        node.alternate_error_sum += self._subtree_error(node.alternate, inst, errors)
        node.alternate_error_n += 1
        n_main, n_alt = node.error_n, node.alternate_error_n
        if min(n_main, n_alt) <= self.drift_window_threshold:
            return node
        main_error, alt_error = node.error_sum / n_main, node.alternate_error_sum / n_alt
        bound = math.sqrt(
            2.0 * main_error * (1.0 - main_error) * math.log(2.0 / self.switch_significance) * (1.0 / n_main + 1.0 / n_alt)
        )
        detail = {"error": round(main_error, 6), "alternate_error": round(alt_error, 6), "bound": round(bound, 6)}
        if main_error - alt_error > bound:
            alternate = node.alternate
            node.alternate = None
            self._n_alternates -= 1 + self._count_alternates(node)
            self._set_foreground(alternate)
            self._n_swaps += 1
            self._event("subtree_swap", node, path, **detail)
            return alternate
        if alt_error - main_error > bound:
            node.alternate = None
            self._n_alternates -= 1
            self._n_pruned += 1
            self._event("alternate_pruned", node, path, **detail)
        return node

    def _count_alternates(self, node) -> int:
        """Alternates hanging below ``node`` (they go away with it when it is replaced)."""
        if not isinstance(node, Branch):
            return 0
        return sum(
            (child.alternate is not None) + self._count_alternates(child)
            for child in node.children if isinstance(child, Branch)
        )

    def _set_foreground(self, node) -> None:
        node.background = False
        if isinstance(node, Branch):
            for child in node.children:
                self._set_foreground(child)

    def _event(self, kind: str, node: Branch, path: str, **detail) -> None:
        labels = tuple(self._labels_of(node))
        detail = {key: round(value, 6) if isinstance(value, float) else value for key, value in detail.items()}
        self._emit(DriftEvent("mlhat", "local", kind, self._n_learned, labels=labels, node=path, detail=detail))
        logger.debug("%s at %s after %d instances %s", kind, path, self._n_learned, detail)

    # -- prediction --------------------------------------------------------------------------------

    def predict_proba_one(self, x: Features) -> dict:
        if self._root is None:
            return {}
        inst = self._index.encode(x)
        votes: list[tuple[float, np.ndarray]] = []
        probas: dict[int, np.ndarray] = {}
        node = self._root
        while isinstance(node, Branch):
            alternate = node.alternate
            if self.combined_prediction and alternate is not None:
                while isinstance(alternate, Branch):
                    alternate = alternate.children[alternate.branch(x)]
                if alternate.weight + alternate.prior_weight > self.drift_window_threshold:
                    probas[id(alternate)] = self._leaf_proba(alternate, inst)
                    votes.append((self._vote_weight(alternate), probas[id(alternate)]))
            node = node.children[node.branch(x)]
        proba = probas[id(node)] = self._leaf_proba(node, inst)
        self._memo = (x, self._n_learned, inst, probas)
        if votes:
            total = self._vote_weight(node)
            proba = proba * total
            for vote, alt_proba in votes:
                proba = proba + vote * alt_proba
                total += vote
            proba = proba / total
        return dict(zip(self._index.label_names, proba.tolist()))

    @staticmethod
    def _vote_weight(leaf: Leaf) -> float:
        error = leaf.error_sum / leaf.error_n if leaf.error_n else 0.5
        return 1.0 / (error + _ERROR_FLOOR) ** 2

    # -- inspection --------------------------------------------------------------------------------

    def _nodes(self):
        stack = [(self._root, "root")] if self._root is not None else []
        while stack:
            node, path = stack.pop()
            yield node, path
            if isinstance(node, Branch):
                if node.alternate is not None:
                    stack.append((node.alternate, f"{path}/alt"))
                stack.extend((child, f"{path}/{i}") for i, child in reversed(list(enumerate(node.children))))

    def _describe_node(self, node) -> dict:
        desc = super()._describe_node(node)
        desc["background"] = bool(node.background)
        if isinstance(node, AdaptiveBranch):
            desc["alternate"] = self._describe_node(node.alternate) if node.alternate is not None else None
            if node.drift_detector is not None:
                desc["error"] = round(float(node.drift_detector.estimation), 6)
        return desc

    def describe(self) -> dict:
        out = super().describe()
        out.update(n_alternates=self._n_alternates, n_swaps=self._n_swaps, n_pruned_alternates=self._n_pruned)
        return out
