"""The fixed label split: any learner, its labels dealt out to the shards as they first appear.

Each shard holds a clone of the learner that learns every record's features with the labels of
its shard only. That is exact for binary-relevance learners (one model per label, each seeded
from its label); a global learner (one tree over all labels, a label powerset, a chain) loses
what it learns across shards, which ``benchmarks/bench_sharding.py`` measures.
"""

from __future__ import annotations

import typing

from learners.base import DriftEvent, Label, MultiLabelClassifier, as_label_dict
from learners.sharding.executor import Executor
from learners.sharding.host import HostFactory
from learners.sharding.ops import Learn, Predict, check_ops


class LabelShard:
    """The part one host holds under a fixed label split: a learner of the shard's labels."""

    def __init__(self, learner: MultiLabelClassifier):
        self.learner = learner

    def apply(self, ops: list) -> tuple[list, list[tuple[int, DriftEvent]]]:
        """Run ``ops`` (their targets already cut to this shard's labels) in order; return each op's
        result (the probabilities for a :class:`Predict`, ``None`` for a :class:`Learn`) and the
        learner's events as ``(op position, event)``."""
        learner = self.learner
        results: list = []
        events: list[tuple[int, DriftEvent]] = []
        for position, op in enumerate(ops):
            if isinstance(op, Predict):
                results.append(learner.predict_proba_one(op.x))
                continue
            op.teach(learner)
            results.append(None)
            events.extend((position, event) for event in learner.pop_events())
        return results, events

    def control(self, command: str, *args):
        raise ValueError(f"a label-split shard takes no command, got {command!r}")

    @property
    def model_bytes(self) -> int:
        return self.learner.model_bytes

    def describe(self) -> dict:
        return {"learner": type(self.learner).__name__}


class LabelSplitHead:
    """The head of a fixed label split: deals out labels, cuts targets, merges predictions.

    A new label goes to the shard with the fewest labels (the first of equals), so the split is
    balanced and depends only on the order in which labels first appear.
    """

    kind = "label_split"

    def __init__(self, learner: MultiLabelClassifier, n_shards: int, executor: Executor):
        self.learner = learner
        self.n_shards = n_shards
        self.executor = executor
        self._shard_of: dict[Label, int] = {}  # in order of first appearance
        self._sizes = [0] * n_shards
        self.hosts = [executor.start(HostFactory(LabelShard(learner.clone()))) for _ in range(n_shards)]

    def _assign(self, label: Label) -> None:
        shard = self._sizes.index(min(self._sizes))
        self._shard_of[label] = shard
        self._sizes[shard] += 1

    def run(self, ops: typing.Sequence, emit: typing.Callable[[DriftEvent], None]) -> list:
        check_ops(ops)
        per_shard: list[list] = [[] for _ in range(self.n_shards)]
        for op in ops:
            if isinstance(op, Predict):
                for shard_ops in per_shard:
                    shard_ops.append(op)
                continue
            y = as_label_dict(op.y, known=self._shard_of)
            if not isinstance(op.y, dict):
                # A set's order changes with the process's hash seed: deal its new labels by name.
                for label in sorted((label for label in y if label not in self._shard_of), key=str):
                    self._assign(label)
            cut: list[dict] = [{} for _ in range(self.n_shards)]
            for label, value in y.items():
                if label not in self._shard_of:
                    self._assign(label)
                cut[self._shard_of[label]][label] = value
            for shard, shard_ops in enumerate(per_shard):
                shard_ops.append(Learn(op.x, cut[shard], op.mask))
        futures = [self.executor.call(host, "apply", shard_ops) for host, shard_ops in zip(self.hosts, per_shard)]
        answers = self.executor.gather(futures)
        results: list = []
        for position, op in enumerate(ops):
            if isinstance(op, Learn):
                results.append(None)
                continue
            merged: dict = {}
            for shard_results, _ in answers:
                merged.update(shard_results[position])
            # The unsharded learner answers in order of first appearance, as the head deals labels.
            ordered = {label: merged[label] for label in self._shard_of if label in merged}
            if len(ordered) < len(merged):
                ordered.update(merged)
            results.append(ordered)
        shard_events = sorted(
            ((position, shard, i, event) for shard, (_, events) in enumerate(answers) for i, (position, event) in enumerate(events)),
            key=lambda item: item[:3],
        )
        for *_, event in shard_events:
            emit(event)
        return results

    def head_state(self) -> dict:
        return {"kind": self.kind, "n_shards": self.n_shards, "shard_of": list(self._shard_of.items())}

    def load_head_state(self, state: dict) -> None:
        self._shard_of = dict(state["shard_of"])
        self._sizes = [0] * self.n_shards
        for shard in self._shard_of.values():
            self._sizes[shard] += 1

    def shard_labels(self) -> list[list[Label]]:
        """The labels of each shard, in order of first appearance."""
        out: list[list[Label]] = [[] for _ in range(self.n_shards)]
        for label, shard in self._shard_of.items():
            out[shard].append(label)
        return out

    def describe(self) -> dict:
        return {
            "learner": type(self.learner).__name__,
            "sharding": self.kind,
            "shards": [{"shard": i, "labels": [str(label) for label in labels]} for i, labels in enumerate(self.shard_labels())],
            "labels": len(self._shard_of),
        }
