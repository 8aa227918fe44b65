"""Label-partitioned learners: one learner's labels spread over several hosts (shards).

Every host sees every record's features and learns and predicts its own labels; a head cuts the
targets and merges the predictions, so that a sharded model answers exactly as the unsharded
learner would (for iHOMER and binary-relevance learners; other learners are approximated, at a
measured cost). Nothing here knows about Ray: hosts are reached through an :class:`Executor`.

How labels are split: iHOMER's hosts follow its partition, exactly (:mod:`.ihomer_head`);
any other learner gets a fixed label split (:mod:`.label_split`), exact for binary relevance.

The contract the job side codes against
---------------------------------------
- Ops (:mod:`learners.sharding.ops`): ``Predict(x)`` and ``Learn(x, y, mask=None)``. One record
  scored prequentially is ``[Predict(x), Learn(x, y)]``; a late label is a ``Learn`` alone.
- :class:`ShardHost`: the object one shard actor holds, built by calling a picklable
  :class:`HostFactory` (``factory()``). The head calls its methods by name through the executor:
  ``apply(...)``, ``control(command, ...)``, ``model_bytes()``, ``describe()``, and for
  checkpoints ``state() -> dict`` / ``load_state(dict)``.
- :class:`Executor`: ``start(factory) -> handle``, ``call(handle, method, *args) -> future``,
  ``gather(futures) -> list``, ``share(value) -> future`` (one copy of a value many calls take:
  a batch's features). A future passed as a top-level argument of ``call`` must be resolved
  before the method runs (Ray does this for object refs). What a host receives wrapped in
  :class:`~learners.sharding.executor.Shared` it only reads; results may be read-only views.
  :class:`LocalExecutor` runs hosts in this process.
- :class:`ShardedModel(learner, n_shards, executor)`: the head. ``run(ops) -> list`` gives, for
  each op, the label -> probability dict (``Predict``) or ``None`` (``Learn``), exactly what the
  unsharded learner's ``predict_proba_one`` / ``learn_one`` / ``learn_one_masked`` would in that
  order. It is a :class:`~learners.base.MultiLabelClassifier` too (``predict_proba_one``,
  ``learn_one``, ``pop_events``, ``model_bytes``, ``describe``). ``handles`` lists the hosts:
  ``n_shards`` of them for a label split; for iHOMER the ``n_shards`` group hosts, then one root
  host per root learner (``describe()["root_learners"][i]["host"]`` is its index). One ``run``
  makes a few calls per host (iHOMER: one per segment between possible restructures, at most
  one per 32 learned records, plus the restructures' own), so give it batches, not records.
  Checkpoint: ``state()`` = ``{"version", "head": head_state(), "hosts": [each host's state()]}``
  taken between two ``run`` calls; ``load_state`` restores head and hosts together
  (``head_state`` / ``load_head_state`` alone for the head).
"""

from learners.sharding.executor import Executor, LocalExecutor
from learners.sharding.host import HostFactory, ShardHost
from learners.sharding.model import ShardedModel
from learners.sharding.ops import Learn, Op, Predict

__all__ = ["Executor", "HostFactory", "Learn", "LocalExecutor", "Op", "Predict", "ShardHost", "ShardedModel"]
