"""Online divisive-agglomerative clustering of the label space (iHOMER's label tree).

The tree follows ODAC (Rodrigues, Gama & Pedroso, 2008) applied to label columns: the root holds
every label; a leaf (an *active* cluster) splits in two when a Hoeffding bound says its two most
dissimilar labels are reliably far apart, and a split is undone (the parent becomes active again)
when fresh statistics show it no longer holds. The leaves partition the labels; iHOMER trains one
learner per part.

Similarity is the Jaccard index of label co-occurrence, ``J(a, b) = n11 / (n11 + n10 + n01)``,
and the tree works with the dissimilarity ``D = 1 - J`` (``J = 0`` when neither label has been on).

Statistics are counts since the node started its current window. Only labels that are on in an
instance touch anything: the tree keeps one cumulative integer matrix whose diagonal is the
per-label on-count and whose off-diagonal is the both-on count ``n11``; ``n10`` and ``n01`` follow
from the diagonal. An instance with ``k`` labels on costs ``O(k^2)`` increments, not ``O(L^2)``;
they are buffered and applied in one vectorised ``numpy.add.at`` before each round of tests. A
node's window is the matrix now minus the snapshot taken when the window started: a leaf
snapshots its own block, an internal node the cross block between its two children (the pairs its
split separated), so every pair of labels is snapshotted in exactly one node and memory is
``O(L^2)`` integers in total whatever the shape of the tree.

Where this differs from the paper's released code (see the module of iHOMER for the learners):

* the released code accumulates Pearson correlations of the 0/1 label columns and feeds
  *similarities* into ODAC's formulas, which makes the most co-occurring pair the split pivots and
  sends each label to the less similar pivot; we use Jaccard dissimilarity as the paper states;
* the mean pairwise dissimilarity is divided by the number of pairs (the released code divides by
  the instance count);
* splits use the reference confidence ``delta`` (0.9, a loose bound that lets structure appear
  quickly), but undoing a split is an alarm that the label dependencies changed, so merges use
  their own, strict ``merge_delta``; with 0.9 for both, stationary streams show spurious merges;
* besides ODAC's merge test (a child became more spread than its parent was), a split is also undone
  when the gap it created (mean dissimilarity across the two children minus mean dissimilarity
  within them) shrinks reliably below the gap measured when it was made: ODAC's test alone cannot
  see two groups that become correlated, because no child holds a pair across them;
* among equally dissimilar pivot pairs the best supported one (most on-counts) is chosen, and a label
  equally far from both pivots joins the child that has fewer labels so far;
* every Hoeffding bound counts the instances of the window in which the node has at least one label
  on, not all instances: Jaccard is a proportion over the instances where one of the two labels is
  on, and counting every instance makes two rare labels look reliably far apart after a handful of
  sightings (on bibtex that undid most splits a few hundred instances later);
* a label first seen mid-stream joins the leaf that holds most of the labels it is on with in that
  instance (the active root while there is no split; the largest leaf when it comes alone), with
  zero counts: before it was seen it was off.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math

import numpy as np
from river import base

from learners.cluster_repair import repair

logger = logging.getLogger(__name__)

Label = str


@dataclasses.dataclass(frozen=True)
class StructureChange:
    """A split or a merge of the label tree.

    Parameters
    ----------
    kind
        ``"split"`` or ``"merge"``.
    node
        Identifier of the node that split, or of the parent that became active again.
    instance
        Number of label sets the tree had seen when it happened.
    labels
        The labels of that node.
    children
        Label sets of the children created (split) or discarded (merge).
    reason
        Which test decided: ``"hoeffding_split"``, ``"child_spread"`` or ``"gap_closed"``.
    detail
        The statistics behind the decision.

    """

    kind: str
    node: str
    instance: int
    labels: tuple[Label, ...]
    children: tuple[tuple[Label, ...], ...]
    reason: str
    detail: dict


class ClusterNode:
    """One node of the label tree: a leaf is an active cluster, an internal node a past split."""

    def __init__(self, node_id: str, labels: list[Label], parent: ClusterNode | None, born_at: int):
        self.node_id = node_id
        self.labels = list(labels)
        self.parent = parent
        self.children: tuple[ClusterNode, ...] = ()
        self.born_at = born_at
        # Instances of the window in which at least one label of the node was on.
        self.relevant = 0
        self.index = {label: i for i, label in enumerate(self.labels)}
        # Columns of the tree's cumulative matrix: the node's labels (leaf) or each side's (internal).
        self.columns: list[int] = []
        self.side_columns: tuple[list[int], list[int]] = ([], [])
        self.side: dict[Label, tuple[int, int]] = {}
        # Snapshot of the cumulative counts when the window started: the leaf's block, or the
        # internal node's cross block and each side's on-counts.
        self.base: np.ndarray | None = None
        self.base_on: tuple[np.ndarray, np.ndarray] | None = None
        self.stamp = -1  # last instance that counted as relevant
        self.last_check: dict | None = None
        self.split_info: dict | None = None

    @property
    def active(self) -> bool:
        return not self.children

    @property
    def depth(self) -> int:
        return self.node_id.count(".")

    def n(self, t: int) -> int:
        return t - self.born_at

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def hoeffding_bound(n: int, delta: float, value_range: float = 1.0) -> float:
    """Hoeffding bound ``sqrt(R^2 ln(1/delta) / (2n))``; infinite while ``n`` is 0.

    >>> round(hoeffding_bound(100, 0.9), 4)
    0.023
    """
    if n <= 0:
        return math.inf
    return math.sqrt(value_range**2 * math.log(1.0 / delta) / (2.0 * n))


def jaccard_dissimilarity(n11: np.ndarray, on_a: np.ndarray, on_b: np.ndarray) -> np.ndarray:
    """``1 - n11 / (n_a + n_b - n11)`` elementwise, 1 where neither label has been on.

    ``on_a`` indexes the rows of ``n11`` and ``on_b`` its columns.

    >>> jaccard_dissimilarity(np.array([[2, 0]]), np.array([3]), np.array([2, 1])).round(3).tolist()
    [[0.333, 1.0]]
    """
    union = on_a[:, None] + on_b[None, :] - n11
    similarity = np.divide(n11, union, out=np.zeros(n11.shape, dtype=float), where=union > 0)
    return 1.0 - similarity


class LabelClusterTree(base.Base):
    """ODAC-style online divisive-agglomerative tree over labels, by Jaccard co-occurrence.

    Call :meth:`learn_one` with each label set; it returns the :class:`StructureChange` s it made.
    Tests run every ``n_min`` label sets on every node whose window holds at least ``n_min``.

    Parameters
    ----------
    delta
        Confidence of the split test (Hoeffding bound with range 1); the reference uses 0.9.
    tau
        Tie threshold: a split is allowed when the bound falls below it even if the two largest
        dissimilarities are not told apart.
    n_min
        Number of label sets between two rounds of tests.
    merge_delta
        Confidence of the two merge tests (undoing a split is a drift alarm).

    Examples
    --------
    Labels ``a, b`` are on together, ``c, d`` together, independently of ``a, b``:

    >>> import random
    >>> rng = random.Random(1)
    >>> tree = LabelClusterTree(n_min=50)
    >>> for _ in range(400):
    ...     ab, cd = rng.random() < 0.4, rng.random() < 0.4
    ...     changes = tree.learn_one({"a": ab, "b": ab, "c": cd, "d": cd})
    >>> tree.partition()
    [('a', 'b'), ('c', 'd')]

    References
    ----------
    Rodrigues, Gama & Pedroso, "Hierarchical clustering of time-series data streams", IEEE TKDE 20(5), 2008.
    Neves, Lourenço, Cano, Marreiros, "Online hierarchical partitioning of the output space in extreme
    multi-label data streams", ECAI 2025, arXiv:2507.20894.

    """

    def __init__(self, delta: float = 0.9, tau: float = 0.1, n_min: int = 100, merge_delta: float = 1e-3):
        for name, value in (("delta", delta), ("merge_delta", merge_delta)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"LabelClusterTree: {name} must be in (0, 1), got {value!r}")
        if n_min < 1:
            raise ValueError(f"LabelClusterTree: n_min must be a positive integer, got {n_min!r}")
        self.delta = delta
        self.tau = tau
        self.n_min = n_min
        self.merge_delta = merge_delta
        self._reset()

    def _reset(self):
        self._root: ClusterNode | None = None
        self._t = 0
        self._leaf_of: dict[Label, ClusterNode] = {}
        self._column: dict[Label, int] = {}
        self._cooccurrence = np.zeros((16, 16), dtype=np.int64)  # cumulative, capacity doubles
        self._pending: list[list[int]] = []  # columns on in each instance not yet counted
        self._labelset_sizes: collections.Counter = collections.Counter()

    # ------------------------------------------------------------------ public views

    @property
    def n_seen(self) -> int:
        """Number of label sets learned from."""
        return self._t

    @property
    def root(self) -> ClusterNode | None:
        return self._root

    @property
    def labels(self) -> list[Label]:
        return list(self._root.labels) if self._root is not None else []

    def leaves(self) -> list[ClusterNode]:
        """Active clusters, depth first, first child first."""
        if self._root is None:
            return []
        return [node for node in self._root.walk() if node.active]

    def node(self, node_id: str) -> ClusterNode:
        for candidate in self._root.walk() if self._root is not None else ():
            if candidate.node_id == node_id:
                return candidate
        raise KeyError(f"LabelClusterTree: no node {node_id!r}")

    def leaf(self, label: Label) -> ClusterNode:
        """The active cluster that holds ``label``."""
        try:
            return self._leaf_of[label]
        except KeyError:
            raise KeyError(f"LabelClusterTree: label {label!r} has not been seen") from None

    def relevant_nodes(self, on) -> set[str]:
        """Identifiers of the nodes that hold at least one of the labels in ``on``."""
        out: set[str] = set()
        for label in on:
            node = self._leaf_of.get(label)
            while node is not None and node.node_id not in out:
                out.add(node.node_id)
                node = node.parent
        return out

    @property
    def min_size(self) -> int:
        """Smallest group size after repair: the most frequent label-set size seen (at least 1)."""
        if not self._labelset_sizes:
            return 1
        size, _ = max(self._labelset_sizes.items(), key=lambda item: (item[1], -item[0]))
        return max(1, size)

    # ------------------------------------------------------------------ learning

    def learn_one(self, y) -> list[StructureChange]:
        """Count one label set (``dict[label, bool]`` or the set of labels on) and run due tests."""
        if isinstance(y, dict):
            on = [label for label, value in y.items() if value]
            seen = list(y)
        else:
            on = list(y)
            seen = on
        # Sorted, so that the tree does not depend on the iteration order of a set (salted per process).
        for label in sorted((label for label in seen if label not in self._leaf_of), key=str):
            self._add_label(label, on)
        self._t += 1
        self._labelset_sizes[len(on)] += 1
        self._count(on)
        if self._t % self.n_min:
            return []
        return self._run_tests()

    def restart_statistics(self) -> None:
        """Start a fresh window on every node, keeping the structure and the statistics of the
        last tests and splits, so that later tests compare new data with the old structure."""
        self._flush()
        for node in self._root.walk() if self._root is not None else ():
            self._start_window(node)

    def window_counts(self, leaf: ClusterNode) -> np.ndarray:
        """Counts of a leaf's window: on-counts on the diagonal, both-on counts elsewhere."""
        self._flush()
        columns = leaf.columns
        return self._cooccurrence[np.ix_(columns, columns)] - leaf.base

    def window_cross(self, node: ClusterNode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both-on counts across an internal node's children since its split, and each side's on-counts."""
        self._flush()
        side_a, side_b = node.side_columns
        diagonal = np.diagonal(self._cooccurrence)
        return (
            self._cooccurrence[np.ix_(side_a, side_b)] - node.base,
            diagonal[side_a] - node.base_on[0],
            diagonal[side_b] - node.base_on[1],
        )

    def _start_window(self, node: ClusterNode) -> None:
        node.born_at = self._t
        node.relevant = 0
        counts = self._cooccurrence
        if node.active:
            node.base = counts[np.ix_(node.columns, node.columns)]
            node.base_on = None
        else:
            side_a, side_b = node.side_columns
            node.base = counts[np.ix_(side_a, side_b)]
            node.base_on = (np.diagonal(counts)[side_a].copy(), np.diagonal(counts)[side_b].copy())

    def _flush(self) -> None:
        if not self._pending:
            return
        lengths = np.fromiter(map(len, self._pending), dtype=np.int64, count=len(self._pending))
        columns = np.fromiter((c for on in self._pending for c in on), dtype=np.int64, count=int(lengths.sum()))
        self._pending = []
        # Every ordered pair (a, b) of each instance's columns, the diagonal included.
        squares = lengths * lengths
        instance = np.repeat(np.arange(len(lengths)), squares)
        offset = np.arange(int(squares.sum())) - np.repeat(np.cumsum(squares) - squares, squares)
        starts = (np.cumsum(lengths) - lengths)[instance]
        rows = columns[starts + offset // lengths[instance]]
        cols = columns[starts + offset % lengths[instance]]
        np.add.at(self._cooccurrence, (rows, cols), 1)

    def _add_label(self, label: Label, on: list[Label]) -> None:
        column = len(self._column)
        self._column[label] = column
        capacity = self._cooccurrence.shape[0]
        if column >= capacity:
            self._cooccurrence = np.pad(self._cooccurrence, ((0, capacity), (0, capacity)))
        if self._root is None:
            self._root = ClusterNode("r", [label], None, self._t)
            self._root.columns = [column]
            self._start_window(self._root)
            self._leaf_of[label] = self._root
            return
        votes = collections.Counter(self._leaf_of[other].node_id for other in on if other in self._leaf_of)
        leaves = self.leaves()
        if votes:
            leaf = max(leaves, key=lambda node: (votes.get(node.node_id, 0), len(node.labels)))
        else:
            leaf = max(leaves, key=lambda node: len(node.labels))
        # The new column's cumulative counts are all 0, so the snapshots grow by zeros.
        leaf.index[label] = len(leaf.labels)
        leaf.labels.append(label)
        leaf.columns.append(column)
        leaf.base = np.pad(leaf.base, ((0, 1), (0, 1)))
        self._leaf_of[label] = leaf
        child, node = leaf, leaf.parent
        while node is not None:
            side = 0 if child is node.children[0] else 1
            node.index[label] = len(node.labels)
            node.labels.append(label)
            node.side[label] = (side, len(node.side_columns[side]))
            node.side_columns[side].append(column)
            node.base = np.pad(node.base, ((0, 1), (0, 0)) if side == 0 else ((0, 0), (0, 1)))
            node.base_on = tuple(
                np.append(on_counts, 0) if s == side else on_counts for s, on_counts in enumerate(node.base_on)
            )
            child, node = node, node.parent

    def _count(self, on: list[Label]) -> None:
        if not on:
            return
        self._pending.append([self._column[label] for label in on])
        t = self._t
        for label in on:
            node = self._leaf_of[label]
            while node is not None and node.stamp != t:
                node.stamp = t
                node.relevant += 1
                node = node.parent

    # ------------------------------------------------------------------ tests

    def _run_tests(self) -> list[StructureChange]:
        self._flush()
        changes: list[StructureChange] = []
        # Merge tests first (ODAC), the child-spread one before the gap one; a parent made active
        # again takes its subtree out of this round.
        for leaf in self.leaves():
            if leaf.n(self._t) < self.n_min:
                continue
            self._check_leaf(leaf)
            if leaf.parent is not None and self._in_tree(leaf):
                change = self._spread_test(leaf)
                if change is not None:
                    changes.append(change)
        for node in [n for n in self._root.walk() if not n.active]:
            if self._in_tree(node) and not node.active and node.n(self._t) >= self.n_min:
                change = self._gap_test(node)
                if change is not None:
                    changes.append(change)
        for leaf in self.leaves():
            if leaf.n(self._t) >= self.n_min and len(leaf.labels) >= 2:
                change = self._split_test(leaf)
                if change is not None:
                    changes.append(change)
        for change in changes:
            logger.debug("label tree %s at %d: node %s (%s)", change.kind, change.instance, change.node, change.reason)
        return changes

    def _in_tree(self, node: ClusterNode) -> bool:
        while node.parent is not None:
            if node not in node.parent.children:
                return False
            node = node.parent
        return node is self._root

    def _leaf_dissimilarity(self, leaf: ClusterNode) -> np.ndarray:
        counts = self.window_counts(leaf)
        on = np.diag(counts)
        return jaccard_dissimilarity(counts, on, on)

    def _check_leaf(self, leaf: ClusterNode) -> None:
        """Compute and cache d0, d1, d2, avg, eps and the pivots of a leaf."""
        n = leaf.n(self._t)
        m = len(leaf.labels)
        eps = hoeffding_bound(leaf.relevant, self.delta)
        check = {"instance": self._t, "n": n, "relevant": leaf.relevant, "eps": eps}
        if m == 1:
            p = self.window_counts(leaf)[0, 0] / n
            variance = float(p * (1.0 - p))
            check.update(d0=variance, d1=variance, d2=variance, avg=variance, pivots=None)
            leaf.last_check = check
            return
        dissimilarity = self._leaf_dissimilarity(leaf)
        rows, cols = np.triu_indices(m, 1)
        pairs = dissimilarity[rows, cols]
        d1 = float(pairs.max())
        top = np.flatnonzero(pairs >= d1 - 1e-12)
        on = np.diag(self.window_counts(leaf))
        best = top[np.argmax(on[rows[top]] + on[cols[top]])]
        d2 = float(np.partition(pairs, -2)[-2]) if len(pairs) > 1 else d1
        check.update(
            d0=float(pairs.min()),
            d1=d1,
            d2=d2,
            avg=float(pairs.mean()),
            pivots=(leaf.labels[rows[best]], leaf.labels[cols[best]]),
        )
        leaf.last_check = check

    def _split_test(self, leaf: ClusterNode) -> StructureChange | None:
        check = leaf.last_check
        eps, d0, d1, d2, avg = check["eps"], check["d0"], check["d1"], check["d2"], check["avg"]
        separated = (d1 - d2) > eps or self.tau > eps
        heterogeneity = (d1 - d0) * abs((d1 + d0) - 2.0 * avg)
        if not (separated and heterogeneity > eps):
            return None
        dissimilarity = self._leaf_dissimilarity(leaf)
        pivot_a, pivot_b = (leaf.index[p] for p in check["pivots"])
        members: tuple[list[int], list[int]] = ([pivot_a], [pivot_b])
        for i in range(len(leaf.labels)):
            if i in (pivot_a, pivot_b):
                continue
            to_a, to_b = dissimilarity[i, pivot_a], dissimilarity[i, pivot_b]
            if to_a == to_b:
                members[0 if len(members[0]) <= len(members[1]) else 1].append(i)
            else:
                members[0 if to_a < to_b else 1].append(i)
        groups = [sorted(side) for side in members]
        gap = _gap(dissimilarity, groups[0], groups[1])
        n = leaf.n(self._t)
        leaf.split_info = {
            "instance": self._t,
            "n": n,
            "relevant": leaf.relevant,
            "d1": d1,
            "gap": gap,
            "merge_eps": hoeffding_bound(leaf.relevant, self.merge_delta),
            "pivots": list(check["pivots"]),
        }
        children = []
        for suffix, side in enumerate(groups):
            child = ClusterNode(f"{leaf.node_id}.{suffix}", [leaf.labels[i] for i in side], leaf, self._t)
            child.columns = [leaf.columns[i] for i in side]
            self._start_window(child)
            children.append(child)
            for label in child.labels:
                self._leaf_of[label] = child
        leaf.children = tuple(children)
        leaf.side = {label: (s, i) for s, child in enumerate(children) for i, label in enumerate(child.labels)}
        leaf.side_columns = (list(children[0].columns), list(children[1].columns))
        leaf.columns = []
        self._start_window(leaf)
        return StructureChange(
            kind="split",
            node=leaf.node_id,
            instance=self._t,
            labels=tuple(leaf.labels),
            children=tuple(tuple(child.labels) for child in children),
            reason="hoeffding_split",
            detail={
                "n": n,
                "relevant": check["relevant"],
                "d0": d0,
                "d1": d1,
                "d2": d2,
                "avg": avg,
                "eps": eps,
                "heterogeneity": heterogeneity,
                "pivots": list(check["pivots"]),
                "gap": gap,
            },
        )

    def _spread_test(self, leaf: ClusterNode) -> StructureChange | None:
        """ODAC's agglomerative test: the child became more spread than its parent was at the split."""
        parent = leaf.parent
        info = parent.split_info
        eps = max(info["merge_eps"], hoeffding_bound(leaf.relevant, self.merge_delta))
        excess = leaf.last_check["d1"] - info["d1"]
        if excess <= eps:
            return None
        detail = {"child": leaf.node_id, "d1_child": leaf.last_check["d1"], "d1_parent": info["d1"], "eps": eps}
        return self._merge(parent, "child_spread", detail)

    def _gap_test(self, node: ClusterNode) -> StructureChange | None:
        """The split's gap (across minus within dissimilarity) shrank reliably since it was made."""
        info = node.split_info
        across = jaccard_dissimilarity(*self.window_cross(node))
        within_sum, within_pairs = 0.0, 0
        for child in node.children:
            total, pairs = self._within(child)
            within_sum += total
            within_pairs += pairs
        gap = float(across.mean()) - (within_sum / within_pairs if within_pairs else 0.0)
        eps = max(info["merge_eps"], hoeffding_bound(node.relevant, self.merge_delta))
        if info["gap"] - gap <= eps:
            return None
        return self._merge(node, "gap_closed", {"gap_at_split": info["gap"], "gap": gap, "eps": eps})

    def _within(self, child: ClusterNode) -> tuple[float, int]:
        m = len(child.labels)
        pairs = m * (m - 1) // 2
        if pairs == 0:
            return 0.0, 0
        if child.active:
            rows, cols = np.triu_indices(m, 1)
            return float(self._leaf_dissimilarity(child)[rows, cols].sum()), pairs
        # An internal child no longer counts its own pairs: use its mean at its last test.
        return child.last_check["avg"] * pairs, pairs

    def _merge(self, node: ClusterNode, reason: str, detail: dict) -> StructureChange:
        children = tuple(tuple(child.labels) for child in node.children)
        detail = {**detail, "n": node.n(self._t), "split_at": node.split_info["instance"]}
        node.children = ()
        node.side = {}
        node.side_columns = ([], [])
        node.columns = [self._column[label] for label in node.labels]
        node.split_info = None
        node.last_check = None
        self._start_window(node)
        for label in node.labels:
            self._leaf_of[label] = node
        return StructureChange("merge", node.node_id, self._t, tuple(node.labels), children, reason, detail)

    # ------------------------------------------------------------------ partition

    def partition(self, max_groups: int | None = None) -> list[tuple[Label, ...]]:
        """The leaves' label sets after the size repair, as sorted tuples in tree order.

        Leaves with fewer than :attr:`min_size` labels join their nearest relatives in the tree,
        and with ``max_groups`` the smallest groups keep joining them until at most that many are
        left (see :func:`learners.cluster_repair.repair`).
        """
        return [labels for _, labels in self.partition_homes(max_groups)]

    def partition_homes(self, max_groups: int | None = None) -> list[tuple[str, tuple[Label, ...]]]:
        """Like :meth:`partition`, with each group's home: the deepest node holding all its labels."""
        leaves = [(leaf.node_id, leaf.labels) for leaf in self.leaves()]
        groups = repair(leaves, self.min_size, max_groups)
        return [(home, tuple(sorted(labels, key=str))) for home, labels in groups]

    # ------------------------------------------------------------------ introspection

    def describe(self) -> dict:
        """The tree as JSON-able nested dicts."""
        return {
            "instances": self._t,
            "min_size": self.min_size,
            "root": _describe_node(self._root, self._t) if self._root is not None else None,
        }


def _gap(dissimilarity: np.ndarray, side_a: list[int], side_b: list[int]) -> float:
    across = dissimilarity[np.ix_(side_a, side_b)].mean()
    within = []
    for side in (side_a, side_b):
        block = dissimilarity[np.ix_(side, side)]
        within.append(block[np.triu_indices(len(side), 1)])
    within_all = np.concatenate(within)
    return float(across - (within_all.mean() if within_all.size else 0.0))


def _describe_node(node: ClusterNode, t: int) -> dict:
    out = {
        "id": node.node_id,
        "labels": [str(label) for label in node.labels],
        "active": node.active,
        "n": node.n(t),
        "relevant": node.relevant,
        "last_check": _jsonable(node.last_check),
    }
    if not node.active:
        out["split"] = _jsonable(node.split_info)
        out["children"] = [_describe_node(child, t) for child in node.children]
    return out


def _jsonable(stats: dict | None) -> dict | None:
    if stats is None:
        return None
    return {key: (list(value) if isinstance(value, tuple) else value) for key, value in stats.items()}
