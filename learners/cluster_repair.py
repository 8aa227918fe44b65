"""Size repair of a label partition: small clusters join their nearest relatives in the label tree.

Clusters are named by their node in the tree (``"r"``, ``"r.0"``, ``"r.0.1"``, ...: each dot one
level down), so how near two clusters are is how deep their common ancestor is.
"""

from __future__ import annotations

import typing

__all__ = ["common_ancestor", "repair"]


def common_ancestor(a: str, b: str) -> str:
    """The deepest node that holds both nodes ``a`` and ``b``.

    >>> common_ancestor("r.0.1.1", "r.0.0"), common_ancestor("r.1", "r.1")
    ('r.0', 'r.1')
    """
    common = []
    for x, y in zip(a.split("."), b.split(".")):
        if x != y:
            break
        common.append(x)
    return ".".join(common)


def repair(
    clusters: typing.Sequence[tuple[str, typing.Sequence]], min_size: int, max_groups: int | None = None
) -> list[tuple[str, list]]:
    """Merge clusters until none has fewer than ``min_size`` labels and, with ``max_groups``, at most
    that many are left (or one is left).

    ``clusters`` are ``(node, labels)`` pairs in tree order. The smallest cluster that must go (the
    smallest too-small one, else the smallest of all) joins its nearest relative: the cluster whose
    node shares the deepest ancestor with it, the smaller one on a tie, the earlier one after that.
    The merged cluster's node is that common ancestor and it takes the place of the earlier of the
    two. This replaces the reference code's ten rounds of sibling and level merges with one rule
    that always ends.

    >>> repair([("r.0.0", ["a"]), ("r.0.1", ["b", "c"]), ("r.1", ["d", "e"])], min_size=2)
    [('r.0', ['a', 'b', 'c']), ('r.1', ['d', 'e'])]
    >>> repair([("r.0.0", ["a"]), ("r.0.1", ["b", "c"]), ("r.1", ["d", "e"])], min_size=1, max_groups=1)
    [('r', ['a', 'b', 'c', 'd', 'e'])]
    """
    groups = [[node, list(labels)] for node, labels in clusters]
    while len(groups) > 1:
        candidates = [i for i, (_, labels) in enumerate(groups) if len(labels) < min_size]
        if not candidates:
            if max_groups is None or len(groups) <= max_groups:
                break
            candidates = range(len(groups))
        i = min(candidates, key=lambda k: (len(groups[k][1]), k))
        node = groups[i][0]
        j = max(
            (k for k in range(len(groups)) if k != i),
            key=lambda k: (common_ancestor(node, groups[k][0]).count("."), -len(groups[k][1]), -k),
        )
        first, second = sorted((i, j))
        groups[first] = [common_ancestor(node, groups[j][0]), groups[first][1] + groups[second][1]]
        del groups[second]
    return [(node, labels) for node, labels in groups]
