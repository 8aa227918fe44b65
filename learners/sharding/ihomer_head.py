"""The head of a sharded iHOMER: the label tree, the partition and the error monitor.

Design (exact: the sharded model predicts what the unsharded one does, record for record):

- The label tree learns from labels only, so the head runs it (and the size repair, the
  warm-up guard, the history, the seeds of new learners) in a *skeleton*: an
  :class:`~learners.ihomer.IHOMER` whose groups are stand-ins without learners.
- The roots (learners over all labels) do not depend on the groups: each runs on a root host
  of its own and answers, for a whole batch at once, its probabilities per op; the group hosts
  take those answers as inputs (the executor passes futures along, no round trip via the head).
- A batch's features and labels are shared once (:meth:`~learners.sharding.Executor.share`);
  ops name a record's features by index and its labels by the set of those on, so each host
  reads only its own labels' part of a record.
- Each group host holds a balanced share of the groups (by labels) with their learners, serving
  choices and error monitors (:class:`~learners.sharding.ihomer_parts.GroupShard`). A host that
  holds no group is not called.
- The global error monitor is an ADWIN that tests for drift only every ``clock`` updates
  (river's ADWIN), and the tree changes only on label sets the head sees. So the head cuts a
  batch into segments that end where a restructure can happen (a tree change outside the guard,
  or an ADWIN test): it sends a segment to the group hosts, adds their wrong-label counts to the
  ADWIN in order, and restructures between segments. A restructure pulls the groups that
  disappear (their whole state) to the head, runs iHOMER's own rebuild on the skeleton, and
  sends the new groups to the least loaded hosts; groups that stay keep their host.

- A root retires (``retire_roots``) on the serving columns of every group host, which only the
  head sees: the hosts report, per scored instance, the columns serving their groups, and the head
  ends a segment wherever a root could retire (it has served nothing for ``retire_after``
  instances as of the segments flushed so far). A root that retires stops at that instance: the
  head drops its later events of the batch (its host ran the whole batch already), the group
  hosts read its answers as none from then on, and its host drops its state and answers zeros.

Events come out in the unsharded order: per instance, the serving choices' events (in the
partition's order), the roots', the groups' learners', then the tree's, the drift and the
restructure. Mentors exist only without root learners, which this head does not shard.
"""

from __future__ import annotations

import copy
import itertools
import pickle
import typing

from learners.base import DriftEvent, Label, as_label_dict
from learners.ihomer import IHOMER
from learners.ihomer_groups import change_event, drift_event, forwarded_event
from learners.sharding.executor import Executor, Shared
from learners.sharding.host import HostFactory
from learners.sharding.ihomer_parts import GROUPS, SERVING, GroupShard, RootShard
from learners.sharding.ops import Predict, check_ops


class _Stub:
    """What the head keeps of a group living on a host: what a rebuild plans with."""

    def __init__(self, group):
        self.group_id = group.group_id
        self.labels = list(group.labels)
        self.home = group.home
        self.trained = set(group.trained)
        self.mentor = None
        self.origin = group.origin
        self.created_at = group.created_at
        self.error_rose = False


class IHOMERHead:
    """Sharded iHOMER's head (see the module docstring); built by :class:`~learners.sharding.ShardedModel`."""

    kind = "ihomer"

    def __init__(self, learner: IHOMER, n_shards: int, executor: Executor):
        if not learner.root_learner:
            raise ValueError(
                "sharded iHOMER needs root_learner=True: without roots, mentors are shared between groups "
                "and would have to live on one host"
            )
        self.learner = learner
        self.n_shards = n_shards
        self.executor = executor
        self._skeleton = learner.clone()
        self._host_of: dict[str, int] = {}  # group id -> group host
        self._given: set[int] = set()  # group hosts that have the running batch's inputs
        self._root_stop: dict[int, int] = {}  # root index -> the position in the running batch it retired at
        self._ticks = 0  # updates of the error monitor since its window was last reset
        self._reset_due = False  # the monitor's last update found drift: river resets it on the next
        self.group_hosts = [executor.start(HostFactory(GroupShard(learner.clone()))) for _ in range(n_shards)]
        # The skeleton's roots were drawn from its seed first, as the unsharded learner's: the hosts get them.
        self.root_hosts = [
            executor.start(HostFactory(RootShard(root, level)))
            for root, level in zip(self._skeleton._roots, self._skeleton._root_levels)
        ]

    @property
    def hosts(self) -> list:
        return [*self.group_hosts, *self.root_hosts]

    # ------------------------------------------------------------------ running ops

    def run(self, ops: typing.Sequence, emit: typing.Callable[[DriftEvent], None]) -> list:
        check_ops(ops)
        sk = self._skeleton
        # First pass: the targets over every label known at their time, the roots' ops, and the
        # batch's features (each distinct one once: a record is predicted and learned with the same).
        targets, known_counts, root_ops, rows = [], [], [], []
        features: list = []
        index_of: dict[int, int] = {}
        learned = bool(sk._groups)
        for op in ops:
            index = index_of.get(id(op.x))
            if index is None:
                index = index_of[id(op.x)] = len(features)
                features.append(op.x)
            rows.append(index)
            if isinstance(op, Predict):
                targets.append(None)
                root_ops.append(("predict", index))
            elif op.mask is not None and not op.mask.judges_all:
                y = as_label_dict(op.y, known=sk._labels)
                known = {label: bool(y.get(label, False)) for label in sk._labels}
                targets.append(known)
                root_ops.append(("masked", index, known, op.mask))
            else:
                y = as_label_dict(op.y, known=sk._labels)
                if y.keys() != sk._labels.keys():  # equal: every known label and no new one (a full target)
                    for label in y:
                        sk._labels.setdefault(label, None)
                    for label in sk._labels:
                        y.setdefault(label, False)
                targets.append(y)
                root_ops.append(("learn", index, y, learned))
                learned = True
            known_counts.append(len(sk._labels))
        labels = list(sk._labels)
        batch = self.executor.share(Shared((features, tuple(labels))))
        root_futures = [self.executor.call(host, "apply", root_ops, batch) for host in self.root_hosts]
        root_events: list = []  # each root's events of the batch, fetched with the first segment
        self._given = set()
        self._root_stop = {}  # a root's events after the position it retired at are dropped
        inputs = (batch, *root_futures)
        results: list = [None] * len(ops)
        segment: list[dict] = []
        for position, op in enumerate(ops):
            step = {"position": position, "known": known_counts[position]}
            if isinstance(op, Predict):
                step.update(kind="predict", grouped=bool(sk._groups), host_op=("predict", rows[position]))
                segment.append(step)
                continue
            y = targets[position]
            on = frozenset(itertools.compress(y, y.values()))
            if op.mask is not None and not op.mask.judges_all:
                sk._n += 1
                step.update(kind="masked", n=sk._n, host_op=("masked", rows[position], on, op.mask, sk._n))
                segment.append(step)
                continue
            boundary = self._walk_learn(rows[position], y, on, step)
            segment.append(step)
            if boundary:
                self._flush(segment, inputs, root_events, labels, results, emit)
                segment = []
        if segment:
            self._flush(segment, inputs, root_events, labels, results, emit)
        return results

    def _walk_learn(self, index: int, y: dict, on: frozenset, step: dict) -> bool:
        """The head's part of iHOMER's ``learn_one`` before the hosts run it; whether a
        restructure may follow it (the segment must end there)."""
        sk = self._skeleton
        monitor = sk._error is not None and bool(sk._groups)
        score = bool(sk._roots) and bool(sk._groups)
        changes = sk._tree.learn_one(y)
        sk._n += 1
        preludes: list[list] = [[] for _ in self.group_hosts]
        if not sk._groups:
            sk._rebuild("start")
            self._place_created(preludes)
        if len(sk._group_of) < len(sk._labels):
            sizes = {group.group_id: len(group.labels) for group in sk._groups}
            sk._adopt_new_labels()
            for group in sk._groups:
                if len(group.labels) > sizes[group.group_id]:
                    preludes[self._host_of[group.group_id]].append(("adopt", group.group_id, group.labels[sizes[group.group_id] :]))
        # With retire_roots, a root may retire at this instance only if the hosts' columns of the
        # segments flushed so far leave it idle for retire_after instances: the segment ends here.
        retiring = score and sk._roots_retire and sk._root_retirement_due()
        checks = False
        if monitor:
            if self._reset_due:
                self._ticks, self._reset_due = 0, False
            self._ticks += 1
            checks = self._ticks % sk._error.clock == 0
        step.update(
            kind="learn", n=sk._n, monitor=monitor, checks=checks, score=score, retiring=retiring,
            changes=[change_event(change, sk._n) for change in changes], reasons=[change.kind for change in changes],
            host_ops=[("learn", index, on, sk._n, monitor, score, prelude) for prelude in preludes],
        )
        reasons = step["reasons"]
        step["act"] = bool(reasons or sk._pending)  # iHOMER restructures after this instance
        if step["act"] and not checks and sk._guarded():
            sk._restructure(reasons)  # held back or dropped by the guard: nothing changes on the hosts
            step["act"] = False
            return retiring
        return checks or step["act"] or retiring

    def _flush(self, segment: list[dict], inputs: tuple, root_events: list, labels: list, results: list, emit) -> None:
        """Run a segment on the group hosts that hold groups and finish each of its ops at the
        head, in order. A host's first call of the batch brings the batch's ``inputs``."""
        sk = self._skeleton
        first = segment[0]["position"]
        futures = []
        for index in sorted(set(self._host_of.values())):
            host_ops = [step["host_ops"][index] if step["kind"] == "learn" else step["host_op"] for step in segment]
            given = () if index in self._given else inputs
            self._given.add(index)
            futures.append(self.executor.call(self.group_hosts[index], "apply", host_ops, first, *given))
        if not root_events:
            root_events.extend(self.executor.gather([self.executor.call(h, "control", "events") for h in self.root_hosts]))
        answers = self.executor.gather(futures)
        rank = {group.group_id: i for i, group in enumerate(sk._groups)}
        by_op: dict[int, list] = {}
        for host_results, events, _, _ in answers:
            for offset, phase, group_id, event in events:
                by_op.setdefault(offset, []).append((phase, rank[group_id], event))
        for offset, step in enumerate(segment):
            position = step["position"]
            if step["kind"] == "predict":
                results[position] = self._merge_prediction(answers, offset, rank, labels[: step["known"]], step["grouped"])
                continue
            host_events = sorted(by_op.get(offset, []), key=lambda item: item[:2])  # stable: a group's own order
            for phase, _, event in host_events:
                if phase == SERVING:
                    emit(event)
            if step["kind"] == "learn" and step["score"] and sk._roots_retire:
                self._retire_roots(step, offset == len(segment) - 1, answers, offset, labels, emit)
            for i, (events_of_root, level) in enumerate(zip(root_events, sk._root_levels)):
                stop = self._root_stop.get(i, len(results))  # a root retired in this batch learned nothing since
                for at, event in events_of_root:
                    if at == position and at < stop:
                        emit(forwarded_event(event, level, tuple(labels[: step["known"]]), step["n"]))
            for phase, _, event in host_events:
                if phase == GROUPS:
                    emit(event)
            if step["kind"] == "masked":
                continue
            for event in step["changes"]:
                emit(event)
            if step["monitor"]:
                self._monitor(step, sum(host_results[offset] for host_results, _, _, _ in answers), answers, emit)
            if step["act"] or "drift" in step["reasons"]:
                if offset != len(segment) - 1:
                    raise RuntimeError("sharded iHOMER: a restructure inside a segment (the head's cut is wrong)")
                self._restructure(step["reasons"], emit)

    def _retire_roots(self, step: dict, last: bool, answers, offset: int, labels: list, emit) -> None:
        """iHOMER's root retirement step at a scored instance, on the columns serving on every host;
        a root that retires stops on its host, and the group hosts stop reading its answers."""
        sk = self._skeleton
        served = {column for _, _, _, columns in answers for column in columns.get(offset, ())}
        retiring = sk._retire_roots_unless(served, step["n"], tuple(labels[: step["known"]]))
        for event in sk.pop_events():
            emit(event)
        if not retiring:
            return
        if not last:
            raise RuntimeError("sharded iHOMER: a root retired inside a segment (the head's cut is wrong)")
        calls = []
        for i in retiring:
            self._root_stop[i] = step["position"]
            calls.append(self.executor.call(self.root_hosts[i], "control", "retire"))
        self.executor.gather(calls)
        # Hosts holding groups now (the others learn the retired roots with the groups they get)
        # move their label choices off the retired roots; their events in the partition's order.
        rank = {stub.group_id: position for position, stub in enumerate(sk._groups)}
        moved = self.executor.gather(
            [self.executor.call(self.group_hosts[h], "control", "retire_roots", retiring) for h in sorted(set(self._host_of.values()))]
        )
        for event in sorted((event for events in moved for event in events), key=lambda event: rank[event.detail["group"]]):
            emit(event)

    def _merge_prediction(self, answers, offset: int, rank: dict, labels: list, grouped: bool) -> dict:
        out: dict[Label, float] = {}
        if grouped:
            served = sorted(
                (pair for host_results, _, _, _ in answers for pair in host_results[offset]), key=lambda pair: rank[pair[0]]
            )
            for _, probabilities in served:
                out.update(probabilities)
        if len(out) < len(labels):  # labels no group has taken yet
            for label in labels:
                out.setdefault(label, 0.0)
        return out

    def _monitor(self, step: dict, errors: int, answers, emit) -> None:
        """iHOMER's error monitor on the wrong labels the hosts counted; a drift adds to the reasons."""
        error = self._skeleton._error
        before = error.estimation
        error.update(errors / step["known"])
        self._reset_due = error.drift_detected
        if not error.drift_detected:
            return
        if not step["checks"]:
            raise RuntimeError("sharded iHOMER: the error monitor found drift off its clock (river's ADWIN changed?)")
        if error.estimation <= before:
            return
        risen = {group_id for _, _, rose, _ in answers for group_id in rose}
        pairs = [(stub.group_id, stub.labels) for stub in self._skeleton._groups if stub.group_id in risen]
        emit(drift_event(error, before, pairs, step["n"]))
        step["reasons"] = [*step["reasons"], "drift"]

    # ------------------------------------------------------------------ restructuring

    def _restructure(self, reasons: list[str], emit) -> None:
        """iHOMER's restructure: the groups that disappear come to the head with their state, the
        skeleton rebuilds, new groups go to the least loaded hosts, the others stay."""
        sk = self._skeleton
        if sk._guarded():
            sk._restructure(reasons)
            return
        clear_rise = "drift" in sk._pending + reasons
        wanted = {frozenset(labels) for _, labels in sk._tree.partition_homes(sk.max_groups)}
        leaving = {stub.group_id for stub in sk._groups if frozenset(stub.labels) not in wanted}
        holding = {self._host_of[group_id] for group_id in leaving}
        occupied = set(self._host_of.values())
        calls = [
            self.executor.call(host, "control", "release", leaving, clear_rise)
            for index, host in enumerate(self.group_hosts)
            if index in holding or (clear_rise and index in occupied)
        ]
        # The head's own copies: the rebuild changes them, and what a host hands back may be read-only.
        released = {group.group_id: copy.deepcopy(group) for groups in self.executor.gather(calls) for group in groups}
        sk._groups = [released.get(stub.group_id, stub) for stub in sk._groups]
        for group_id in leaving:
            del self._host_of[group_id]
        sk._restructure(reasons)
        for event in sk.pop_events():  # the tree's serving carry-overs and the restructure itself
            emit(event)
        created: list[list] = [[] for _ in self.group_hosts]
        self._place_created(created)
        order = [group.group_id for group in sk._groups]
        homes = {group.group_id: group.home for group in sk._groups}
        occupied = set(self._host_of.values())  # hosts keeping groups, and those given new ones
        self.executor.gather(
            [
                self.executor.call(
                    host, "control", "settle", changes[0][1] if changes else [], homes, order, sorted(sk._retired_roots)
                )
                for index, (host, changes) in enumerate(zip(self.group_hosts, created))
                if index in occupied
            ]
        )

    def _place_created(self, preludes: list[list]) -> None:
        """Send the groups the skeleton just made (real ones, not stubs) to the hosts with the
        fewest labels, largest group first; keep stubs of them. Adds one ``create`` per host."""
        sk = self._skeleton
        created = [group for group in sk._groups if not isinstance(group, _Stub)]
        if not created:
            return
        load = [0] * self.n_shards
        for stub in sk._groups:
            if isinstance(stub, _Stub):
                load[self._host_of[stub.group_id]] += len(stub.labels)
        chosen: list[list] = [[] for _ in self.group_hosts]
        for group in sorted(created, key=lambda g: -len(g.labels)):
            index = load.index(min(load))
            load[index] += len(group.labels)
            self._host_of[group.group_id] = index
            chosen[index].append(group)
        order = [group.group_id for group in sk._groups]
        for index, groups in enumerate(chosen):
            if groups:
                preludes[index].append(("create", groups, order, sorted(sk._retired_roots)))
        stubs = {group.group_id: _Stub(group) for group in created}
        sk._groups = [stubs.get(group.group_id, group) for group in sk._groups]
        sk._group_of = {label: group for group in sk._groups for label in group.labels}

    # ------------------------------------------------------------------ state and views

    def head_state(self) -> dict:
        return {
            "kind": self.kind,
            "n_shards": self.n_shards,
            "skeleton": pickle.dumps(self._skeleton, protocol=pickle.HIGHEST_PROTOCOL),
            "host_of": dict(self._host_of),
            "ticks": self._ticks,
            "reset_due": self._reset_due,
        }

    def load_head_state(self, state: dict) -> None:
        self._skeleton = pickle.loads(state["skeleton"])  # trusted: a checkpoint the job verified
        self._host_of = dict(state["host_of"])
        self._ticks = state["ticks"]
        self._reset_due = state["reset_due"]

    def describe(self) -> dict:
        """iHOMER's ``describe()``, each group with the ``shard`` it lives on, and the hosts' sizes."""
        sk = self._skeleton
        executor = self.executor
        entries: dict = {}
        for described in executor.gather([executor.call(h, "control", "describe_groups") for h in self.group_hosts]):
            entries.update(described)
        root_bytes = executor.gather([executor.call(h, "model_bytes") for h in self.root_hosts])
        return {
            "learner": "ihomer",
            "instances": sk._n,
            "labels": len(sk._labels),
            "base_learner": sk._learner_name(sk.base_learner),
            "min_size": sk._tree.min_size,
            "hamming_error": sk._error.estimation if sk._error is not None else None,
            "root_learners": [
                {
                    "level": level,
                    "learner": sk._learner_name(base),
                    "bytes": size,
                    "retired": i in sk._retired_roots,
                    "host": len(self.group_hosts) + i,
                }
                for i, (level, base, size) in enumerate(zip(sk._root_levels, sk._root_bases(), root_bytes))
            ],
            "tree": sk._tree.describe()["root"],
            "partition": [{**entries[stub.group_id], "shard": self._host_of[stub.group_id]} for stub in sk._groups],
            "history": sk.history,
            "sharding": self.kind,
        }
