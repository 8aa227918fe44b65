"""What the driver does about failing actors: a rate budget, and isolating the records they died on."""

from __future__ import annotations

import collections
import logging
import time
import typing

import ray

from jobs.config import JobConfig
from jobs.pipeline.in_flight import InFlight
from jobs.pipeline.progress import Summary
from jobs.stages.base import StageRestarted
from jobs.stages.messages import PollInfo

logger = logging.getLogger(__name__)


class RecoveryBudgetExceeded(RuntimeError):
    """Actors failed more often than ``max_recoveries`` per ``recovery_window_s``: the job gives up."""


class ActorDiedWithoutCheckpoints(RecoveryBudgetExceeded):
    """An actor died in a run that keeps no checkpoints: there is nothing to restart the stages
    from, so the run ends (its recovery budget is nil, hence the base class).

    The message is one line: which actor died, what the run had done until then, and how to
    enable checkpoints. ``stage`` is the actor's stage (``learner-0``, ``consumer-0``,
    ``extractor``, ``publisher``; ``learner`` when a learner raised), ``summary`` the run's
    summary at that moment.

    Examples
    --------
    >>> error = ActorDiedWithoutCheckpoints("learner-0", Summary(records_in=120, predictions_out=100),
    ...                                     RuntimeError("The actor died unexpectedly.\\n\\tpid: 7"))
    >>> print(str(error).replace("; ", ";\\n"))
    the learner-0 actor died (The actor died unexpectedly.) and this run keeps no checkpoints to restart it from;
    until then 120 records in, 100 predictions out, 0 dead letters, learned models lost;
    enable checkpoints with --checkpoint-dir DIR (checkpoint_dir; a follow run checkpoints into state_dir unless --no-checkpoints) to have a dead actor restarted where the last checkpoint left it

    """

    def __init__(self, stage: str, summary: Summary, cause: BaseException):
        self.stage = stage
        self.summary = summary
        lines = str(cause).strip().splitlines()
        super().__init__(
            f"the {stage} actor died ({lines[0] if lines else type(cause).__name__}) and this run keeps no checkpoints "
            f"to restart it from; until then {summary.records_in:,} records in, {summary.predictions_out:,} predictions "
            f"out, {sum(summary.dead_letters.values()):,} dead letters, learned models lost; enable checkpoints with "
            "--checkpoint-dir DIR (checkpoint_dir; a follow run checkpoints into state_dir unless --no-checkpoints) "
            "to have a dead actor restarted where the last checkpoint left it"
        )


def failed_stage(consumers: list, checkpointed: list[tuple[str, typing.Any]], error: BaseException) -> str:
    """The stage of the actor ``error`` reports dead (``consumer-1``, ``learner-0``, ``extractor``, ...).

    ``consumers`` are the consumer actors, ``checkpointed`` the ``(stage, actor)`` pairs of the
    others (``Stages.checkpointed()``). A learner's own error reaches the driver through another
    task: it is ``learner``. ``an actor`` when Ray does not say which.
    """
    named = [*((f"consumer-{index}", actor) for index, actor in enumerate(consumers)), *checkpointed]
    actor_id = getattr(error, "actor_id", None)
    for stage, actor in named:
        handle_id = getattr(actor, "_actor_id", None)  # anything but an actor handle: no match
        if actor_id is not None and handle_id is not None and handle_id.hex() == actor_id:
            return stage
    if isinstance(error, ray.exceptions.RayTaskError) and "ray::LearnerStage." in str(error):
        return "learner"
    return "an actor"


def recoverable(error: BaseException) -> bool:
    """An actor died, a restarted stage refused work, or a learner raised on a batch: a recovery mends it.

    Any other error raised inside an actor (Kafka, our own code outside the learners) ends the run.
    """
    if isinstance(error, (ray.exceptions.RayActorError, StageRestarted)):
        return True
    # A learner's error reaches the driver wrapped in the task that took its output (the publisher);
    # Ray keeps the failing task's name only in the text of the error.
    return isinstance(error, ray.exceptions.RayTaskError) and "ray::LearnerStage." in str(error)


class Recovery:
    """The recovery budget, and the input ranges read one record per batch after a failure.

    Parameters
    ----------
    config
        The job config (``max_recoveries``, ``recovery_window_s``, the input topic).
    summary
        The run's summary, whose ``isolating`` count this keeps.

    """

    def __init__(self, config: JobConfig, summary: Summary):
        self.config = config
        self.summary = summary
        self._recovered_at: collections.deque[float] = collections.deque()
        # Input ranges a learner actor died on: their records go one per batch until passed.
        self._isolate: dict[tuple[str, int], tuple[int, int]] = {}
        # Records a learner actor died on twice in a row: the consumers dead-letter them.
        self.quarantined: set[tuple[str, int, int]] = set()

    def isolating(self) -> dict[tuple[str, int], tuple[int, int]]:
        """The input ranges whose records go one per batch (see :meth:`failed`)."""
        return dict(self._isolate)

    def in_flight_bound(self) -> int:
        """Batches allowed in flight: one while records are isolated, so that a learner that dies
        again dies on one known record."""
        return 1 if self._isolate else self.config.max_in_flight

    def consumed(self, info: PollInfo) -> None:
        """A poll read up to ``info.offsets``: isolated ranges read past are done with."""
        for coordinates, end in info.offsets.items():
            isolated = self._isolate.get(coordinates)
            if isolated is not None and end >= isolated[1]:
                del self._isolate[coordinates]
        self.summary.isolating = len(self._isolate)

    def failed(self, error: BaseException, in_flight: list[InFlight]) -> None:
        """Account for an actor's failure before recovering from it (``in_flight``: the batches then in flight).

        Raises :class:`RecoveryBudgetExceeded` when this would be more than ``max_recoveries``
        within ``recovery_window_s``. Otherwise the records of the batches in flight are isolated
        (polled one per batch) until they are passed; when the batch that failed was already one
        isolated record, the actor died on that record twice in a row and it is quarantined: the
        consumers dead-letter it (``crashed_learner``) instead of handing it out a third time.
        """
        now = time.monotonic()
        while self._recovered_at and now - self._recovered_at[0] > self.config.recovery_window_s:
            self._recovered_at.popleft()
        if len(self._recovered_at) >= self.config.max_recoveries:
            raise RecoveryBudgetExceeded(
                f"{len(self._recovered_at) + 1} actor failures within {self.config.recovery_window_s} s, more than "
                f"max_recoveries={self.config.max_recoveries}; the last: {error}"
            ) from error
        self._recovered_at.append(now)
        records = self.config.kafka.topics.records
        head = in_flight[0] if in_flight else None
        if head is not None and self._isolate and head.info.consumed == 1 and head.info.good == 1:
            ((topic, partition), offset), = head.info.first.items()
            if topic == records:
                self.quarantined.add((topic, partition, offset))
                logger.error(
                    "a learner actor died twice in a row on %s[%d]@%d: it goes to the dead letters (crashed_learner)",
                    topic, partition, offset,
                )  # fmt: skip
                return
        for entry in in_flight:
            for coordinates, start in entry.info.first.items():
                if coordinates[0] != records:
                    continue
                end = entry.info.offsets[coordinates]
                low, high = self._isolate.get(coordinates, (start, end))
                self._isolate[coordinates] = (min(low, start), max(high, end))
        self.summary.isolating = len(self._isolate)
