"""The stages' actors over a run: start, restore, restart, rewind, replay, stop.

:class:`Stages` holds the running actors; every stage kind is a list of actors, so a kind with
several actors (more consumers, learner actors) is handled by the same functions.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
import typing

import ray

from jobs.champion import ChampionSelector
from jobs.checkpoint import CheckpointError, StaleCheckpoint, read_key
from jobs.config import JobConfig
from jobs.extractor_pool import ExtractorPool, extractor_options
from jobs.pipeline.waits import answer_within, get_within
from jobs.sinks import job_sinks
from jobs.stages.remote import remote_stages
from jobs.stages.shard import host_factories, remote_shard_stage
from learners import registry
from learners.model_file import ModelFile
from stream.kafka import KafkaConfig, topic_partitions

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Stages:
    """Handles of the running actors.

    :meth:`checkpointed` is the one list of the actors whose state the job's checkpoints hold,
    with their checkpoint folders: restores, restarts and checkpoint writes all go through it, so
    a new stage kind with state is added there once.
    """

    consumers: list
    extractor: ExtractorPool  # the extractor replicas (jobs.extractor_pool)
    learners: list  # (actor, learner names) pairs
    publisher: typing.Any
    shards: list = dataclasses.field(default_factory=list)  # (checkpoint folder, actor) of the learners' shards

    def all(self) -> list:
        """Every actor of the job."""
        return [*self.consumers, *(actor for _, actor in self.checkpointed()), *self.extractor.stateless]

    def checkpointed(self) -> list[tuple[str, typing.Any]]:
        """``(checkpoint folder, actor)`` of the actors whose state checkpoints hold: the learners, their shards,
        the extractor replica that standardises (the online moments) and the publisher (the champion)."""
        learners = [(f"learner-{index}", actor) for index, (actor, _) in enumerate(self.learners)]
        return [*learners, *self.shards, ("extractor", self.extractor.stateful), ("publisher", self.publisher)]


def learner_groups(names: typing.Sequence[str]) -> list[list[str]]:
    """Which learners share a learner actor: one actor per learner, so side-by-side learners run in parallel.

    >>> learner_groups(["mlhat", "br-ht"])
    [['mlhat'], ['br-ht']]

    """
    return [[name] for name in names]


def actor_name(config: JobConfig, stage: str, index: int = 0) -> str:
    """Name of the ``index``-th actor of a stage (``consumer``, ``extractor``, ``learner``, ``publisher``).

    Operators and tests find an actor with ``ray.get_actor(name)``.

    >>> actor_name(JobConfig(), "learner", 1)
    'tagstream.tagstream.learner-1'

    """
    return f"tagstream.{config.kafka.group_id}.{stage}-{index}"


def checkpoint_location(config: JobConfig, stage: str) -> str | None:
    """Where one stage of the job keeps its checkpoints (``None`` without ``checkpoint_dir``)."""
    return None if config.checkpoint_dir is None else f"{config.checkpoint_dir.rstrip('/')}/{stage}"


def restartable(config: JobConfig, stage: str, index: int = 0) -> dict:
    """Ray options of a stage's actor: its name and, when the job checkpoints, restarts by Ray.

    Ray restarts the actor as often as it dies; how often the job may recover is the driver's
    rate budget (``max_recoveries`` per ``recovery_window_s``), not a lifetime count.
    """
    options = {"name": actor_name(config, stage, index)}
    if config.checkpoint_dir is not None:
        options["max_restarts"] = -1
    return options



def job_limits(config: JobConfig) -> tuple[KafkaConfig, bytes | None]:
    """The Kafka settings of the job's actors (producers sized for its limits) and the checkpoint key."""
    request = max(config.kafka.max_request_size, config.limits.producer_request_bytes())
    key = read_key(config.checkpoint_key_file, None if config.checkpoint_key is None else config.checkpoint_key.get_secret_value())
    return config.kafka.model_copy(update={"max_request_size": request}), key


def start_shards(config: JobConfig, index: int, group: typing.Sequence[str], key: bytes | None) -> tuple[dict, list]:
    """The shard actors of the ``index``-th learner actor's learners (``learner_shards`` > 1).

    Each learner's sharded model starts its hosts from factories (:func:`~jobs.stages.shard.host_factories`);
    one actor is started per factory, named ``learner-<index>-shard-<k>``, checkpointing in the
    folder of that name and reserving what a learner actor does. Returns the actors by learner,
    in the order the head starts its hosts, and the ``(checkpoint folder, actor)`` pairs of them all.
    """
    shard_cls = remote_shard_stage()
    actors: dict[str, list] = {}
    folders: list = []
    for name in group:
        factories = host_factories(registry.make(name, config.seed), config.learner_shards)
        for position, factory in enumerate(factories):
            shard = len(folders)
            folder = f"learner-{index}-shard-{shard}"
            options = restartable(config, f"learner-{index}-shard", shard)
            options |= config.resources.learner.ray_options() | config.resources.spread_options()
            actor = shard_cls.options(**options).remote(
                factory, [name, f"shard {position} of {len(factories)}"], checkpoint_location(config, folder),
                config.checkpoint_keep, key,
            )  # fmt: skip
            actors.setdefault(name, []).append(actor)
            folders.append((folder, actor))
    return actors, folders


def start_stages(config: JobConfig, initial: ModelFile | None = None) -> Stages:
    consumer_cls, extractor_cls, learner_cls, publisher_cls = remote_stages()
    kafka, key = job_limits(config)
    learners = []
    shards: list = []
    # Shadow learners get actors like the others; only the champion selector leaves them out.
    for index, group in enumerate(learner_groups([*config.learners, *config.shadow])):
        checkpoints = checkpoint_location(config, f"learner-{index}")
        shard_actors = None
        if config.learner_shards > 1:
            shard_actors, folders = start_shards(config, index, group, key)
            shards += folders
        options = restartable(config, "learner", index) | config.resources.learner.ray_options() | config.resources.spread_options()
        actor = learner_cls.options(**options).remote(
            group,
            config.seed,
            config.window,
            config.model_size_every,
            checkpoints,
            config.checkpoint_keep,
            config.join_max_records,
            config.join_max_age_s,
            initial if initial is not None and initial.learner in group else None,
            learn_corrections=config.learn_corrections,
            limits=config.limits,
            checkpoint_key=key,
            drift=config.drift,
            job=config.kafka.group_id or "tagstream",
            shards=config.learner_shards,
            shard_actors=shard_actors,
            shard_timeout_s=config.ray_timeout_s,
        )
        learners.append((actor, group))
    champion = None
    if len(config.learners) > 1:
        champion = ChampionSelector(config.learners, config.champion_metric, config.champion_margin, config.champion_min_window)
    stages = Stages(
        consumers=[
            consumer_cls.options(**restartable(config, "consumer", index), **config.resources.consumer.ray_options()).remote(
                kafka, config.batch_size, config.poll_timeout_s, config.labels_topic, config.limits
            )
            for index in range(config.consumers)
        ],
        extractor=start_extractors(extractor_cls, config, key),
        learners=learners,
        shards=shards,
        publisher=publisher_cls.options(**restartable(config, "publisher"), **config.resources.publisher.ray_options()).remote(
            kafka,
            config.learners[0],
            champion,
            checkpoint_location(config, "publisher"),
            config.checkpoint_keep,
            None if config.predictions_file is None else str(config.predictions_file.resolve()),
            limits=config.limits,
            checkpoint_key=key,
            alertmanager_url=config.drift.alertmanager_url,
            sinks=job_sinks(config),
        ),
    )
    try:
        get_within([actor.__ray_ready__.remote() for actor in stages.all()], config.ray_timeout_s, "starting the actors")
    except BaseException:
        for actor in stages.all():
            ray.kill(actor)
        raise
    return stages


def start_extractors(extractor_cls, config: JobConfig, key: bytes | None) -> ExtractorPool:
    """The ``config.extractors`` extractor replicas; replica 0 alone holds and checkpoints the standardisation state."""
    options, settings = extractor_options(config, ray.cluster_resources())
    replicas = [
        extractor_cls.options(**options, **restartable(config, "extractor", index)).remote(
            settings,
            checkpoint_location(config, "extractor") if index == 0 else None,
            config.checkpoint_keep,
            key,
            holds_state=index == 0,
        )
        for index in range(config.extractors)
    ]
    return ExtractorPool(replicas, settings.standardize)


def restore_stages(stages: Stages, config: JobConfig) -> tuple[int | None, int]:
    """Restore every stage that checkpoints from the newest epoch all of them hold intact (all or nothing).

    Returns that epoch (``None``: fresh state) and the next epoch to write. With no checkpoint
    files at all the stages start fresh; with files but no epoch intact in every stage the job
    refuses to start (:class:`~jobs.checkpoint.CheckpointError`) unless ``config.fresh`` is set,
    instead of silently starting from zero or mixing one stage's older state with another's newer.
    The same holds for an intact epoch whose learners this version cannot go on from
    (:class:`~jobs.checkpoint.StaleCheckpoint`): refused, or with ``fresh`` every stage restarts fresh.
    """
    names, actors = zip(*stages.checkpointed())
    found = get_within([actor.checkpoint_epochs.remote() for actor in actors], config.ray_timeout_s, "listing checkpoints")
    common = set.intersection(*(set(epochs) for epochs, _ in found))
    written = [epoch for epochs, _ in found for epoch in epochs]
    next_epoch = max(written, default=0) + 1
    if common:
        epoch = max(common)
    elif not any(has_files for _, has_files in found):
        epoch = None
    elif config.fresh:
        logger.warning("fresh start: the checkpoints in %s are not used (none is intact in every stage)", config.checkpoint_dir)
        epoch = None
    else:
        # The stages log why each file is not used, but an actor's log may reach no one before the job exits.
        problems = get_within([actor.checkpoint_problems.remote() for actor in actors], config.ray_timeout_s, "listing checkpoints")
        intact = ", ".join(
            f"{name}: {epochs or 'none'}" + (f" ({'; '.join(why)})" if why else "")
            for name, (epochs, _), why in zip(names, found, problems)
        )
        raise CheckpointError(
            f"no checkpoint in {config.checkpoint_dir} is intact in every stage (intact epochs by stage: {intact}); "
            "refusing to start from fresh models. Repair or move the checkpoints, or run with --fresh to start from zero."
        )
    try:
        get_within([actor.restore.remote(epoch) for actor in actors], config.ray_timeout_s, "restoring checkpoints")
    except StaleCheckpoint as error:
        if not config.fresh:
            raise
        # Some stages may have restored already: every stage restarts fresh, so that none keeps a state the others lack.
        logger.warning("fresh start: %s", getattr(error, "cause", error))
        restart_from_checkpoints(stages, config, None)
        epoch = None
    if epoch is not None:
        logger.info("restored every stage from checkpoint epoch %d", epoch)
    return epoch, next_epoch


def restart_from_checkpoints(stages: Stages, config: JobConfig, epoch: int | None) -> None:
    """Restart every stage that checkpoints from the checkpoint of ``epoch``, once the consumers answer.

    All of them restart, not only one that died, so that they all go on from the same checkpoint
    and the records read again are transformed, predicted and published again as the first time.
    Consumers hold no checkpointed state: one that died is back once Ray has restarted it. A kill
    takes effect asynchronously, so a call answered right after it may come from the incarnation
    being killed: each actor's incarnation is compared with the one before the kill.
    """
    deadline = time.monotonic() + config.ray_timeout_s
    for actor in stages.consumers:
        answer_within(actor.__ray_ready__, deadline)
    restarted = [actor for _, actor in stages.checkpointed()]
    before = [answer_within(actor.started_as, deadline) for actor in restarted]
    for actor in restarted:
        ray.kill(actor, no_restart=False)
    for actor, killed in zip(restarted, before):
        while answer_within(actor.started_as, deadline) == killed:
            time.sleep(0.1)
    get_within([actor.restore.remote(epoch) for actor in restarted], config.ray_timeout_s, "restoring checkpoints")


def rewind_to_checkpoints(stages: Stages, config: JobConfig) -> None:
    """Make the consumers read on from the offsets the learners' checkpoints cover.

    Committed offsets are never ahead of a good checkpoint; they are behind it when the job died
    between a checkpoint and its commit (the learners skip what they already learned), and a
    learner that fell back to an older checkpoint (torn newest, or a restart) needs records the
    group has already committed.
    """
    positions = get_within([actor.position.remote() for actor, _ in stages.learners], config.ray_timeout_s, "reading checkpoints")
    offsets: dict = {}
    for position in positions:
        for partition, offset in position.items():
            offsets[partition] = min(offset, offsets.get(partition, offset))
    if offsets:
        get_within([consumer.rewind.remote(offsets) for consumer in stages.consumers], config.ray_timeout_s, "rewinding consumers")


def start_replay(stages: Stages, config: JobConfig) -> None:
    """Point the consumers at the start of a replay: ``from_offset`` of every input partition, or ``from_time``."""
    if config.from_time is not None:
        moment = config.from_time if config.from_time.tzinfo else config.from_time.replace(tzinfo=datetime.timezone.utc)
        calls = [consumer.start_at_time.remote(int(moment.timestamp() * 1000)) for consumer in stages.consumers]
    else:
        partitions = topic_partitions(config.kafka, config.kafka.topics.records)
        offsets = dict.fromkeys(partitions, config.from_offset)
        calls = [consumer.rewind.remote(offsets) for consumer in stages.consumers]
    get_within(calls, config.ray_timeout_s, "positioning the consumers for the replay")


def stop_stages(stages: Stages, timeout_s: float) -> None:
    """Close the Kafka clients of the actors, then end the actors."""
    closing = [consumer.close.remote() for consumer in stages.consumers] + [stages.publisher.close.remote()]
    try:
        get_within(closing, timeout_s, "closing the Kafka clients")
    finally:
        for actor in stages.all():
            ray.kill(actor)

