"""The driver: :func:`run_pipeline`, the dataflow from the input topic to committed offsets.

At most ``max_in_flight`` batches are between poll and commit; beyond that the driver waits
(``ray.wait``) for the oldest, which is the backpressure (:mod:`jobs.pipeline.in_flight`).

Ordering. Every consumer actor has one poll in flight; the driver takes whichever answers first
(:class:`~jobs.pipeline.polls.ConsumerPolls`), so the consumers fetch and parse side by side.
What is guaranteed:

* per input partition, records are predicted, learned and published in offset order: one
  consumer of the group reads a partition at a time, it is polled again only after its last
  batch was sent on, and a learner actor runs its batches in the order the driver sent them;
* records of different partitions have no order between them: a batch holds the messages one
  poll returned, and batches of different consumers enter the pipeline as their polls answer;
* late labels are joined to their records by id, whatever partition either came from;
* offsets are committed in the order the batches were sent on, each by the consumer that read
  them, once their predictions are published (with checkpoints: once a checkpoint covers them);
* after a rebalance or a recovery a partition is read again from the offsets its learners'
  checkpoints cover (or the committed ones); records a learner already took in are skipped by
  position, so each is learned exactly once.
"""

from __future__ import annotations

import logging
import os
import threading
import typing

import ray

from jobs.config import JobConfig
from jobs.model_export import job_initial_model
from jobs.outage import BrokerWatch
from jobs.pipeline.checkpointing import CheckpointSchedule
from jobs.pipeline.in_flight import InFlight, InFlightBatches
from jobs.pipeline.lifecycle import (
    restart_from_checkpoints,
    restore_stages,
    rewind_to_checkpoints,
    start_replay,
    start_stages,
    stop_stages,
)
from jobs.pipeline.progress import Progress, Summary
from jobs.pipeline.recovery import ActorDiedWithoutCheckpoints, Recovery, failed_stage, recoverable
from jobs.pipeline.polls import ConsumerPolls
from jobs.pipeline.steps import extract_features, predict_and_learn, publish
from jobs.pipeline.waits import get_within
from jobs.stages.base import StageRestarted
from jobs.startup import loopback_ray
from jobs.telemetry import PipelineMetrics

logger = logging.getLogger(__name__)


def init_ray(config: JobConfig, quiet: bool = False) -> bool:
    """Connect to Ray unless already connected; returns whether this call started the connection.

    ``config.ray_address`` wins; else ``RAY_ADDRESS`` (set inside a Ray job) joins that cluster;
    else a local Ray of this job alone with ``config.ray_num_cpus`` CPUs and no dashboard is started
    (even where another process runs a ``ray start`` cluster), listening on 127.0.0.1 only
    (:func:`jobs.startup.loopback_ray`). ``quiet`` keeps Ray's own warnings and the actors' output
    (prefixed lines) out of this process's stderr; they stay in Ray's log files.
    """
    if ray.is_initialized():
        return False
    address = config.ray_address or os.environ.get("RAY_ADDRESS")
    noise = {"logging_level": logging.ERROR if quiet else logging.WARNING, "log_to_driver": not quiet}
    if address:
        ray.init(address=address, **noise)
    else:
        # address="local": a Ray of this job alone, never a cluster another process started on
        # this machine with `ray start` (plain ray.init() would join it, and refuse num_cpus).
        with loopback_ray():  # on 127.0.0.1 only
            ray.init(address="local", num_cpus=config.ray_num_cpus, include_dashboard=False, **noise)
    return True


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


def run_pipeline(
    config: JobConfig,
    *,
    expected: int | None = None,
    stop: threading.Event | None = None,
    metrics: PipelineMetrics | None = None,
    on_progress: typing.Callable[[Summary, dict], None] | None = None,
    on_batch: typing.Callable[[Summary, dict], None] | None = None,
    on_alerts: typing.Callable[[list[dict]], None] | None = None,
) -> Summary:
    """Run the pipeline on a connected Ray until a stop condition holds; returns the summary.

    A bounded run (``config.follow`` false) ends after ``expected`` messages when given, else
    after ``config.idle_timeout_s`` without input. A follow run ends when ``stop`` is set. Either
    way in-flight batches are finished and committed before the actors stop. A model file that
    does not fit (``config.init_model``) raises before anything starts.
    """
    initial = job_initial_model(config)
    config = with_default_checkpoints(config)
    metrics = metrics or PipelineMetrics(config.window)
    broker = BrokerWatch(config.kafka, getattr(metrics, "registry", None))
    progress = Progress(config, expected, stop, metrics, broker, on_progress, on_batch, on_alerts)
    in_flight = InFlightBatches(config, broker, progress)
    recovery = Recovery(config, progress.summary)
    checkpoints = CheckpointSchedule(config, in_flight, progress)
    stages = start_stages(config, initial)
    try:
        if checkpoints.enabled:
            checkpoints.epoch, checkpoints.next_epoch = restore_stages(stages, config)
            rewind_to_checkpoints(stages, config)
        # Who serves from the start: a publisher restored from a checkpoint may not serve the first learner.
        progress.summary.serving = get_within(stages.publisher.serving_learner.remote(), config.ray_timeout_s, "reading the champion")
        if config.replaying:
            start_replay(stages, config)
        # The clocks start once the stages are restored: a slow restore (or a fresh restart of every
        # stage) is not idle input, which would end a bounded run before its first poll.
        progress.start()
        polls = ConsumerPolls(stages.consumers, config.ray_timeout_s, broker)
        while not progress.done():
            try:
                consumer, batch_ref, info = polls.next(recovery.isolating())
                progress.consumed(consumer, info)
                recovery.consumed(info)
                if not info.consumed:
                    in_flight.retire_ready()
                    progress.idle()
                    continue
                features_ref = extract_features(stages.extractor, batch_ref, info, config)
                scored_refs, stats_refs = predict_and_learn(stages.learners, features_ref)
                ack_ref = publish(stages.publisher, scored_refs)
                in_flight.submit(InFlight(consumer, info, stats_refs, ack_ref), recovery.in_flight_bound())
                if checkpoints.due():
                    checkpoints.checkpoint(stages)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError, StageRestarted) as error:
                if not recoverable(error):
                    raise
                if not checkpoints.enabled:
                    stage = failed_stage(stages.consumers, stages.checkpointed(), error)
                    raise ActorDiedWithoutCheckpoints(stage, progress.summary, error) from error
                recovery.failed(error, in_flight.entries())
                logger.warning("an actor failed (%s): restarting the stages from their checkpoints", error)
                in_flight.abandon()
                stages.extractor.forget()
                restart_from_checkpoints(stages, config, checkpoints.epoch)
                if recovery.quarantined:
                    quarantining = [c.quarantine.remote(recovery.quarantined) for c in stages.consumers]
                    get_within(quarantining, config.ray_timeout_s, "quarantining")
                rewind_to_checkpoints(stages, config)
                progress.recovered()
                polls.abandon()  # polled before the rewind: read again from the checkpoint's offsets
        polls.abandon()
        in_flight.drain()
        progress.finish()
        if checkpoints.enabled:
            checkpoints.checkpoint(stages)
        parts = get_within([actor.summary.remote() for actor, _ in stages.learners], config.ray_timeout_s, "reading learner summaries")
        progress.summary.learners = {name: part[name] for part in parts for name in part}
        if progress.summary.learners:
            progress.summary.label_join = next(iter(progress.summary.learners.values()))["label_join"]
        progress.summary.serving = get_within(stages.publisher.serving_learner.remote(), config.ray_timeout_s, "reading the champion")
    except BaseException:
        # Already failing: end the actors without waiting on them, and keep the original error.
        for actor in stages.all():
            ray.kill(actor)
        raise
    stop_stages(stages, config.ray_timeout_s)
    return progress.summary
