"""The online label tree: Jaccard counts, split and merge tests, size repair, new labels."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from learners.label_clustering import LabelClusterTree, hoeffding_bound, jaccard_dissimilarity

A = ("a0", "a1", "a2")
B = ("b0", "b1", "b2")


def two_blocks(n: int, rng: random.Random, correlated=False, flip=0.03, anti_a2=False, coupling=0.0):
    """Label sets of two blocks of three labels: each block is on with probability 0.4 and each
    label copies its block's state, flipped with probability ``flip``. Block B copies block A with
    probability ``coupling`` (always if ``correlated``), else is independent; ``anti_a2`` makes a2
    the opposite of block A."""
    for _ in range(n):
        on_a = rng.random() < 0.4
        on_b = on_a if correlated or rng.random() < coupling else rng.random() < 0.4
        y = {label: on_a != (rng.random() < flip) for label in A}
        y.update({label: on_b != (rng.random() < flip) for label in B})
        if anti_a2:
            y["a2"] = not on_a
        yield y


def learn(tree: LabelClusterTree, label_sets) -> list:
    changes = []
    for y in label_sets:
        changes.extend(tree.learn_one(y))
    return changes


def test_counts_and_jaccard_by_hand():
    tree = LabelClusterTree(n_min=1000)
    for y in [{"a", "b"}, {"a"}, {"b", "c"}, set(), {"a", "b", "c"}]:
        tree.learn_one({label: label in y for label in "abc"})
    leaf = tree.root
    counts = tree.window_counts(leaf)
    # Diagonal: on-counts a=3, b=3, c=2; off-diagonal: both on, (a,b)=2, (a,c)=1, (b,c)=2.
    assert counts.tolist() == [[3, 2, 1], [2, 3, 2], [1, 2, 2]]
    assert leaf.relevant == 4  # the empty label set touches nothing
    on = np.diag(counts)
    dissimilarity = jaccard_dissimilarity(counts, on, on)
    # J(a,b) = 2 / (3 + 3 - 2), J(a,c) = 1 / (3 + 2 - 1), J(b,c) = 2 / (3 + 2 - 2).
    assert dissimilarity[0, 1] == pytest.approx(1 - 1 / 2)
    assert dissimilarity[0, 2] == pytest.approx(1 - 1 / 4)
    assert dissimilarity[1, 2] == pytest.approx(1 - 2 / 3)


def test_labels_never_on_are_maximally_dissimilar():
    assert jaccard_dissimilarity(np.zeros((1, 1), dtype=int), np.array([0]), np.array([0])).tolist() == [[1.0]]


def test_a_set_of_labels_is_the_same_as_a_dict():
    from_sets, from_dicts = LabelClusterTree(), LabelClusterTree()
    from_dicts.learn_one({"a": False, "b": False})
    from_sets.learn_one({"a", "b"})
    from_sets.learn_one({"a"})
    from_dicts.learn_one({"a": True, "b": True})
    from_dicts.learn_one({"a": True, "b": False})
    assert from_sets.root.labels == from_dicts.root.labels == ["a", "b"]
    assert from_sets.window_counts(from_sets.root).tolist() == [[2, 1], [1, 1]]
    assert from_dicts.window_counts(from_dicts.root).tolist() == [[2, 1], [1, 1]]


def test_hoeffding_bound():
    assert hoeffding_bound(200, 0.05) == pytest.approx(np.sqrt(np.log(20) / 400))
    assert hoeffding_bound(0, 0.05) == np.inf


def test_independent_blocks_split_into_exactly_those_blocks():
    tree = LabelClusterTree(n_min=100)
    changes = learn(tree, two_blocks(4000, random.Random(3)))
    assert [change.kind for change in changes] == ["split"]
    split = changes[0]
    assert split.node == "r" and split.reason == "hoeffding_split"
    assert sorted(map(sorted, split.children)) == [list(A), list(B)]
    assert split.detail["heterogeneity"] > split.detail["eps"]
    assert sorted(tree.partition()) == [A, B]


def test_blocks_that_become_correlated_merge_back():
    rng = random.Random(4)
    tree = LabelClusterTree(n_min=100)
    before = learn(tree, two_blocks(1000, rng))
    assert [change.kind for change in before] == ["split"]
    after = learn(tree, two_blocks(3000, rng, correlated=True))
    merges = [change for change in after if change.kind == "merge"]
    assert len(merges) == 1
    merge = merges[0]
    assert merge.node == "r" and merge.reason == "gap_closed"
    assert merge.detail["gap_at_split"] - merge.detail["gap"] > merge.detail["eps"]
    assert sorted(tree.partition()) == [A + B]


def test_a_child_that_spreads_more_than_its_parent_merges_back():
    # Coupled blocks: the split's largest dissimilarity is moderate; then a2 turns against its block.
    rng = random.Random(5)
    tree = LabelClusterTree(n_min=300)
    learn(tree, two_blocks(600, rng, coupling=0.6))
    assert sorted(tree.partition()) == [A, B]
    after = learn(tree, two_blocks(3000, rng, coupling=0.6, anti_a2=True))
    merge = next(change for change in after if change.kind == "merge")
    assert merge.reason == "child_spread"
    assert merge.detail["d1_child"] - merge.detail["d1_parent"] > merge.detail["eps"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_merge_on_a_stationary_stream(seed):
    tree = LabelClusterTree(n_min=100)
    changes = learn(tree, two_blocks(6000, random.Random(seed), flip=0.15))
    assert [change for change in changes if change.kind == "merge"] == []


def test_restart_statistics_keeps_the_structure():
    tree = LabelClusterTree(n_min=100)
    learn(tree, two_blocks(1000, random.Random(6)))
    tree.restart_statistics()
    assert sorted(tree.partition()) == [A, B]
    for leaf in tree.leaves():
        assert tree.window_counts(leaf).sum() == 0 and leaf.relevant == 0
    cross, on_a, on_b = tree.window_cross(tree.root)
    assert cross.sum() == on_a.sum() == on_b.sum() == 0 and tree.root.split_info["gap"] > 0
    tree.learn_one({"a0": True, "b0": True, "b1": True})
    cross, on_a, on_b = tree.window_cross(tree.root)
    assert cross.sum() == 2 and on_a.sum() + on_b.sum() == 3


def test_new_label_joins_the_leaf_of_the_labels_it_comes_with():
    tree = LabelClusterTree(n_min=100)
    learn(tree, two_blocks(1000, random.Random(7)))
    tree.learn_one({**dict.fromkeys(A + B, False), "b1": True, "new": True})
    leaf = tree.leaf("new")
    assert set(B) < set(leaf.labels)
    counts = tree.window_counts(leaf)
    assert counts.shape == (4, 4) and counts[leaf.index["new"]].tolist() == [0, 1, 0, 1]
    # The root's cross block grew on the side of that leaf and counted the new pair.
    side, position = tree.root.side["new"]
    cross, *on_sides = tree.window_cross(tree.root)
    assert cross.shape[side] == 4 and cross.shape[1 - side] == 3
    assert on_sides[side][position] == 1


def test_a_label_that_comes_alone_joins_the_largest_leaf():
    tree = LabelClusterTree(n_min=100)
    learn(tree, two_blocks(1000, random.Random(8)))
    tree.learn_one({"lonely": False})
    assert tree.leaf("lonely").labels[:3] in (list(A), list(B))
    assert "lonely" in tree.root.labels


def test_size_repair_merges_small_leaves_with_their_nearest_relatives():
    # Blocks {p, q} and {s, t} and a rarer loner r: the tree cuts r off alone, but two labels on
    # is the most frequent label-set size, so r joins the nearest group.
    rng = random.Random(9)
    tree = LabelClusterTree(n_min=100)
    labels = ["p", "q", "r", "s", "t"]
    for _ in range(3000):
        pq, st, r = rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.2
        tree.learn_one({"p": pq, "q": pq, "r": r, "s": st, "t": st})
    assert tree.min_size == 2
    assert sorted(tuple(leaf.labels) for leaf in tree.leaves()) == [("p", "q"), ("r",), ("s", "t")]
    groups = tree.partition()
    assert len(groups) == 2 and sorted(label for group in groups for label in group) == labels
    assert all(len(group) >= 2 for group in groups)
    assert ("p", "q", "r") in groups or ("r", "s", "t") in groups
    for home, group in tree.partition_homes():
        assert set(group) <= set(tree.node(home).labels)


def test_partition_before_any_data_is_empty_and_min_size_is_one():
    tree = LabelClusterTree()
    assert tree.partition() == [] and tree.min_size == 1 and tree.describe()["root"] is None


def test_relevant_nodes_are_the_ancestors_of_the_labels_on():
    tree = LabelClusterTree(n_min=100)
    learn(tree, two_blocks(1000, random.Random(10)))
    a_leaf = tree.leaf("a0").node_id
    assert tree.relevant_nodes(["a1"]) == {"r", a_leaf}
    assert tree.relevant_nodes([]) == set()


def test_describe_is_json_and_carries_the_last_checks():
    tree = LabelClusterTree(n_min=100)
    learn(tree, two_blocks(1000, random.Random(11)))
    described = json.loads(json.dumps(tree.describe()))
    root = described["root"]
    assert root["active"] is False and root["split"]["pivots"]
    assert {tuple(child["labels"]) for child in root["children"]} == {A, B}
    assert all(child["last_check"]["eps"] > 0 for child in root["children"])


@pytest.mark.parametrize("params", [{"delta": 0.0}, {"merge_delta": 1.0}, {"n_min": 0}])
def test_bad_parameters_are_refused(params):
    with pytest.raises(ValueError, match="LabelClusterTree"):
        LabelClusterTree(**params)


def test_unknown_label_is_a_clear_error():
    tree = LabelClusterTree()
    tree.learn_one({"a": True})
    with pytest.raises(KeyError, match="'zzz' has not been seen"):
        tree.leaf("zzz")


def test_buffered_counts_match_a_direct_count_with_labels_appearing_mid_stream():
    rng = random.Random(12)
    tree = LabelClusterTree(n_min=1000)
    names = [f"l{i}" for i in range(12)]
    label_sets = []
    for i in range(700):
        known = names[: 4 + i // 100]  # a new label every 100 instances
        on = {label for label in known if rng.random() < 0.3}
        label_sets.append(on)
        tree.learn_one({label: label in on for label in known})
    leaf = tree.root
    direct = np.array([[sum(a in on and b in on for on in label_sets) for b in leaf.labels] for a in leaf.labels])
    assert (tree.window_counts(leaf) == direct).all()
    assert leaf.relevant == sum(bool(on) for on in label_sets)
