"""The streaming pipeline on Ray: input topic -> parse -> features -> predict + learn -> publish -> commit.

:func:`run_pipeline` is the dataflow, one named step per stage. Payloads travel between the
actors of :mod:`jobs.actors` as ``ObjectRef``s; the driver only reads each batch's small
:class:`~jobs.actors.PollInfo`, acknowledgement and stats. At most ``max_in_flight`` batches are
between poll and commit; beyond that the driver waits (``ray.wait``) for the oldest, which is
the backpressure. A batch's offsets are committed only after its predictions were published and
flushed, and in poll order, so a crash re-delivers records (at least once) but never skips one.

Every wait takes ``config.ray_timeout_s`` and raises :class:`PipelineTimeout` when it expires.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import os
import threading
import time
import typing

import ray

from jobs.actors import CHAMPION_SWITCH, JOIN_STATS, PollInfo, StageRestarted, extractor_gpus, remote_stages
from jobs.checkpoint import CheckpointError, read_key
from jobs.actors import STAGE_TIMES
from jobs.champion import ChampionSelector
from jobs.config import JobConfig
from jobs.features import extractor_cpus
from jobs.model_export import job_initial_model
from jobs.outage import BrokerWatch
from jobs.startup import loopback_ray
from jobs.telemetry import PipelineMetrics
from learners.model_file import ModelFile
from stream.errors import KafkaClientError
from stream.kafka import KafkaConfig, topic_partitions

logger = logging.getLogger(__name__)

#: How often the driver reports progress while its input is idle.
IDLE_PROGRESS_EVERY_S = 1.0

#: How often the driver samples the consumers' lag.
LAG_EVERY_S = 5.0



class PipelineTimeout(TimeoutError):
    """A wait on an actor took longer than ``ray_timeout_s``."""


class RecoveryBudgetExceeded(RuntimeError):
    """Actors failed more often than ``max_recoveries`` per ``recovery_window_s``: the job gives up."""


def init_ray(config: JobConfig, quiet: bool = False) -> bool:
    """Connect to Ray unless already connected; returns whether this call started the connection.

    ``config.ray_address`` wins; else ``RAY_ADDRESS`` (set inside a Ray job) joins that cluster;
    else a local Ray with ``config.ray_num_cpus`` CPUs and no dashboard is started, listening on
    127.0.0.1 only (:func:`jobs.startup.loopback_ray`). ``quiet``
    keeps Ray's own warnings and the actors' output (prefixed lines) out of this process's
    stderr; they stay in Ray's log files.
    """
    if ray.is_initialized():
        return False
    address = config.ray_address or os.environ.get("RAY_ADDRESS")
    noise = {"logging_level": logging.ERROR if quiet else logging.WARNING, "log_to_driver": not quiet}
    if address:
        ray.init(address=address, **noise)
    else:
        with loopback_ray():  # a Ray of this job alone: on 127.0.0.1 only
            ray.init(num_cpus=config.ray_num_cpus, include_dashboard=False, **noise)
    return True


@dataclasses.dataclass
class Stages:
    """Handles of the running actors."""

    consumers: list
    extractor: typing.Any
    learners: list  # (actor, learner names) pairs
    publisher: typing.Any

    def all(self) -> list:
        return [*self.consumers, self.extractor, *(actor for actor, _ in self.learners), self.publisher]

    def checkpointed(self) -> list:
        """The actors whose state checkpoints hold: the learners, the extractor (online
        standardisation) and the publisher (the champion)."""
        return [*(actor for actor, _ in self.learners), self.extractor, self.publisher]

    def checkpointed_names(self) -> list[str]:
        """The stage folders of :meth:`checkpointed`, in the same order."""
        return [*(f"learner-{index}" for index in range(len(self.learners))), "extractor", "publisher"]


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


def with_default_checkpoints(config: JobConfig) -> JobConfig:
    """The config a run goes with: a follow run without ``checkpoint_dir`` checkpoints into ``state_dir``.

    A follow run without either (``state_dir`` unset or empty) runs without checkpoints, which is
    logged as a warning: its models are lost on every restart.
    """
    if not config.follow or config.checkpoint_dir is not None or config.replaying:
        return config
    if not config.state_dir:
        logger.warning(
            "running without checkpoints: the learned models are lost whenever the job restarts "
            "(set checkpoint_dir, or leave state_dir at its default)"
        )
        return config
    location = f"{os.path.expanduser(config.state_dir).rstrip('/')}/{config.kafka.group_id}"
    logger.warning("checkpoints in %s (the default of a follow run; set checkpoint_dir to choose)", location)
    return config.model_copy(update={"checkpoint_dir": location})


def job_limits(config: JobConfig) -> tuple[KafkaConfig, bytes | None]:
    """The Kafka settings of the job's actors (producers sized for its limits) and the checkpoint key."""
    request = max(config.kafka.max_request_size, config.limits.producer_request_bytes())
    key = read_key(config.checkpoint_key_file, None if config.checkpoint_key is None else config.checkpoint_key.get_secret_value())
    return config.kafka.model_copy(update={"max_request_size": request}), key


def start_stages(config: JobConfig, initial: ModelFile | None = None) -> Stages:
    consumer_cls, extractor_cls, learner_cls, publisher_cls = remote_stages()
    kafka, key = job_limits(config)
    gpus = extractor_gpus(config.extractor.device, ray.cluster_resources().get("GPU", 0))
    learners = []
    # Shadow learners get actors like the others; only the champion selector leaves them out.
    for index, group in enumerate(learner_groups([*config.learners, *config.shadow])):
        checkpoints = checkpoint_location(config, f"learner-{index}")
        actor = learner_cls.options(**restartable(config, "learner", index)).remote(
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
        )
        learners.append((actor, group))
    champion = None
    if len(config.learners) > 1:
        champion = ChampionSelector(config.learners, config.champion_metric, config.champion_margin, config.champion_min_window)
    stages = Stages(
        consumers=[
            consumer_cls.options(**restartable(config, "consumer", index)).remote(
                kafka, config.batch_size, config.poll_timeout_s, config.labels_topic, config.limits
            )
            for index in range(config.consumers)
        ],
        extractor=extractor_cls.options(
            num_gpus=gpus,
            num_cpus=extractor_cpus(config.extractor.num_cpus, ray.cluster_resources().get("CPU", 0)),
            **restartable(config, "extractor"),
        ).remote(
            config.extractor, checkpoint_location(config, "extractor"), config.checkpoint_keep, key
        ),
        learners=learners,
        publisher=publisher_cls.options(**restartable(config, "publisher")).remote(
            kafka,
            config.learners[0],
            champion,
            checkpoint_location(config, "publisher"),
            config.checkpoint_keep,
            None if config.predictions_file is None else str(config.predictions_file.resolve()),
            limits=config.limits,
            checkpoint_key=key,
            alertmanager_url=config.drift.alertmanager_url,
        ),
    )
    try:
        _get([actor.__ray_ready__.remote() for actor in stages.all()], config.ray_timeout_s, "starting the actors")
    except BaseException:
        for actor in stages.all():
            ray.kill(actor)
        raise
    return stages


def restore_stages(stages: Stages, config: JobConfig) -> tuple[int | None, int]:
    """Restore every stage that checkpoints from the newest epoch all of them hold intact (all or nothing).

    Returns that epoch (``None``: fresh state) and the next epoch to write. With no checkpoint
    files at all the stages start fresh; with files but no epoch intact in every stage the job
    refuses to start (:class:`~jobs.checkpoint.CheckpointError`) unless ``config.fresh`` is set,
    instead of silently starting from zero or mixing one stage's older state with another's newer.
    """
    actors = stages.checkpointed()
    found = _get([actor.checkpoint_epochs.remote() for actor in actors], config.ray_timeout_s, "listing checkpoints")
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
        intact = ", ".join(f"{name}: {epochs or 'none'}" for name, (epochs, _) in zip(stages.checkpointed_names(), found))
        raise CheckpointError(
            f"no checkpoint in {config.checkpoint_dir} is intact in every stage (intact epochs by stage: {intact}); "
            "refusing to start from fresh models. Repair or move the checkpoints, or run with --fresh to start from zero."
        )
    _get([actor.restore.remote(epoch) for actor in actors], config.ray_timeout_s, "restoring checkpoints")
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
        _answer(actor.__ray_ready__, deadline)
    restarted = stages.checkpointed()
    before = [_answer(actor.started_as, deadline) for actor in restarted]
    for actor in restarted:
        ray.kill(actor, no_restart=False)
    for actor, killed in zip(restarted, before):
        while _answer(actor.started_as, deadline) == killed:
            time.sleep(0.1)
    _get([actor.restore.remote(epoch) for actor in restarted], config.ray_timeout_s, "restoring checkpoints")


def _answer(method, deadline: float):
    """Call an actor method, waiting out a restart of the actor until ``deadline``."""
    while True:
        try:
            return ray.get(method.remote(), timeout=max(0.1, deadline - time.monotonic()))
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        except ray.exceptions.GetTimeoutError:
            raise PipelineTimeout("an actor did not come back from a restart within the deadline") from None


def rewind_to_checkpoints(stages: Stages, config: JobConfig) -> None:
    """Make the consumers read on from the offsets the learners' checkpoints cover.

    Committed offsets are never ahead of a good checkpoint; they are behind it when the job died
    between a checkpoint and its commit (the learners skip what they already learned), and a
    learner that fell back to an older checkpoint (torn newest, or a restart) needs records the
    group has already committed.
    """
    positions = _get([actor.position.remote() for actor, _ in stages.learners], config.ray_timeout_s, "reading checkpoints")
    offsets: dict = {}
    for position in positions:
        for partition, offset in position.items():
            offsets[partition] = min(offset, offsets.get(partition, offset))
    if offsets:
        _get([consumer.rewind.remote(offsets) for consumer in stages.consumers], config.ray_timeout_s, "rewinding consumers")


def start_replay(stages: Stages, config: JobConfig) -> None:
    """Point the consumers at the start of a replay: ``from_offset`` of every input partition, or ``from_time``."""
    if config.from_time is not None:
        moment = config.from_time if config.from_time.tzinfo else config.from_time.replace(tzinfo=datetime.timezone.utc)
        calls = [consumer.start_at_time.remote(int(moment.timestamp() * 1000)) for consumer in stages.consumers]
    else:
        partitions = topic_partitions(config.kafka, config.kafka.topics.records)
        offsets = dict.fromkeys(partitions, config.from_offset)
        calls = [consumer.rewind.remote(offsets) for consumer in stages.consumers]
    _get(calls, config.ray_timeout_s, "positioning the consumers for the replay")


def stop_stages(stages: Stages, timeout_s: float) -> None:
    """Close the Kafka clients of the actors, then end the actors."""
    closing = [consumer.close.remote() for consumer in stages.consumers] + [stages.publisher.close.remote()]
    try:
        _get(closing, timeout_s, "closing the Kafka clients")
    finally:
        for actor in stages.all():
            ray.kill(actor)


def _get(refs, timeout_s: float, what: str):
    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise PipelineTimeout(f"{what} took longer than {timeout_s} s") from None


# -- the steps ------------------------------------------------------------------------------------


def consume_and_parse(consumer, timeout_s: float, isolate: dict | None = None, broker: BrokerWatch | None = None):
    """Poll one micro-batch; the batch stays in the object store, the driver reads only its PollInfo.

    Records in the ``isolate`` ranges come one per batch (a learner actor died on one of them).
    With ``broker``, time the broker does not answer does not count towards ``timeout_s`` (a poll
    may wait for it to take a dead letter or an alert).
    """
    batch_ref, info_ref = consumer.poll.options(num_returns=2).remote(isolate or None)
    if broker is not None and broker.wait([info_ref], timeout_s, "polling the input topic"):
        raise PipelineTimeout(f"polling the input topic took longer than {timeout_s} s")
    return batch_ref, _get(info_ref, timeout_s, "polling the input topic")


def extract_features(extractor, batch_ref, info: PollInfo, config: JobConfig):
    """Send the batch through the extractor, unless it has nothing to do (numeric, unstandardised).

    Skipping it saves a Ray call and a round of (de)serialising the whole batch.
    """
    if not info.texts and not config.extractor.standardize:
        return batch_ref
    return extractor.transform.remote(batch_ref)


def predict_and_learn(learners: list, features_ref):
    """Every learner actor sees every record; returns their Scored parts and stats, as refs."""
    calls = [actor.process.options(num_returns=2).remote(features_ref) for actor, _ in learners]
    return [scored for scored, _ in calls], [stats for _, stats in calls]


def publish(publisher, scored_refs):
    """Fan in the learner actors' outputs; the ref resolves once everything is flushed."""
    return publisher.publish.remote(*scored_refs)


def commit(consumer, offsets):
    return consumer.commit.remote(offsets)


# -- bookkeeping ------------------------------------------------------------------------------------


@dataclasses.dataclass
class InFlight:
    consumer: typing.Any
    info: PollInfo
    stats_refs: list
    ack_ref: typing.Any


@dataclasses.dataclass
class Summary:
    """What a run did. ``learners`` maps each learner to its final scores (see ``LearnerStage.summary``)."""

    records_in: int = 0
    records_good: int = 0
    predictions_out: int = 0
    dead_letters: dict[str, int] = dataclasses.field(default_factory=dict)
    drift_events: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    active_seconds: float = 0.0
    learners: dict[str, dict] = dataclasses.field(default_factory=dict)
    label_join: dict[str, int] = dataclasses.field(default_factory=dict)
    serving: str | None = None
    champion_switches: list[dict] = dataclasses.field(default_factory=list)
    shadow: list[str] = dataclasses.field(default_factory=list)
    checkpoints: int = 0
    recoveries: int = 0
    dead_letters_lost: int = 0
    #: Input partitions whose records are read one per batch just now, after a failure (0 normally).
    isolating: int = 0
    broker_outages: int = 0  # times the broker stopped answering (broker_unavailable), and for how long
    broker_unavailable_s: float = 0.0
    offset_gaps: int = 0  # partitions read past their log's end and moved by kafka.offsets_out_of_range

    @property
    def records_per_s(self) -> float:
        """Throughput while there was work: from the first message consumed to the last batch committed."""
        return self.records_in / self.active_seconds if self.active_seconds > 0 else 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"records_per_s": self.records_per_s}


class Flow:
    """Bounded in-flight batches, in-order commits, stop conditions, metrics and progress.

    Parameters
    ----------
    config
        The job config (in-flight bound, timeouts, follow, idle timeout).
    expected
        Messages the run should consume before it ends (bounded run of a replay), if known.
    stop
        Set it to end the run gracefully: no more polls, in-flight batches finish and commit.
    metrics
        Prometheus metrics to update.
    on_progress
        Called with the running :class:`Summary` and the latest windowed scores after each batch,
        and every :data:`IDLE_PROGRESS_EVERY_S` while the input is idle (a follow run waiting for
        records still shows that it is alive).
    on_batch
        Called with the running :class:`Summary` and the batch's stats by learner after each batch
        (the live page of :mod:`jobs.dashboard`).

    """

    def __init__(self, config, expected, stop, metrics, on_progress, on_batch=None):
        self.config = config
        self.expected = expected
        self.stop = stop
        self.metrics = metrics
        self.on_progress = on_progress
        self.on_batch = on_batch
        self.summary = Summary(shadow=list(config.shadow))
        self.broker = BrokerWatch(config.kafka, getattr(metrics, "registry", None))
        self.window: dict[str, dict] = {}
        self._in_flight: collections.deque[InFlight] = collections.deque()
        self._commits: list = []
        # With checkpoints, offsets wait here (per consumer) until a checkpoint covers them.
        self._checkpointing = config.checkpoint_dir is not None
        self._uncommitted: dict[int, tuple[typing.Any, dict]] = {}
        self._checkpointed_at = time.monotonic()
        # The checkpoint epoch every stage holds (None: fresh) and the next one to write.
        self.epoch: int | None = None
        self.next_epoch = 1
        self._recovered_at: collections.deque[float] = collections.deque()
        # Input ranges a learner actor died on: their records go one per batch until passed.
        self._isolate: dict[tuple[str, int], tuple[int, int]] = {}
        # Records a learner actor died on twice in a row: the consumers dead-letter them.
        self.quarantined: set[tuple[str, int, int]] = set()
        self.start()

    def start(self) -> None:
        """Start the clocks (run time, idle time): call once the actors are up."""
        self._started = time.monotonic()
        self._joined = False
        self._join_started = self._started
        self._first_input: float | None = None
        self._last_input = self._started
        self._last_progress = self._started
        # Lag is sampled as soon as partitions are assigned, then every LAG_EVERY_S: a short run
        # still exports it.
        self._last_lag = float("-inf")

    def polls(self, consumers: list) -> typing.Iterator:
        """The consumer to poll next, round robin, until a stop condition holds."""
        turn = 0
        while not self._done():
            yield consumers[turn % len(consumers)]
            turn += 1

    def _done(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        if self.config.follow:
            return False
        if self.expected is not None and self.summary.records_in >= self.expected:
            return True
        if time.monotonic() - self._last_input > self.config.idle_timeout_s:
            if self.expected is not None:
                logger.warning(
                    "no input for %s s: stopping after %d of the %d expected messages",
                    self.config.idle_timeout_s,
                    self.summary.records_in,
                    self.expected,
                )
            return True
        return False

    def consumed(self, consumer, info: PollInfo) -> None:
        now = time.monotonic()
        if info.partitions:
            self._joined = True
        elif not self._joined:
            # A group join takes seconds (more on a busy machine): that wait is not idle input.
            if now - self._join_started > self.config.ray_timeout_s:
                raise PipelineTimeout(
                    f"no consumer was assigned a partition of {self.config.kafka.topics.records} "
                    f"within {self.config.ray_timeout_s} s"
                )
            self._last_input = now
        self.summary.dead_letters_lost += info.lost
        for coordinates, end in info.offsets.items():
            isolated = self._isolate.get(coordinates)
            if isolated is not None and end >= isolated[1]:
                del self._isolate[coordinates]
        self.summary.isolating = len(self._isolate)
        if info.consumed:
            if self._first_input is None:
                self._first_input = now
            self._last_input = now
            self.summary.records_in += info.consumed
            self.summary.records_good += info.good
            for reason, count in info.dead_letters.items():
                self.summary.dead_letters[reason] = self.summary.dead_letters.get(reason, 0) + count
            self.metrics.observe_consumed(info.consumed, info.dead_letters)
            self.metrics.observe_stage("consume", info.seconds)
        if info.offset_gaps:
            self.summary.offset_gaps += info.offset_gaps
            self.broker.gap(info.offset_gaps)
        if self._joined and now - self._last_lag >= LAG_EVERY_S:
            self._last_lag = now
            try:
                lag = _get(consumer.lag.remote(), self.config.ray_timeout_s, "reading consumer lag")
            except (KafkaClientError, PipelineTimeout):
                # A gauge is not worth ending the job for: the broker may be down (jobs.outage).
                self.broker.check("sampling the consumer lag")
            else:
                self.metrics.observe_lag(lag)

    def isolating(self) -> dict[tuple[str, int], tuple[int, int]]:
        """The input ranges whose records go one per batch (see :meth:`failed`)."""
        return dict(self._isolate)

    def submit(self, entry: InFlight) -> None:
        """Track a submitted batch; wait for the oldest while the in-flight bound is reached.

        While records are isolated, a batch is finished before the next is polled, so that a
        learner that dies again dies on one known record.
        """
        self._in_flight.append(entry)
        bound = 1 if self._isolate else self.config.max_in_flight
        if len(self._in_flight) >= bound:
            while len(self._in_flight) >= bound:
                self._retire(block=True)
            # Time spent waiting on our own stages (a slow extractor, say) is not idle input.
            self._last_input = time.monotonic()
        self.retire_ready()
        self.metrics.observe_batch(entry.info.consumed, len(self._in_flight))

    def retire_ready(self) -> None:
        """Commit the acknowledged batches at the head of the queue, without waiting."""
        while self._in_flight and self._retire(block=False):
            pass

    def idle(self) -> None:
        """A poll found no input: commit what is acknowledged, and report progress now and then."""
        self.retire_ready()
        now = time.monotonic()
        if self.on_progress is not None and now - self._last_progress >= IDLE_PROGRESS_EVERY_S:
            self._report(now)

    def _report(self, now: float) -> None:
        self._last_progress = now
        self.summary.seconds = now - self._started
        if self._first_input is not None:
            self.summary.active_seconds = now - self._first_input
        if self.on_progress is not None:
            self.on_progress(self.summary, self.window)

    def _retire(self, block: bool) -> bool:
        """Commit the oldest batch if it is acknowledged (waiting for it when ``block``)."""
        head = self._in_flight[0]
        if block:
            # Time the broker does not answer does not count (jobs.outage): the publisher waits for it.
            if self.broker.wait([head.ack_ref], self.config.ray_timeout_s, "publishing a batch"):
                raise PipelineTimeout(f"a batch was not published within {self.config.ray_timeout_s} s")
        elif not ray.wait([head.ack_ref], num_returns=1, timeout=0)[0]:
            return False
        ack = _get(head.ack_ref, self.config.ray_timeout_s, "reading a publish acknowledgement")
        self._in_flight.popleft()
        if self._checkpointing:
            consumer, offsets = self._uncommitted.setdefault(id(head.consumer), (head.consumer, {}))
            offsets.update(head.info.offsets)
        else:
            self._commits.append(commit(head.consumer, head.info.offsets))
            self._check_commits(wait=False)
        self.summary.predictions_out += ack["predictions"]
        if ack.get("dead_letters"):
            for reason, count in ack["dead_letters"].items():
                self.summary.dead_letters[reason] = self.summary.dead_letters.get(reason, 0) + count
            self.metrics.observe_consumed(0, ack["dead_letters"])
        if ack.get("switch") is not None:
            self.summary.champion_switches.append(ack["switch"])
            self.summary.serving = ack["switch"]["to"]
        self.summary.batches += 1
        self.metrics.observe_published(ack["predictions"], ack["latencies_s"])
        self.metrics.observe_stage("publish", ack["publish_s"])
        self.metrics.observe_serving(ack["serving"])
        self.metrics.observe_drift_alerts(ack.get("drift_alerts", {}))
        batch_stats: dict[str, dict] = {}
        for stats in _get(head.stats_refs, self.config.ray_timeout_s, "reading learner stats"):
            join_counts = stats.pop(JOIN_STATS)
            for stage, seconds in stats.pop(STAGE_TIMES, {}).items():
                self.metrics.observe_stage(stage, seconds)
            self.metrics.observe_label_join(join_counts)
            self.summary.label_join = join_counts
            switch = ack.get("switch")
            if switch is not None and switch["to"] in stats:
                # The switch joins the new champion's events: counted, and shown on the live page.
                champion = stats[switch["to"]]
                champion["events"][("global", CHAMPION_SWITCH)] = champion["events"].get(("global", CHAMPION_SWITCH), 0) + 1
                champion["recent_events"].append(ack["switch_event"])
            batch_stats.update(stats)
            for learner, learner_stats in stats.items():
                self.metrics.observe_learner(learner, learner_stats)
                self.window[learner] = learner_stats["window"]
                counts = self.summary.drift_events.setdefault(learner, {})
                for (level, kind), count in learner_stats["events"].items():
                    counts[f"{level}/{kind}"] = counts.get(f"{level}/{kind}", 0) + count
        self._report(time.monotonic())
        if self.on_batch is not None:
            self.on_batch(self.summary, batch_stats)
        return True

    def _check_commits(self, wait: bool) -> None:
        if wait and self.broker.wait(self._commits, self.config.ray_timeout_s, "committing offsets"):
            raise PipelineTimeout(f"offset commits did not finish within {self.config.ray_timeout_s} s")
        done, self._commits = ray.wait(self._commits, num_returns=len(self._commits), timeout=0)
        self.summary.dead_letters_lost += sum(ray.get(done))  # raises the commit's error, if any
        if done:
            self.metrics.observe_commit()

    def checkpoint_due(self) -> bool:
        return self._checkpointing and time.monotonic() - self._checkpointed_at >= self.config.checkpoint_every_s

    def checkpoint(self, stages: Stages) -> None:
        """Finish the batches in flight, checkpoint every stage that has state, then commit what they cover.

        Waiting for the batches in flight makes the checkpoint cover exactly the published
        batches, so a restart neither loses a prediction nor learns a record twice. Every stage
        writes the same epoch; only once all have written it is it the one a recovery goes back to.
        """
        started = time.monotonic()
        while self._in_flight:
            self._retire(block=True)
        writes = [actor.checkpoint.remote(self.next_epoch) for actor in stages.checkpointed()]
        _get(writes, self.config.ray_timeout_s, "writing checkpoints")
        self.epoch, self.next_epoch = self.next_epoch, self.next_epoch + 1
        self._checkpointed_at = time.monotonic()
        self.summary.checkpoints += 1
        for consumer, offsets in self._uncommitted.values():
            if offsets:
                self._commits.append(commit(consumer, offsets))
        self._uncommitted.clear()
        self._check_commits(wait=True)
        self.metrics.observe_checkpoint(time.monotonic() - started)

    def failed(self, error: BaseException) -> None:
        """Account for an actor's failure before recovering from it.

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
        head = self._in_flight[0] if self._in_flight else None
        if head is not None and self._isolate and head.info.consumed == 1 and head.info.good == 1:
            ((topic, partition), offset), = head.info.first.items()
            if topic == records:
                self.quarantined.add((topic, partition, offset))
                logger.error(
                    "a learner actor died twice in a row on %s[%d]@%d: it goes to the dead letters (crashed_learner)",
                    topic, partition, offset,
                )  # fmt: skip
                return
        for entry in self._in_flight:
            for coordinates, start in entry.info.first.items():
                if coordinates[0] != records:
                    continue
                end = entry.info.offsets[coordinates]
                low, high = self._isolate.get(coordinates, (start, end))
                self._isolate[coordinates] = (min(low, start), max(high, end))
        self.summary.isolating = len(self._isolate)

    def abandon_in_flight(self) -> None:
        """Forget the batches in flight and the uncommitted offsets (a learner actor died: they are read again)."""
        self._in_flight.clear()
        self._uncommitted.clear()

    def recovered(self) -> None:
        """Count a recovery. Messages are read again, so the run now ends on idle input, timed from
        now; neither the restart nor the group join of a restarted consumer is idle input."""
        self.summary.recoveries += 1
        self.expected = None
        self._last_input = self._join_started = time.monotonic()
        self._joined = False

    def drain(self) -> None:
        while self._in_flight:
            self._retire(block=True)
        if self._commits:
            self._check_commits(wait=True)
        now = time.monotonic()
        self.summary.seconds = now - self._started
        if self._first_input is not None:
            self.summary.active_seconds = now - self._first_input
        self.summary.broker_outages, self.summary.broker_unavailable_s = self.broker.outages, self.broker.unavailable_s
        self.metrics.observe_batch(0, 0)


def _recoverable(error: BaseException) -> bool:
    """An actor died, a restarted stage refused work, or a learner raised on a batch: a recovery mends it.

    Any other error raised inside an actor (Kafka, our own code outside the learners) ends the run.
    """
    if isinstance(error, (ray.exceptions.RayActorError, StageRestarted)):
        return True
    # A learner's error reaches the driver wrapped in the task that took its output (the publisher);
    # Ray keeps the failing task's name only in the text of the error.
    return isinstance(error, ray.exceptions.RayTaskError) and "ray::LearnerStage." in str(error)


def run_pipeline(
    config: JobConfig,
    *,
    expected: int | None = None,
    stop: threading.Event | None = None,
    metrics: PipelineMetrics | None = None,
    on_progress: typing.Callable[[Summary, dict], None] | None = None,
    on_batch: typing.Callable[[Summary, dict], None] | None = None,
) -> Summary:
    """Run the pipeline on a connected Ray until a stop condition holds; returns the summary.

    A bounded run (``config.follow`` false) ends after ``expected`` messages when given, else
    after ``config.idle_timeout_s`` without input. A follow run ends when ``stop`` is set. Either
    way in-flight batches are finished and committed before the actors stop. A model file that
    does not fit (``config.init_model``) raises before anything starts.
    """
    initial = job_initial_model(config)
    config = with_default_checkpoints(config)
    flow = Flow(config, expected, stop, metrics or PipelineMetrics(config.window), on_progress, on_batch)
    stages = start_stages(config, initial)
    flow.start()
    try:
        if config.checkpoint_dir is not None:
            flow.epoch, flow.next_epoch = restore_stages(stages, config)
            rewind_to_checkpoints(stages, config)
        # Who serves from the start: a publisher restored from a checkpoint may not serve the first learner.
        flow.summary.serving = _get(stages.publisher.serving_learner.remote(), config.ray_timeout_s, "reading the champion")
        if config.replaying:
            start_replay(stages, config)
        for consumer in flow.polls(stages.consumers):
            try:
                batch_ref, info = consume_and_parse(consumer, config.ray_timeout_s, flow.isolating(), flow.broker)
                flow.consumed(consumer, info)
                if not info.consumed:
                    flow.idle()
                    continue
                features_ref = extract_features(stages.extractor, batch_ref, info, config)
                scored_refs, stats_refs = predict_and_learn(stages.learners, features_ref)
                ack_ref = publish(stages.publisher, scored_refs)
                flow.submit(InFlight(consumer, info, stats_refs, ack_ref))
                if flow.checkpoint_due():
                    flow.checkpoint(stages)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError, StageRestarted) as error:
                if config.checkpoint_dir is None or not _recoverable(error):
                    raise
                flow.failed(error)
                logger.warning("an actor failed (%s): restarting the stages from their checkpoints", error)
                flow.abandon_in_flight()
                restart_from_checkpoints(stages, config, flow.epoch)
                if flow.quarantined:
                    _get([c.quarantine.remote(flow.quarantined) for c in stages.consumers], config.ray_timeout_s, "quarantining")
                rewind_to_checkpoints(stages, config)
                flow.recovered()
        flow.drain()
        if config.checkpoint_dir is not None:
            flow.checkpoint(stages)
        parts = _get([actor.summary.remote() for actor, _ in stages.learners], config.ray_timeout_s, "reading learner summaries")
        flow.summary.learners = {name: part[name] for part in parts for name in part}
        if flow.summary.learners:
            flow.summary.label_join = next(iter(flow.summary.learners.values()))["label_join"]
        flow.summary.serving = _get(stages.publisher.serving_learner.remote(), config.ray_timeout_s, "reading the champion")
    except BaseException:
        # Already failing: end the actors without waiting on them, and keep the original error.
        for actor in stages.all():
            ray.kill(actor)
        raise
    stop_stages(stages, config.ray_timeout_s)
    return flow.summary
