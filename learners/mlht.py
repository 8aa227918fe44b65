"""Multi-label Hoeffding tree (MLHT)."""

from __future__ import annotations

import logging

import numpy as np

from learners.bagged_logistic_br import BaggedLogisticBR
from learners.base import Features, LabelDict, LabelMask, MultiLabelClassifier, PartialLabelsUnsupported, as_label_dict
from learners.multilabel_tree import Branch, ColumnIndex, Instance, Leaf
from learners.pruned_sets import PrunedSets
from learners.split_criterion import GaussianObservers, decide_split, label_entropy

logger = logging.getLogger(__name__)

LEAF_MODELS = ("br", "ps")


def tree_leaves(root: Leaf | Branch | None):
    """Every leaf of the tree under ``root``, alternate subtrees (MLHAT's) included."""
    pending = [] if root is None else [root]
    while pending:
        node = pending.pop()
        if isinstance(node, Leaf):
            yield node
            continue
        pending.extend(node.children)
        if getattr(node, "alternate", None) is not None:
            pending.append(node.alternate)


class MLHT(MultiLabelClassifier):
    """Multi-label Hoeffding tree: one incremental tree over the whole label vector.

    Splits maximise the information gain of the label vector seen as independent Bernoulli
    variables (the sum of the labels' binary entropies), decided by the Hoeffding bound with range
    ``log2(#labels in the node)``. Splits are binary thresholds on numeric features (absent = 0),
    scored by Gaussian attribute observers. Leaves predict with a multi-label model trained on the
    instances that reached them: binary relevance of logistic regressions (``"br"``) or pruned sets
    (``"ps"``). A leaf that has only seen one label set predicts it; an empty leaf predicts the
    label frequencies its parent estimated for it.

    Memory: a leaf holds ``O(features x labels)`` observer arrays while it may still split, and
    its leaf model. Every ``memory_estimate_period`` instances the tree's size is estimated; above
    ``max_size`` MiB the lowest-weight leaves stop splitting and free their observers, so the number
    of leaves, and with it the memory, stops growing.

    ``learn_one(x, y)`` right after ``predict_proba_one(x)`` on the same ``x`` object (the
    prequential loop) reuses the prediction's encoding of ``x``; do not mutate ``x`` in between.

    Partial feedback (:meth:`learn_one_masked`): the split statistics need whole label vectors,
    so an instance with labels not judged leaves the structure as it is and trains only the leaf
    it reaches, on its judged labels (``"br"`` leaves; pruned-sets leaves need whole label sets).

    Parameters
    ----------
    grace_period
        Weight a leaf must gather between split attempts.
    delta
        Confidence of the Hoeffding bound.
    tau
        Tie threshold: split on the best feature once the bound falls below it.
    min_branch_fraction
        A split needs more than this fraction of the leaf's weight in each branch.
    leaf_model
        ``"br"`` (binary relevance of logistic regression) or ``"ps"`` (pruned sets).
    lr
        Learning rate of the leaf logistic regressions (``"br"``).
    max_size
        Size in MiB above which leaves are deactivated.
    memory_estimate_period
        Instances between two size estimates.
    seed
        Seed of the tree's randomness (bagging weights in MLHAT; MLHT's leaf models draw none).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> model, correct = MLHT(grace_period=50, seed=1), 0
    >>> for i in range(600):
    ...     x = {"u": rng.random(), "noise": rng.random()}
    ...     y = {"low": x["u"] < 0.5, "high": x["u"] >= 0.5}
    ...     correct += model.predict_one(x) == y
    ...     model.learn_one(x, y)
    >>> correct > 500, model.describe()["root"]["feature"]
    (True, 'u')

    References
    ----------
    A. Clare, R. D. King, "Knowledge discovery in multi-label phenotype data", PKDD 2001.
    J. Read, A. Bifet, G. Holmes, B. Pfahringer, "Scalable and efficient multi-label classification
    for evolving data streams", Machine Learning 88, 2012.

    """

    def __init__(
        self,
        grace_period: int = 200,
        delta: float = 1e-7,
        tau: float = 0.05,
        min_branch_fraction: float = 0.01,
        leaf_model: str = "br",
        lr: float = 0.3,
        max_size: float = 100.0,
        memory_estimate_period: int = 1000,
        seed: int | None = None,
    ):
        if leaf_model not in LEAF_MODELS:
            raise ValueError(f"leaf_model must be one of {LEAF_MODELS}, got {leaf_model!r}")
        self.grace_period = grace_period
        self.delta = delta
        self.tau = tau
        self.min_branch_fraction = min_branch_fraction
        self.leaf_model = leaf_model
        self.lr = lr
        self.max_size = max_size
        self.memory_estimate_period = memory_estimate_period
        self.seed = seed
        self._reset()

    def _reset(self):
        self._index = ColumnIndex()
        self._root: Leaf | Branch | None = None
        self._rng = np.random.default_rng(self.seed)
        self._n_learned = 0
        # (x, instances learned, encoded x, leaf probabilities by leaf id) of the last prediction:
        # the prequential loop learns the x it just predicted, so learning reuses that work.
        self._memo: tuple | None = None

    @classmethod
    def _unit_test_params(cls):
        yield {"grace_period": 20, "seed": 1}
        yield {"grace_period": 20, "leaf_model": "ps", "seed": 1}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        # Leaves pickled before they counted the weight of empty label sets (c30107e) start that
        # count at 0: only MLHAT's split scoring reads it, and MLHAT refuses that older layout.
        for leaf in tree_leaves(self._root):
            leaf.__dict__.setdefault("empty_weight", 0.0)

    # -- leaf models -------------------------------------------------------------------------

    def _new_model(self):
        if self.leaf_model == "ps":
            return PrunedSets()
        return BaggedLogisticBR(n_members=1, lr=self.lr, bagging=False)

    def _new_leaf(self, depth: int, prior_weight: float = 0.0, prior_labels=None) -> Leaf:
        observers = GaussianObservers(min_branch_fraction=self.min_branch_fraction)
        return Leaf(depth, self._new_model(), observers, prior_weight, prior_labels)

    def _learn_leaf_model(self, leaf: Leaf, inst: Instance, weight: float) -> None:
        if self.leaf_model == "ps":
            leaf.model.learn_one(inst.x, {self._index.label_names[c] for c in inst.positive})
        else:
            leaf.model.learn(inst, self._rng)

    def _leaf_proba(self, leaf: Leaf, inst: Instance) -> np.ndarray:
        n_labels = len(self._index.label_names)
        fallback = leaf.fallback_proba(n_labels)
        if fallback is not None:
            return fallback
        if self.leaf_model == "ps":
            out = np.zeros(n_labels)
            labels = self._index.labels
            for label, p in leaf.model.predict_proba_one(inst.x).items():
                out[labels[label]] = p
            return out
        return leaf.model.proba(inst, n_labels)

    def _leaf_model_name(self, leaf: Leaf) -> str:
        return "pruned_sets" if self.leaf_model == "ps" else "br_logistic"

    def _leaf_model_nbytes(self, leaf: Leaf) -> int:
        if self.leaf_model == "ps":
            return leaf.model.model_bytes
        return leaf.model.nbytes

    # -- learning ----------------------------------------------------------------------------

    def _encode_target(self, x: Features, y) -> Instance:
        y = as_label_dict(y, self._index.label_names)
        memo = self._memo
        if memo is not None and memo[0] is x and memo[1] == self._n_learned and memo[2].complete:
            return self._index.add_labels(memo[2], y)
        return self._index.encode(x, y)

    def _memo_probas(self, x: Features) -> dict[int, np.ndarray]:
        """Leaf probabilities the last prediction computed, if it was on this very x and nothing was learned since."""
        memo = self._memo
        if memo is not None and memo[0] is x and memo[1] == self._n_learned:
            return memo[3]
        return {}

    def learn_one(self, x: Features, y: LabelDict) -> None:
        inst = self._encode_target(x, y)
        self._n_learned += 1
        if self._root is None:
            self._root = self._new_leaf(0)
        parent, slot, node = None, 0, self._root
        while isinstance(node, Branch):
            node.update_stats(inst, 1.0)
            parent, slot = node, node.branch(x)
            node = node.children[slot]
        replacement = self._learn_leaf(node, inst, 1.0)
        if replacement is not node:
            if parent is None:
                self._root = replacement
            else:
                parent.children[slot] = replacement
        if self._n_learned % self.memory_estimate_period == 0:
            self._enforce_size_limit()

    def learn_one_masked(self, x: Features, y: LabelDict, mask: LabelMask) -> None:
        if mask.judges_all:
            self.learn_one(x, y)
            return
        if self.leaf_model == "ps":
            raise PartialLabelsUnsupported(type(self).__name__, "pruned-sets leaves learn whole label sets")
        inst = self._encode_target(x, y)
        self._n_learned += 1
        if self._root is None:
            self._root = self._new_leaf(0)
        self._learn_leaves_masked(self._root, inst, self._judged_columns(mask))

    @property
    def supports_partial_labels(self) -> bool:
        return self.leaf_model != "ps"

    def _judged_columns(self, mask: LabelMask) -> np.ndarray:
        """A bool per known label column: whether ``mask`` judges that label."""
        return np.fromiter((mask.judged(label) for label in self._index.label_names), bool, len(self._index.label_names))

    def _learn_leaves_masked(self, node, inst: Instance, judged: np.ndarray) -> None:
        """Train the leaf model of the leaf ``inst`` reaches on the judged labels; nothing else changes."""
        while isinstance(node, Branch):
            node = node.children[node.branch(inst.x)]
        node.model.learn(inst, self._rng, judged)

    def _learn_leaf(self, leaf: Leaf, inst: Instance, weight: float) -> Leaf | Branch:
        """Train the leaf; returns the leaf, or the branch that replaces it after a split."""
        leaf.update_stats(inst, weight)
        self._learn_leaf_model(leaf, inst, weight)
        if leaf.active and leaf.weight - leaf.last_split_attempt >= self.grace_period:
            return self._attempt_split(leaf)
        return leaf

    def _attempt_split(self, leaf: Leaf) -> Leaf | Branch:
        leaf.last_split_attempt = leaf.weight
        if leaf.pure:
            return leaf
        suggestions = leaf.observers.best_splits(leaf.weight, leaf.label_weights)
        best = decide_split(suggestions, self._merit_outcomes(leaf), leaf.weight, self.delta, self.tau)
        if best is None:
            return leaf
        left_labels, right_labels = best.children_label_weights(leaf.label_weights, leaf.weight)
        children = [
            self._new_leaf(leaf.depth + 1, best.left_weight, left_labels),
            self._new_leaf(leaf.depth + 1, best.right_weight, right_labels),
        ]
        feature = self._index.feature_names[best.column]
        logger.debug("split on %r <= %.4g at depth %d (merit %.4f)", feature, best.threshold, leaf.depth, best.merit)
        return self._new_branch(feature, best.threshold, leaf, children)

    def _merit_outcomes(self, leaf: Leaf) -> int:
        """How many outcomes the split merit's range counts (its log2): the labels seen in the leaf."""
        return int(np.count_nonzero(leaf.label_weights))

    def _new_branch(self, feature, threshold: float, leaf: Leaf, children: list) -> Branch:
        return Branch(feature, threshold, leaf.depth, children, leaf.weight, leaf.label_weights.copy())

    # -- memory --------------------------------------------------------------------------------

    def _nodes(self):
        """Every node with its path, depth first (alternate subtrees included by subclasses)."""
        stack = [(self._root, "root")] if self._root is not None else []
        while stack:
            node, path = stack.pop()
            yield node, path
            if isinstance(node, Branch):
                stack.extend((child, f"{path}/{i}") for i, child in reversed(list(enumerate(node.children))))

    def _leaves(self) -> list[Leaf]:
        return [node for node, _ in self._nodes() if isinstance(node, Leaf)]

    def _estimate_bytes(self) -> int:
        total = 0
        for node, _ in self._nodes():
            if isinstance(node, Leaf):
                total += node.nbytes() + self._leaf_model_nbytes(node)
            else:
                total += node.label_weights.nbytes + 200
        return total

    def _enforce_size_limit(self) -> None:
        limit = self.max_size * 2**20
        size = self._estimate_bytes()
        if size <= limit:
            return
        active = sorted((leaf for leaf in self._leaves() if leaf.active), key=lambda leaf: leaf.weight)
        for leaf in active:
            size -= leaf.observers.nbytes
            leaf.observers = None
            if size <= limit:
                break
        logger.info("tree over max_size=%.1f MiB: deactivated leaves, now ~%.1f MiB", self.max_size, size / 2**20)

    # -- prediction ----------------------------------------------------------------------------

    def predict_proba_one(self, x: Features) -> dict:
        if self._root is None:
            return {}
        inst = self._index.encode(x)
        node = self._root
        while isinstance(node, Branch):
            node = node.children[node.branch(x)]
        proba = self._leaf_proba(node, inst)
        self._memo = (x, self._n_learned, inst, {})
        return dict(zip(self._index.label_names, proba.tolist()))

    # -- inspection ----------------------------------------------------------------------------

    def _labels_of(self, node) -> list[str]:
        names = self._index.label_names
        return [str(names[c]) for c in np.flatnonzero(node.label_weights)]

    def _describe_node(self, node) -> dict:
        if isinstance(node, Leaf):
            n_labels = len(self._index.label_names)
            return {
                "kind": "leaf",
                "depth": node.depth,
                "weight": round(float(node.weight), 4),
                "active": node.active,
                "model": self._leaf_model_in_use(node),
                "label_entropy": round(label_entropy(node.label_weights, node.weight), 4),
                "label_frequencies": {
                    str(self._index.label_names[c]): round(float(node.label_weights[c] / node.weight), 4)
                    for c in np.flatnonzero(node.label_weights[:n_labels])
                } if node.weight > 0 else {},
            }
        return {
            "kind": "branch",
            "depth": node.depth,
            "feature": node.feature if isinstance(node.feature, (str, int, float)) else str(node.feature),
            "threshold": node.threshold,
            "weight": round(float(node.weight), 4),
            "children": [self._describe_node(child) for child in node.children],
        }

    def _leaf_model_in_use(self, leaf: Leaf) -> str:
        if leaf.weight == 0:
            return "prior"
        if leaf.pure:
            return "labelset"
        return self._leaf_model_name(leaf)

    def describe(self) -> dict:
        """The tree as a JSON-serialisable dict: splits, weights and the model each leaf predicts with."""
        nodes = list(self._nodes())
        return {
            "n_instances": self._n_learned,
            "n_nodes": len(nodes),
            "n_leaves": sum(isinstance(node, Leaf) for node, _ in nodes),
            "depth": max((node.depth for node, _ in nodes), default=0),
            "labels": [str(label) for label in self._index.label_names],
            "root": self._describe_node(self._root) if self._root is not None else None,
        }

    def render_text(self) -> str:
        """Human-readable indented view of the tree."""
        lines: list[str] = []

        def walk(desc: dict, indent: str, prefix: str) -> None:
            if desc["kind"] == "leaf":
                lines.append(
                    f"{indent}{prefix}leaf w={desc['weight']:g} model={desc['model']} "
                    f"H={desc['label_entropy']:g}{'' if desc['active'] else ' (inactive)'}"
                )
                return
            lines.append(f"{indent}{prefix}{desc['feature']} <= {desc['threshold']:.6g} (w={desc['weight']:g})")
            left, right = desc["children"]
            walk(left, indent + "  ", "yes: ")
            walk(right, indent + "  ", "no:  ")
            if desc.get("alternate") is not None:
                walk(desc["alternate"], indent + "  ", "alternate: ")

        root = self.describe()["root"]
        if root is None:
            return "(empty tree)"
        walk(root, "", "")
        return "\n".join(lines)
