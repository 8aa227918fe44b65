"""Entrypoint of tagstream as a Ray job: ``python -m jobs.ray_job --config job.toml``.

Submitted with ``ray job submit --working-dir . -- python -m jobs.ray_job --config job.toml``
(or ``tagstream submit``), it joins the cluster of the job (``RAY_ADDRESS``, set by Ray),
creates the topics that are missing, replays the configured dataset into the input topic when
there is one, serves ``/metrics`` and runs the pipeline: bounded (ends once the replayed records
are processed, or after ``idle_timeout_s`` without input) or ``follow`` (until SIGTERM, which is
what ``ray job stop`` sends). Progress goes to the job's log as ``key=value`` lines, at most every
:data:`jobs.run_views.PROGRESS_EVERY_S`, so ``ray job logs`` shows how far the job is.

The configuration comes from the file given by ``--config`` (or the ``TAGSTREAM_CONFIG``
variable), then the ``TAGSTREAM_*`` variables (for example ``TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS``,
passed with the job's ``runtime_env`` ``env_vars``), then the flags. The exit status is 0 when
the run ended normally and 1 with a one-line reason otherwise (``job failed: ...``, never a
traceback), so the job ends SUCCEEDED or FAILED: among others when no checkpoint is intact in
every stage, when the checkpoints are unsigned or signed with another key than the job's, and when
actors fail faster than the recovery budget (``max_recoveries`` within ``recovery_window_s``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import signal
import sys
import threading
import typing
import uuid

import ray
import typer

from jobs.broker import BrokerError
from jobs.checkpoint import CheckpointError
from jobs.cli_run import records_of
from jobs.config import ConfigError, JobConfig
from jobs.logging_setup import LogFormat, setup_logging
from jobs.pipeline.driver import init_ray, run_pipeline
from jobs.pipeline.progress import Summary
from jobs.pipeline.recovery import RecoveryBudgetExceeded
from jobs.pipeline.waits import PipelineTimeout
from jobs.produce import produce
from jobs.run_views import ProgressLog
from jobs.startup import check_dataset, serve_endpoints
from jobs.telemetry import PipelineMetrics
from learners.model_file import ModelFileError
from stream.errors import StreamError
from stream.kafka import ensure_topics

# Named, not __name__: run with `python -m`, this module is "__main__".
logger = logging.getLogger("jobs.ray_job")

#: How the user of a Ray job changes each port (see :func:`jobs.startup.serve_endpoints`).
PORT_SETTINGS = {
    "metrics_port": "metrics_port in the config file or TAGSTREAM_METRICS_PORT",
    "dashboard_port": "dashboard_port in the config file or TAGSTREAM_DASHBOARD_PORT",
}

#: Environment variable naming the config file when ``--config`` is not given.
CONFIG_ENV = "TAGSTREAM_CONFIG"


class IncompleteRun(RuntimeError):
    """A bounded run ended (input went idle) before it consumed every replayed record."""


#: Errors that end the job with exit 1 and their one-line reason: what the operator must act on
#: (configuration, Kafka, checkpoints, the recovery budget, ports, files), as in ``tagstream run``.
FATAL_ERRORS = (
    ConfigError,
    StreamError,
    BrokerError,
    PipelineTimeout,
    CheckpointError,
    RecoveryBudgetExceeded,
    ModelFileError,
    IncompleteRun,
    OSError,
)


def failure_reason(error: BaseException) -> str:
    """The reason a job failed, on one line.

    An actor's error comes wrapped with its remote traceback: its own message only. A message
    that quotes another error over several lines (the recovery budget names the last actor
    failure, whose text lists the actor's id, pid, node ...) keeps its first line.

    Examples
    --------
    >>> failure_reason(RecoveryBudgetExceeded("2 actor failures; the last: The actor died.\\n\\tpid: 7"))
    '2 actor failures; the last: The actor died.'
    """
    reason = error.cause if isinstance(error, ray.exceptions.RayTaskError) else error
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else type(reason).__name__


def log_progress(fields: dict) -> None:
    """Emit one progress line (``msg=progress`` with the fields) into the job's log."""
    logger.info("progress", extra=fields)


def stop_on_sigterm(stop: threading.Event) -> None:
    """Make SIGTERM (``ray job stop``, a pod being deleted) end the run gracefully instead of abruptly."""

    def handle(signum, frame):
        logger.info("SIGTERM received: finishing the batches in flight, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, handle)


def run_job(config: JobConfig, stop: threading.Event | None = None) -> Summary:
    """Topics, replay, metrics endpoint and the pipeline, on the Ray cluster this process belongs to.

    The dataset and the ports are checked (the ports held) before Ray, topics or a replay.
    """
    with contextlib.ExitStack() as stack:
        if config.dataset is not None and not config.replaying:
            check_dataset(records_of(config.dataset, config.dataset_fields))
        metrics = PipelineMetrics(config.window)
        endpoints = serve_endpoints(config, metrics, stack, settings=PORT_SETTINGS)
        if init_ray(config):
            stack.callback(ray.shutdown)
            if stop is not None:
                stop_on_sigterm(stop)  # a local Ray installs its own SIGTERM handler (it aborts)
        ensure_topics(config.kafka)
        expected = None
        if config.replaying:
            config = config.for_replay(uuid.uuid4().hex[:8])
            outputs = config.kafka.topics
            ensure_topics(config.kafka, [outputs.predictions, outputs.drift, outputs.model_events])
        elif config.dataset is not None:
            produced = produce(config.kafka, records_of(config.dataset, config.dataset_fields), limit=config.limit)
            expected = produced.records
            logger.info(
                "replayed the dataset",
                extra={"dataset": config.dataset, "records": produced.records, "topic": config.kafka.topics.records},
            )
        logger.info(
            "pipeline starting",
            extra={
                "learners": ",".join(config.learners),
                "bootstrap_servers": config.kafka.bootstrap_servers,
                "input": config.kafka.topics.records,
                "predictions": config.kafka.topics.predictions,
                "metrics_port": endpoints.metrics_port,
                "live_page": endpoints.page.url,
                "expected": expected,
                "follow": config.follow,
            },
        )
        summary = run_pipeline(
            config,
            expected=expected,
            stop=stop,
            metrics=metrics,
            on_progress=ProgressLog(log_progress, config.learners, metrics),
            on_batch=endpoints.page.state.observe_batch,
        )
        endpoints.page.state.finish(summary)
        stopped = stop is not None and stop.is_set()
        if expected is not None and summary.records_in < expected and not stopped:
            raise IncompleteRun(
                f"the run consumed {summary.records_in} of the {expected} replayed records before its input went "
                f"idle for {config.idle_timeout_s} s (idle_timeout_s)"
            )
    if config.out_dir is not None:
        config.out_dir.mkdir(parents=True, exist_ok=True)
        (config.out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    return summary


def main(
    config_file: typing.Annotated[
        pathlib.Path | None,
        typer.Option("--config", envvar=CONFIG_ENV, help="TOML or YAML job config (relative to the working dir)."),
    ] = None,
    bootstrap_servers: typing.Annotated[
        str | None, typer.Option("--bootstrap-servers", "-b", help="Kafka bootstrap servers, host:port,...")
    ] = None,
    dataset: typing.Annotated[str | None, typer.Option(help="Dataset to replay into the input topic first.")] = None,
    limit: typing.Annotated[int | None, typer.Option(min=1, help="Replay at most this many records.")] = None,
    learner: typing.Annotated[str | None, typer.Option(help="Learners side by side, comma-separated.")] = None,
    follow: typing.Annotated[
        bool | None, typer.Option("--follow/--bounded", help="Keep consuming until stopped, or end with the replay.")
    ] = None,
    out: typing.Annotated[pathlib.Path | None, typer.Option(help="Folder for summary.json.")] = None,
    quiet: typing.Annotated[
        bool, typer.Option("--quiet", "-q", help="Log warnings only, no progress.")
    ] = False,
    log_format: typing.Annotated[
        LogFormat, typer.Option(help="Log lines as key=value (text) or JSON.")
    ] = LogFormat.text,
) -> None:
    """Run the tagstream pipeline inside a Ray job (or standalone, on a local Ray)."""
    setup_logging(verbose=not quiet, log_format=log_format)
    overrides = {
        "dataset": dataset,
        "limit": limit,
        "learners": learner,
        "follow": follow,
        "out_dir": out,
        "kafka": {"bootstrap_servers": bootstrap_servers},
    }
    stop = threading.Event()
    stop_on_sigterm(stop)
    try:
        config = JobConfig.load(config_file, overrides=overrides)
        summary = run_job(config, stop)
    except FATAL_ERRORS as error:
        logger.error("job failed: %s", failure_reason(error))
        raise typer.Exit(1) from None
    logger.info(
        "job done",
        extra={
            "records_in": summary.records_in,
            "predictions_out": summary.predictions_out,
            "dead_letters": sum(summary.dead_letters.values()),
            "seconds": round(summary.seconds, 2),
        },
    )
    # The summary on stdout, one JSON line: what a caller of the job (or its logs) can parse.
    print(json.dumps({"summary": summary.to_json()}), file=sys.stdout, flush=True)


def cli() -> None:
    typer.run(main)


if __name__ == "__main__":
    cli()
