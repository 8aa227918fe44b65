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

import typer

from jobs.cli_options import BootstrapServers, Dataset, Follow, Learners, LogFormatOption, ReplayLimit, SummaryDir
from jobs.config import JobConfig
from jobs.job import FATAL_ERRORS, JobView, failure_reason, run_with_view
from jobs.logging_setup import LogFormat, setup_logging
from jobs.pipeline.progress import Summary
from jobs.run_views import ProgressLog
from jobs.startup import Endpoints
from jobs.telemetry import PipelineMetrics

# Named, not __name__: run with `python -m`, this module is "__main__".
logger = logging.getLogger("jobs.ray_job")

#: How the user of a Ray job changes each port (see :func:`jobs.startup.serve_endpoints`).
PORT_SETTINGS = {
    "metrics_port": "metrics_port in the config file or TAGSTREAM_METRICS_PORT",
    "dashboard_port": "dashboard_port in the config file or TAGSTREAM_DASHBOARD_PORT",
}

#: Environment variable naming the config file when ``--config`` is not given.
CONFIG_ENV = "TAGSTREAM_CONFIG"


def log_progress(fields: dict) -> None:
    """Emit one progress line (``msg=progress`` with the fields) into the job's log."""
    logger.info("progress", extra=fields)


def stop_on_sigterm(stop: threading.Event) -> None:
    """Make SIGTERM (``ray job stop``, a pod being deleted) end the run gracefully instead of abruptly."""

    def handle(signum, frame):
        logger.info("SIGTERM received: finishing the batches in flight, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, handle)


class LogView(JobView):
    """The Ray job's side of a run: ``key=value`` log lines (the replay, the start, the progress)."""

    port_settings = PORT_SETTINGS

    def __init__(self, stop: threading.Event | None = None):
        self.stop = stop

    def replayed(self, config: JobConfig, records: int) -> None:
        logger.info("replayed the dataset", extra={"dataset": config.dataset, "records": records, "topic": config.kafka.topics.records})

    def replaying(self, config: JobConfig) -> None:
        logger.info("replaying the input", extra={"predictions": config.kafka.topics.predictions})

    def ray_started(self) -> None:
        if self.stop is not None:
            stop_on_sigterm(self.stop)  # a local Ray installs its own SIGTERM handler (it aborts)

    def starting(self, config: JobConfig, endpoints: Endpoints, expected: int | None) -> None:
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

    @contextlib.contextmanager
    def progress(self, config: JobConfig, metrics: PipelineMetrics):
        yield ProgressLog(log_progress, config.learners, metrics)


def run_job(config: JobConfig, stop: threading.Event | None = None) -> Summary:
    """The Ray job's run (:func:`jobs.job.run_with_view`) on the Ray cluster this process belongs to."""
    return run_with_view(config, LogView(stop), stop)


def main(
    config_file: typing.Annotated[
        pathlib.Path | None,
        typer.Option("--config", envvar=CONFIG_ENV, help="TOML or YAML job config (relative to the working dir)."),
    ] = None,
    bootstrap_servers: BootstrapServers = None,
    dataset: Dataset = None,
    limit: ReplayLimit = None,
    learner: Learners = None,
    follow: Follow = None,
    out: SummaryDir = None,
    quiet: typing.Annotated[
        bool, typer.Option("--quiet", "-q", help="Log warnings only, no progress.")
    ] = False,
    log_format: LogFormatOption = LogFormat.text,
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
