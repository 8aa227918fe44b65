"""iHOMER's views of itself: the JSON-able snapshot and the tree drawn as text."""

from __future__ import annotations

import collections

from learners.base import MultiLabelClassifier
from learners.ihomer_groups import _Group
from learners.ihomer_serving import PER_LABEL
from learners.label_clustering import ClusterNode


class Views:
    """The introspection part of :class:`~learners.ihomer.IHOMER` (a mixin)."""

    @staticmethod
    def _learner_name(base: str | MultiLabelClassifier) -> str:
        return base if isinstance(base, str) else type(base).__name__

    def describe(self) -> dict:
        """JSON-able snapshot: the label tree, the partition and its learners, recent history.

        Measuring each group learner's size walks its objects (about 20 ms for a few MB): call
        :meth:`partition` where only the groups are needed.
        """
        return {
            "learner": "ihomer",
            "instances": self._n,
            "labels": len(self._labels),
            "base_learner": self._learner_name(self.base_learner),
            "min_size": self._tree.min_size,
            "hamming_error": self._error.estimation if self._error is not None else None,
            "root_learners": [
                {
                    "level": level,
                    "learner": self._learner_name(base),
                    "bytes": root.model_bytes,
                    "retired": i in self._retired_roots,
                }
                for i, (level, base, root) in enumerate(zip(self._root_levels, self._root_bases(), self._roots))
            ],
            "tree": self._tree.describe()["root"],
            "partition": [
                {
                    "id": group.group_id,
                    "labels": [str(label) for label in group.labels],
                    "home": group.home,
                    "size": len(group.labels),
                    "learner": self._learner_name(self.base_learner),
                    "learner_bytes": group.learner.model_bytes,
                    "retired": group.retired,
                    "origin": group.origin,
                    "created_at": group.created_at,
                    "error": group.error.estimation,
                    "mentor": group.mentor.source if group.mentor is not None else None,
                    "mentored_for": group.handover[0],
                    "serving": self._group_serving(group),
                    "served_by": self._served_by(group),
                    **self._window_errors(group.choice, 0, len(group.labels)),
                    **(self._set_errors(group) if self.serving_sets and self._roots else {}),
                }
                for group in self._groups
            ],
            "history": self.history,
        }

    def _group_serving(self, group: _Group) -> str:
        """``"own"`` without a root learner, the level serving the group's label sets as a whole
        (with ``serving_sets``), or ``"per label"``."""
        if not self._roots:
            return "own"
        return self._set_levels()[group.set_choice.serving[0]] if self.serving_sets else PER_LABEL

    def _served_by(self, group: _Group) -> dict[str, int]:
        """How many of the group's labels each candidate serves (empty without a root learner)."""
        if not self._roots:
            return {}
        counts = collections.Counter(self._served_levels(group))
        return {level: counts[level] for level in self._levels if counts[level]}

    def render_text(self) -> str:
        """The label tree as indented text, with each group's learner next to its home node."""
        lines = [
            f"iHOMER: {self._n} instances, {len(self._labels)} labels, {len(self._groups)} groups "
            f"(min size {self._tree.min_size}), base learner {self._learner_name(self.base_learner)}"
            + (
                f", root learners {', '.join(self._learner_name(base) for base in self._root_bases())} over all labels"
                if self._roots
                else ""
            )
        ]
        homes = collections.defaultdict(list)
        for group in self._groups:
            homes[group.home].append(group)
        root = self._tree.root
        if root is not None:
            self._render(root, "", True, homes, lines, is_root=True)
        return "\n".join(lines)

    def _render(
        self, node: ClusterNode, prefix: str, last: bool, homes, lines: list[str], is_root: bool = False
    ) -> None:
        check = node.last_check
        stats = f" d1={check['d1']:.3f} eps={check['eps']:.3f}" if check else ""
        if node.active:
            labels = ", ".join(map(str, node.labels))
            head = f"{node.node_id} [active n={node.n(self._tree.n_seen)}{stats}] {{{labels}}}"
        else:
            head = f"{node.node_id} [split at {node.split_info['instance']}{stats}]"
        for group in homes.get(node.node_id, ()):
            served = self._served_by(group)
            served = ", served by " + ", ".join(f"{level} {n}" for level, n in served.items()) if served else ""
            head += f" -> {group.group_id} ({len(group.labels)} labels, {group.origin}{served})"
        branch = "" if is_root else ("└── " if last else "├── ")
        lines.append(prefix + branch + head)
        child_prefix = prefix + ("" if is_root else ("    " if last else "│   "))
        for i, child in enumerate(node.children):
            self._render(child, child_prefix, i == len(node.children) - 1, homes, lines)
