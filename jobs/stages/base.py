"""What every checkpointing stage shares: incarnations, all-or-nothing restores, checkpoint files."""

from __future__ import annotations

import logging
import uuid

from jobs.checkpoint import CheckpointError, CheckpointStore

logger = logging.getLogger(__name__)

#: Version of what a stage's checkpoint holds; a checkpoint of another version is refused.
CHECKPOINT_FORMAT = 3


class StageRestarted(RuntimeError):
    """A checkpointing stage was given work before the driver restored it (Ray restarted the actor)."""


class Restartable:
    """A stage Ray may restart, whose state goes into the job's checkpoints.

    Each construction of the actor is a new incarnation. With a checkpoint location, an
    incarnation takes no work until the driver has called :meth:`restore` (with the epoch every
    stage holds intact, or ``None`` for a fresh start): restores are all-or-nothing across the
    stages, and a stage Ray restarted on its own refuses work (:class:`StageRestarted`) rather
    than go on from a state the others do not share. The driver compares incarnations to tell a
    restarted actor from the one it killed (a kill takes effect asynchronously).

    Subclasses name their checkpoint's owner (:meth:`_owner`) and say what their state is
    (:meth:`_state`, :meth:`_apply_state`).
    """

    #: What the stage is called in its errors.
    STAGE = "stage"

    def __init__(self, checkpoint_uri: str | None = None, checkpoint_keep: int = 3, checkpoint_key: bytes | None = None):
        self.incarnation = uuid.uuid4().hex
        self.checkpoint_uri = checkpoint_uri
        self.checkpoint_keep = checkpoint_keep
        self._store = None if checkpoint_uri is None else CheckpointStore(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self._ready = self._store is None
        self.restored_epoch: int | None = None

    def started_as(self) -> str:
        """This incarnation (a new value each time Ray restarts the actor)."""
        return self.incarnation

    def checkpoint_epochs(self) -> tuple[list[int], bool]:
        """The epochs of this stage's intact checkpoints, and whether there are checkpoint files at all."""
        if self._store is None:
            return [], False
        return self._store.epochs(), self._store.has_files()

    def checkpoint_problems(self) -> list[str]:
        """Why this stage's checkpoint files that are not intact are not used (distinct reasons, sorted)."""
        if self._store is None:
            return []
        self._store.epochs()  # reads every file
        return sorted(set(self._store.unusable.values()))

    def restore(self, epoch: int | None) -> None:
        """Go on from this stage's checkpoint of ``epoch`` (``None``: from a fresh state); then take work."""
        if epoch is not None:
            self._apply_state(load_checkpoint(self._store, self.checkpoint_uri, self._owner(), epoch))
            logger.info("%s restored from %s (epoch %d)", self.STAGE, self.checkpoint_uri, epoch)
        self.restored_epoch = epoch
        self._ready = True

    def checkpoint(self, epoch: int | None = None) -> None:
        """Write this stage's state as its checkpoint of ``epoch`` (a restarted, unrestored stage refuses)."""
        if self._store is None:
            raise CheckpointError(f"this {self.STAGE} has no checkpoint location")
        self._require_ready()
        self._store.save({"format": CHECKPOINT_FORMAT, "owner": self._owner(), **self._state()}, epoch)

    def _require_ready(self) -> None:
        if not self._ready:
            raise StageRestarted(
                f"{self.STAGE} restarted (checkpoints in {self.checkpoint_uri}): it takes work only once the "
                "driver has restored every stage from the same checkpoint"
            )

    def _owner(self) -> list[str]:
        raise NotImplementedError

    def _state(self) -> dict:
        raise NotImplementedError

    def _apply_state(self, state: dict) -> None:
        raise NotImplementedError


def load_checkpoint(store: CheckpointStore, uri: str, owner: list[str], epoch: int) -> dict:
    """The intact checkpoint of ``epoch`` written by a stage like this one.

    ``owner`` says whose state a checkpoint holds (a learner stage's or the publisher's learner
    names, the extractor's ``["extractor"]``): a checkpoint of another owner, or of another format,
    is refused rather than half used.
    """
    state = store.load(epoch)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("owner") != owner:
        raise CheckpointError(
            f"the checkpoint in {uri} belongs to {state.get('owner')} (format {state.get('format')}), "
            f"this stage is {owner} (format {CHECKPOINT_FORMAT})"
        )
    return state
