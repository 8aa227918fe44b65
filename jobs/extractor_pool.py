"""Several feature-extractor actors behind one call: least-loaded dispatch, one owner of the state.

The driver sends each micro-batch to the extractor replica with the fewest records outstanding
(sent and not yet transformed), not round robin: batches differ in size and texts in length, so
a replica that got a batch of long stories is left alone until it has caught up.

What the extractors hold, and why one replica owns it:

* Text embedding is stateless: the model's weights are read-only, so any replica embeds any
  batch and the features are the same.
* Online standardisation (``extractor.standardize``) is not: a record is scaled with the running
  moments of every numeric record before it, in stream order. Split over replicas, each would
  see a different part of the stream and the same record would be scaled differently depending
  on where it went. So every batch with numeric records to standardise goes to replica 0, which
  alone holds the moments and alone checkpoints them (in the job's ``extractor/`` folder, as a
  single extractor did); the others are built without any state and refuse such records
  (:class:`~jobs.features.FeatureError`). Standardising is cheap next to embedding (see
  ``benchmarks/results/scaling.md``), so one replica keeps up with it.

Order is kept without the pool's help: each learner actor receives the batches' refs in the
order the driver polled them, and Ray runs one caller's calls on an actor in submission order,
waiting for a call's arguments before starting the next, whichever replica produced them.
"""

from __future__ import annotations

import logging
import typing

from jobs.config import ExtractorConfig, JobConfig
from jobs.features import extractor_cpus
from jobs.stages.extractor import extractor_gpus
from jobs.stages.messages import PollInfo

logger = logging.getLogger(__name__)


class ExtractorPoolError(ValueError):
    """The extractor replicas asked for cannot be placed on the cluster."""


class LeastLoaded:
    """Records outstanding per replica, and which replica takes the next batch.

    Parameters
    ----------
    replicas
        Number of replicas.

    Examples
    --------
    >>> load = LeastLoaded(2)
    >>> load.sent(load.pick(), "first", 100)
    >>> load.sent(load.pick(), "second", 30)
    >>> load.pick(), load.outstanding
    (1, [100, 30])
    >>> load.done("first")
    >>> load.pick(), load.outstanding
    (0, [0, 30])

    """

    def __init__(self, replicas: int):
        if replicas < 1:
            raise ValueError(f"a pool needs at least one replica, got {replicas}")
        self.replicas = replicas
        self._reset()

    def _reset(self):
        self._outstanding = [0] * self.replicas
        self._pending: dict[typing.Hashable, tuple[int, int]] = {}

    @property
    def outstanding(self) -> list[int]:
        """Records sent to each replica and not yet done."""
        return list(self._outstanding)

    def pending(self) -> list:
        """The keys of the batches not yet done."""
        return list(self._pending)

    def pick(self) -> int:
        """The replica with the fewest records outstanding (the lowest index among equals)."""
        return min(range(self.replicas), key=lambda index: (self._outstanding[index], index))

    def sent(self, replica: int, key: typing.Hashable, records: int) -> None:
        """Count ``records`` as outstanding on ``replica`` until :meth:`done` is called with ``key``."""
        self._pending[key] = (replica, records)
        self._outstanding[replica] += records

    def done(self, key: typing.Hashable) -> None:
        replica, records = self._pending.pop(key)
        self._outstanding[replica] -= records

    def clear(self) -> None:
        """Forget everything outstanding (the batches in flight were abandoned)."""
        self._reset()


def needs_state(info: PollInfo, standardize: bool) -> bool:
    """Whether a batch must go to the replica holding the standardisation state.

    It must when standardisation is on and the batch has good records without text (text
    records are embedded, never standardised).

    Examples
    --------
    >>> info = PollInfo(consumed=10, good=10, dead_letters={}, offsets={}, partitions=1, texts=10)
    >>> needs_state(info, standardize=True)
    False
    >>> needs_state(PollInfo(10, 9, {}, {}, 1, texts=4), standardize=True)
    True

    """
    return standardize and info.good > info.texts


class ExtractorPool:
    """The job's extractor replicas, seen by the driver as one extractor.

    Parameters
    ----------
    replicas
        The extractor actors (:class:`~jobs.stages.extractor.FeatureStage` under Ray); replica 0
        holds the standardisation state, if any.
    standardize
        Whether the job standardises numeric records.

    """

    def __init__(self, replicas: list, standardize: bool):
        if not replicas:
            raise ValueError("an extractor pool needs at least one replica")
        self.replicas = list(replicas)
        self.standardize = standardize
        self._load = LeastLoaded(len(self.replicas))

    @property
    def stateful(self):
        """The replica that holds (and checkpoints) the standardisation state."""
        return self.replicas[0]

    @property
    def stateless(self) -> list:
        """The other replicas: they hold no state and are not checkpointed."""
        return self.replicas[1:]

    def transform(self, batch_ref, info: PollInfo):
        """Send the batch to a replica; returns the ref of the transformed batch."""
        self.settle()
        index = 0 if needs_state(info, self.standardize) else self._load.pick()
        ref = self.replicas[index].transform.remote(batch_ref)
        self._load.sent(index, ref, info.good)
        return ref

    def settle(self) -> None:
        """Count the batches the replicas have finished (or failed on) as done, without waiting."""
        import ray

        pending = self._load.pending()
        if pending:
            ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0, fetch_local=False)
            for ref in ready:
                self._load.done(ref)

    def forget(self) -> None:
        """Forget the outstanding batches (the driver abandoned the batches in flight)."""
        self._load.clear()

    @property
    def outstanding(self) -> list[int]:
        return self._load.outstanding


def extractor_options(config: JobConfig, cluster: typing.Mapping[str, float]) -> tuple[dict, ExtractorConfig]:
    """Ray options of every extractor replica, and the extractor config they run with.

    Each replica reserves ``extractor.num_cpus`` CPUs (capped at the cluster's) and embeds with
    as many torch threads; GPUs as ``extractor.num_gpus`` says (default: a whole one when CUDA
    may be used and the cluster has a GPU); ``extractor.memory_mb``; the SPREAD strategy unless
    ``resources.placement`` is ``"pack"``. A pool whose replicas together need more CPUs or GPUs
    than the cluster has is refused here, rather than left waiting for actors Ray cannot place.

    Examples
    --------
    >>> options, extractor = extractor_options(JobConfig(extractors=2, extractor={"num_cpus": 1}), {"CPU": 4})
    >>> options, extractor.num_cpus
    ({'num_cpus': 1, 'num_gpus': 0, 'scheduling_strategy': 'SPREAD'}, 1)

    """
    settings = config.extractor
    cpus = extractor_cpus(settings.num_cpus, cluster.get("CPU", 0))
    if settings.num_gpus is None:
        gpus = extractor_gpus(settings.device, cluster.get("GPU", 0))
    else:
        gpus = settings.num_gpus
    for resource, each in (("CPU", cpus), ("GPU", gpus)):
        have = cluster.get(resource, 0)
        if each and config.extractors * each > have:
            raise ExtractorPoolError(
                f"{config.extractors} extractors of {each} {resource} each need {config.extractors * each:g} "
                f"{resource}s; the Ray cluster has {have:g} (lower extractors or extractor.num_{resource.lower()}s)"
            )
    options: dict = {"num_cpus": cpus, "num_gpus": gpus}
    if settings.memory_mb is not None:
        options["memory"] = settings.memory_mb * 1024 * 1024
    options |= config.resources.spread_options()
    # The torch threads follow the CPUs actually reserved, not the (capped) request.
    return options, settings.model_copy(update={"num_cpus": cpus})

