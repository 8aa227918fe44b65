"""When the stages checkpoint, and which epoch they all hold."""

from __future__ import annotations

import time

from jobs.config import JobConfig
from jobs.pipeline.in_flight import InFlightBatches
from jobs.pipeline.lifecycle import Stages
from jobs.pipeline.progress import Progress
from jobs.pipeline.waits import get_within


class CheckpointSchedule:
    """Checkpoints every ``checkpoint_every_s``: every stage with state writes the same epoch.

    ``epoch`` is the epoch every stage holds intact (``None``: fresh state), the one a recovery
    goes back to; ``next_epoch`` the next one to write.
    """

    def __init__(self, config: JobConfig, in_flight: InFlightBatches, progress: Progress):
        self.config = config
        self.in_flight = in_flight
        self.progress = progress
        self.enabled = config.checkpoint_dir is not None
        self.epoch: int | None = None
        self.next_epoch = 1
        self._checkpointed_at = time.monotonic()

    def due(self) -> bool:
        return self.enabled and time.monotonic() - self._checkpointed_at >= self.config.checkpoint_every_s

    def checkpoint(self, stages: Stages) -> None:
        """Finish the batches in flight, checkpoint every stage that has state, then commit what they cover.

        Waiting for the batches in flight makes the checkpoint cover exactly the published
        batches, so a restart neither loses a prediction nor learns a record twice. Every stage
        writes the same epoch; only once all have written it is it the one a recovery goes back to.
        """
        started = time.monotonic()
        self.in_flight.retire_all()
        writes = [actor.checkpoint.remote(self.next_epoch) for _, actor in stages.checkpointed()]
        get_within(writes, self.config.ray_timeout_s, "writing checkpoints")
        self.epoch, self.next_epoch = self.next_epoch, self.next_epoch + 1
        self._checkpointed_at = time.monotonic()
        self.progress.summary.checkpoints += 1
        self.in_flight.commit_covered()
        self.progress.metrics.observe_checkpoint(time.monotonic() - started)
