"""The batches between poll and commit: bounded in number (backpressure), committed in poll order."""

from __future__ import annotations

import collections
import dataclasses
import typing

import ray

from jobs.config import JobConfig
from jobs.outage import BrokerWatch
from jobs.pipeline.progress import Progress
from jobs.pipeline.steps import commit
from jobs.pipeline.waits import PipelineTimeout, get_within
from jobs.stages.messages import PollInfo


@dataclasses.dataclass
class InFlight:
    """A batch submitted to the stages: the consumer that polled it, its poll info, refs of its results."""

    consumer: typing.Any
    info: PollInfo
    stats_refs: list
    ack_ref: typing.Any


class InFlightBatches:
    """The submitted batches, oldest first; each is retired (committed, accounted) once published.

    A batch's offsets are committed only after its predictions were published and flushed, and
    in poll order, so a crash re-delivers records (at least once) but never skips one. With
    checkpoints, offsets instead wait here, per consumer, until a checkpoint covers them
    (:meth:`commit_covered`).

    Parameters
    ----------
    config
        The job config (``max_in_flight``, ``ray_timeout_s``, whether the job checkpoints).
    broker
        Watch of the broker: time it does not answer does not count towards a wait's timeout.
    progress
        Where each retired batch is accounted.

    """

    def __init__(self, config: JobConfig, broker: BrokerWatch, progress: Progress):
        self.config = config
        self.broker = broker
        self.progress = progress
        self._entries: collections.deque[InFlight] = collections.deque()
        self._commits: list = []
        self._checkpointing = config.checkpoint_dir is not None
        self._uncommitted: dict[int, tuple[typing.Any, dict]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[InFlight]:
        """The batches in flight, oldest first."""
        return list(self._entries)

    def submit(self, entry: InFlight, bound: int) -> None:
        """Track a submitted batch; wait for the oldest while ``bound`` batches are in flight."""
        self._entries.append(entry)
        waited = len(self._entries) >= bound
        while len(self._entries) >= bound:
            self._retire(block=True)
        self.retire_ready()
        self.progress.submitted(entry.info.consumed, len(self._entries), waited)

    def retire_ready(self) -> None:
        """Commit the acknowledged batches at the head of the queue, without waiting."""
        while self._entries and self._retire(block=False):
            pass

    def retire_all(self) -> None:
        """Wait for every batch in flight and retire it."""
        while self._entries:
            self._retire(block=True)

    def _retire(self, block: bool) -> bool:
        """Commit the oldest batch if it is acknowledged (waiting for it when ``block``)."""
        head = self._entries[0]
        if block:
            # Time the broker does not answer does not count (jobs.outage): the publisher waits for it.
            if self.broker.wait([head.ack_ref], self.config.ray_timeout_s, "publishing a batch"):
                raise PipelineTimeout(f"a batch was not published within {self.config.ray_timeout_s} s")
        elif not ray.wait([head.ack_ref], num_returns=1, timeout=0)[0]:
            return False
        ack = get_within(head.ack_ref, self.config.ray_timeout_s, "reading a publish acknowledgement")
        self._entries.popleft()
        if self._checkpointing:
            _, offsets = self._uncommitted.setdefault(id(head.consumer), (head.consumer, {}))
            offsets.update(head.info.offsets)
        else:
            self._commits.append(commit(head.consumer, head.info.offsets))
            self.check_commits(wait=False)
        self.progress.published(ack, get_within(head.stats_refs, self.config.ray_timeout_s, "reading learner stats"))
        return True

    def commit_covered(self) -> None:
        """Commit the offsets a checkpoint just written covers (every retired batch's), and wait for it."""
        for consumer, offsets in self._uncommitted.values():
            if offsets:
                self._commits.append(commit(consumer, offsets))
        self._uncommitted.clear()
        self.check_commits(wait=True)

    def check_commits(self, wait: bool) -> None:
        """Account for the commits finished (all of them when ``wait``); raises a commit's error, if any."""
        if wait and self.broker.wait(self._commits, self.config.ray_timeout_s, "committing offsets"):
            raise PipelineTimeout(f"offset commits did not finish within {self.config.ray_timeout_s} s")
        done, self._commits = ray.wait(self._commits, num_returns=len(self._commits), timeout=0)
        self.progress.committed(len(done), sum(ray.get(done)))

    def abandon(self) -> None:
        """Forget the batches in flight and the uncommitted offsets (a learner actor died: they are read again)."""
        self._entries.clear()
        self._uncommitted.clear()

    def drain(self) -> None:
        """Retire every batch in flight and wait for every commit."""
        self.retire_all()
        if self._commits:
            self.check_commits(wait=True)
