"""Command ``tagstream run``: the streaming pipeline (``config show`` is in :mod:`jobs.cli_config`).

Without ``--bootstrap-servers`` (and no bootstrap servers in the config file or environment),
``run`` is self-contained: it starts the embedded broker, a local Ray with two CPUs, replays a
bundled dataset (``yeast`` unless ``--dataset`` says otherwise) and runs the pipeline on it.
"""

from __future__ import annotations

import contextlib
import pathlib
import signal
import threading
import typing

import typer
from rich.console import Console
from rich.live import Live

from jobs.broker import EmbeddedBroker
from jobs.cli_config import uses_embedded_broker
from jobs.cli_console import errors, print_error
from jobs.cli_options import (
    BootstrapServers,
    ConfigFile,
    Dataset,
    Follow,
    IdField,
    InitModel,
    LabelsField,
    Learners,
    LogFormatOption,
    ReplayLimit,
    Seed,
    SummaryDir,
    TextField,
    Verbose,
)
from jobs.config import ConfigError, JobConfig
from jobs.job import FATAL_ERRORS, JobView, failure_reason, run_with_view
from jobs.logging_setup import LogFormat, setup_logging
from jobs.run_views import LiveProgress, ProgressLog, progress_line, summary_view
from jobs.startup import Endpoints
from jobs.telemetry import PipelineMetrics
from learners.model_file import ModelFileError

console = Console()

#: Dataset replayed by a run on the embedded broker when none is given.
DEFAULT_DATASET = "yeast"

#: How a user of ``run`` changes each port (see :func:`jobs.startup.serve_endpoints`).
PORT_FLAGS = {"metrics_port": "--metrics-port", "dashboard_port": "--dashboard-port"}
FIELD_FLAGS = {f"dataset_fields.{name}": f"--{name}-field" for name in ("text", "labels", "id")} | {"learner_shards": "--shards", "extractor.text_extractor": "--text-extractor"}


def with_bootstrap_servers(config: JobConfig, servers: str) -> JobConfig:
    return config.model_copy(update={"kafka": config.kafka.model_copy(update={"bootstrap_servers": servers})})


def install_interrupt_handlers(stop: threading.Event) -> dict:
    """Make Ctrl-C and SIGTERM set ``stop`` (the second one aborts); returns the handlers replaced."""

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        errors.print(f"stopping on {signal.Signals(signum).name}: finishing the batches in flight (again to abort)")

    return {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}


@contextlib.contextmanager
def graceful_interrupt(stop: threading.Event):
    """First Ctrl-C or SIGTERM: stop polling, finish the batches in flight, checkpoint, commit and
    write the summary. A second one aborts. The handlers from before are put back afterwards.

    SIGTERM is what ``docker stop``, systemd and Kubernetes send; a run stopped by it ends like
    one whose input ended.
    """
    previous = install_interrupt_handlers(stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_command(
    dataset: Dataset = None,
    learner: Learners = None,
    bootstrap_servers: BootstrapServers = None,
    ray_address: typing.Annotated[str | None, typer.Option(help="Ray cluster to join (default: local Ray).")] = None,
    metrics_port: typing.Annotated[int | None, typer.Option(help="Port of /metrics (0: any free port).")] = None,
    dashboard_port: typing.Annotated[int | None, typer.Option(help="Port of the live page (0: any free port).")] = None,
    follow: Follow = None,
    out: SummaryDir = None,
    limit: ReplayLimit = None,
    seed: Seed = None,
    batch_size: typing.Annotated[int | None, typer.Option(min=1, help="Most records per micro-batch.")] = None,
    extractors: typing.Annotated[
        int | None, typer.Option(min=1, help="Feature-extractor actors; batches go to the least loaded.")
    ] = None,
    shards: typing.Annotated[
        int | None, typer.Option(min=1, help="Split each learner's labels over this many shard actors.")
    ] = None,
    checkpoint_dir: typing.Annotated[
        str | None,
        typer.Option(help="Checkpoint folder or fsspec URI; a run restores from it (pickles: trusted locations only)."),
    ] = None,
    checkpoint_every: typing.Annotated[float | None, typer.Option(min=0.001, help="Seconds between checkpoints.")] = None,
    fresh: typing.Annotated[
        bool | None, typer.Option("--fresh", help="Start from fresh models when no checkpoint is intact in every stage.")
    ] = None,
    no_checkpoints: typing.Annotated[
        bool, typer.Option("--no-checkpoints", help="Follow without checkpoints (models are lost on restart).")
    ] = False,
    label_delay: typing.Annotated[
        int | None, typer.Option(min=0, help="Replay labels to the labels topic this many records after their features.")
    ] = None,
    champion_metric: typing.Annotated[
        str | None, typer.Option(help="Windowed score that picks the serving learner among several.")
    ] = None,
    from_offset: typing.Annotated[
        int | None, typer.Option(min=0, help="Replay the input from this offset (every partition) with fresh learners.")
    ] = None,
    from_time: typing.Annotated[
        str | None, typer.Option(help="Replay the input from this time (ISO 8601, UTC unless given, or epoch seconds).")
    ] = None,
    replay_topic: typing.Annotated[
        str | None, typer.Option(help="Output topic of a replay (default: <predictions topic>.replay).")
    ] = None,
    shadow: typing.Annotated[
        str | None, typer.Option(help="Shadow learners, comma-separated: scored and reported beside the others, never served.")
    ] = None,
    text_field: TextField = None,
    labels_field: LabelsField = None,
    id_field: IdField = None,
    predictions_file: typing.Annotated[
        pathlib.Path | None, typer.Option(help="Also append the published predictions to this JSON Lines file.")
    ] = None,
    init_model: InitModel = None,
    sinks: typing.Annotated[
        str | None, typer.Option(help="More sinks to publish to, comma-separated (jobs.sinks; the topics always).")
    ] = None,
    text_extractor: typing.Annotated[
        str | None, typer.Option(help="How text becomes features: minilm (default) or hashing (jobs.extractors).")
    ] = None,
    config_file: ConfigFile = None,
    verbose: Verbose = False,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Run the streaming pipeline: Kafka -> Ray actors -> learners -> predictions and drift alerts.

    Without -b (and no bootstrap servers in the config file or TAGSTREAM_* variables) it starts an
    embedded broker and replays --dataset into it (default: yeast). --verbose also shows Ray's own
    logs and the actors' output.

    On a terminal the progress is redrawn in place; otherwise (a pipe, a file, CI, systemd) a plain
    ``progress key=value ...`` line is printed every few seconds.
    """
    setup_logging(verbose, log_format)
    overrides = {
        "dataset": dataset,
        "learners": learner,
        "ray_address": ray_address,
        "metrics_port": metrics_port,
        "dashboard_port": dashboard_port,
        "follow": follow,
        "out_dir": out,
        "limit": limit,
        "seed": seed,
        "batch_size": batch_size,
        "extractors": extractors,
        "learner_shards": shards,
        "checkpoint_dir": checkpoint_dir,
        "checkpoint_every_s": checkpoint_every,
        "fresh": fresh,
        "state_dir": "" if no_checkpoints else None,
        "champion_metric": champion_metric,
        "from_offset": from_offset,
        "from_time": from_time,
        "replay_topic": replay_topic,
        "predictions_file": predictions_file,
        "shadow": shadow,
        "init_model": init_model,
        "sinks": sinks,
        "extractor": {"text_extractor": text_extractor},
        "kafka": {"bootstrap_servers": bootstrap_servers},
        "dataset_fields": {"text": text_field, "labels": labels_field, "id": id_field},
    }
    try:
        config = JobConfig.load(config_file, overrides=overrides, flag_names=FIELD_FLAGS)
    except ConfigError as error:
        print_error(str(error))
        raise typer.Exit(2) from None
    # The embedded broker has no data of its own: it replays the default dataset unless told another.
    if uses_embedded_broker(config) and config.dataset is None:
        config = config.model_copy(update={"dataset": DEFAULT_DATASET})
    stop = threading.Event()
    try:
        with graceful_interrupt(stop):
            summary = run_with_view(config, TerminalView(stop, quiet_ray=not verbose), stop, label_delay=label_delay)
    except (ConfigError, ModelFileError) as error:
        print_error(failure_reason(error))
        raise typer.Exit(2) from None
    except FATAL_ERRORS as error:
        print_error(failure_reason(error))
        raise typer.Exit(1) from None
    console.print(summary_view(summary, console))
    if config.out_dir is not None:
        console.print(f"summary written to {config.out_dir / 'summary.json'}")


class TerminalView(JobView):
    """``tagstream run``'s side of a run: the embedded broker when no other is configured, and
    progress redrawn in place on a terminal (plain periodic lines anywhere else)."""

    port_settings = PORT_FLAGS

    def __init__(self, stop: threading.Event, quiet_ray: bool):
        self.stop = stop
        self.quiet_ray = quiet_ray

    def serving(self, endpoints: Endpoints) -> None:
        console.print(f"metrics on [bold]{endpoints.metrics_url}[/bold]")
        console.print(f"live page on [bold]{endpoints.page.url}[/bold]")

    def broker(self, config: JobConfig, stack: contextlib.ExitStack) -> JobConfig:
        if not uses_embedded_broker(config):
            return config
        broker = stack.enter_context(EmbeddedBroker())
        console.print(f"embedded broker on [bold]{broker.bootstrap_servers}[/bold] (in memory)")
        return with_bootstrap_servers(config, broker.bootstrap_servers)

    def replaying(self, config: JobConfig) -> None:
        console.print(f"replaying into [bold]{config.kafka.topics.predictions}[/bold]")

    def replayed(self, config: JobConfig, records: int) -> None:
        console.print(f"replayed {records:,} records of {config.dataset} into {config.kafka.topics.records}")

    def ray_started(self) -> None:
        # A local Ray installs its own SIGTERM handler in this process (it aborts): ours again.
        install_interrupt_handlers(self.stop)

    def progress(self, config: JobConfig, metrics: PipelineMetrics):
        return _progress_display(config, metrics)


@contextlib.contextmanager
def _progress_display(config: JobConfig, metrics: PipelineMetrics):
    """The run's ``on_progress``: redrawn in place on a terminal, plain periodic lines anywhere else."""
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=True) as live:
            live.update("starting the actors ...")
            yield LiveProgress(live, config.learners, metrics)
        return

    def print_line(fields: dict) -> None:
        console.file.write(progress_line(fields) + "\n")
        console.file.flush()

    yield ProgressLog(print_line, config.learners, metrics)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the ``tagstream`` app."""
    app.command("run")(run_command)
