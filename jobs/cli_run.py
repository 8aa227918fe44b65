"""Command ``tagstream run``: the streaming pipeline (``config show`` is in :mod:`jobs.cli_config`).

Without ``--bootstrap-servers`` (and no bootstrap servers in the config file or environment),
``run`` is self-contained: it starts the embedded broker, a local Ray with two CPUs, replays a
bundled dataset (``yeast`` unless ``--dataset`` says otherwise) and runs the pipeline on it.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import signal
import threading
import typing
import uuid

import ray
import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from jobs.broker import BrokerError, EmbeddedBroker
from jobs.checkpoint import CheckpointError
from jobs.cli_config import uses_embedded_broker
from jobs.config import ConfigError, DatasetFields, JobConfig
from jobs.dashboard import LivePage
from jobs.logging_setup import LogFormat, setup_logging
from jobs.model_export import job_initial_model
from jobs.pipeline.driver import init_ray, run_pipeline
from jobs.pipeline.progress import Summary
from jobs.pipeline.recovery import RecoveryBudgetExceeded
from jobs.pipeline.waits import PipelineTimeout
from jobs.produce import dataset_records, jsonl_records, produce
from jobs.run_views import LiveProgress, ProgressLog, progress_line, summary_view
from jobs.startup import check_dataset, serve_endpoints
from jobs.telemetry import PipelineMetrics
from learners.model_file import ModelFileError
from stream.errors import StreamError
from stream.kafka import ensure_topics

console = Console()
errors = Console(stderr=True)

#: Dataset replayed by a run on the embedded broker when none is given.
DEFAULT_DATASET = "yeast"

#: How a user of ``run`` changes each port (see :func:`jobs.startup.serve_endpoints`).
PORT_FLAGS = {"metrics_port": "--metrics-port", "dashboard_port": "--dashboard-port"}
FIELD_FLAGS = {f"dataset_fields.{name}": f"--{name}-field" for name in ("text", "labels", "id")} | {"learner_shards": "--shards"}

ConfigFile = typing.Annotated[pathlib.Path | None, typer.Option("--config", help="TOML or YAML job config file.")]


def records_of(dataset: str, fields: DatasetFields | None = None):
    """The records of a registered dataset, an ARFF file, or a JSON Lines file (``.jsonl[.gz]``).

    A JSONL file is read as input records unless ``fields`` renames the text, labels or id field:
    then it is a text dataset read with those names.
    """
    if fields is not None and fields.renamed:
        return dataset_records(dataset, text_fields=fields.text_fields())
    if dataset.endswith((".jsonl", ".jsonl.gz")):
        return jsonl_records(dataset)
    return dataset_records(dataset)


def with_bootstrap_servers(config: JobConfig, servers: str) -> JobConfig:
    return config.model_copy(update={"kafka": config.kafka.model_copy(update={"bootstrap_servers": servers})})


@contextlib.contextmanager
def graceful_interrupt(stop: threading.Event):
    """First Ctrl-C or SIGTERM: stop polling, finish the batches in flight, checkpoint, commit and
    write the summary. A second one aborts.

    SIGTERM is what ``docker stop``, systemd and Kubernetes send; a run stopped by it ends like
    one whose input ended.
    """

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        errors.print(f"stopping on {signal.Signals(signum).name}: finishing the batches in flight (again to abort)")

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_command(
    dataset: typing.Annotated[
        str | None,
        typer.Option(help=f"Registered dataset, ARFF or JSONL path to replay first (embedded default: {DEFAULT_DATASET})."),
    ] = None,
    learner: typing.Annotated[
        str | None, typer.Option(help="Learners side by side, comma-separated; the first serves predictions.")
    ] = None,
    bootstrap_servers: typing.Annotated[
        str | None, typer.Option("--bootstrap-servers", "-b", help="Kafka host:port,... (default: an embedded broker).")
    ] = None,
    ray_address: typing.Annotated[str | None, typer.Option(help="Ray cluster to join (default: local Ray).")] = None,
    metrics_port: typing.Annotated[int | None, typer.Option(help="Port of /metrics (0: any free port).")] = None,
    dashboard_port: typing.Annotated[int | None, typer.Option(help="Port of the live page (0: any free port).")] = None,
    follow: typing.Annotated[
        bool | None, typer.Option("--follow/--bounded", help="Keep consuming until Ctrl-C, or end with the replay.")
    ] = None,
    out: typing.Annotated[pathlib.Path | None, typer.Option(help="Folder for summary.json.")] = None,
    limit: typing.Annotated[int | None, typer.Option(min=1, help="Replay at most this many records.")] = None,
    seed: typing.Annotated[int | None, typer.Option(help="Seed of the learners.")] = None,
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
    text_field: typing.Annotated[str | None, typer.Option(help="Text datasets (--dataset): the field holding the text.")] = None,
    labels_field: typing.Annotated[str | None, typer.Option(help="Text datasets: the field holding the labels.")] = None,
    id_field: typing.Annotated[str | None, typer.Option(help="Text datasets: the field holding the id (generated when absent).")] = None,
    predictions_file: typing.Annotated[
        pathlib.Path | None, typer.Option(help="Also append the published predictions to this JSON Lines file.")
    ] = None,
    init_model: typing.Annotated[
        pathlib.Path | None, typer.Option(help="Start its learner from this model file (tagstream export), not from scratch.")
    ] = None,
    config_file: ConfigFile = None,
    verbose: typing.Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details to stderr, with Ray's own logs and the actors' output.")
    ] = False,
    log_format: typing.Annotated[
        LogFormat, typer.Option(help="Log lines on stderr as key=value (text) or JSON.")
    ] = LogFormat.text,
) -> None:
    """Run the streaming pipeline: Kafka -> Ray actors -> learners -> predictions and drift alerts.

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
        "kafka": {"bootstrap_servers": bootstrap_servers},
        "dataset_fields": {"text": text_field, "labels": labels_field, "id": id_field},
    }
    try:
        config = JobConfig.load(config_file, overrides=overrides, flag_names=FIELD_FLAGS)
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    try:
        with contextlib.ExitStack() as stack:
            stop = threading.Event()
            stack.enter_context(graceful_interrupt(stop))
            # Checked before anything has a side effect: the dataset, then the ports (held from now on).
            if uses_embedded_broker(config) and config.dataset is None:
                config = config.model_copy(update={"dataset": DEFAULT_DATASET})
            if config.dataset is not None and not config.replaying:
                check_dataset(records_of(config.dataset, config.dataset_fields))
            metrics = PipelineMetrics(config.window)
            endpoints = serve_endpoints(config, metrics, stack, settings=PORT_FLAGS)
            console.print(f"metrics on [bold]{endpoints.metrics_url}[/bold]")
            console.print(f"live page on [bold]{endpoints.page.url}[/bold]")
            if uses_embedded_broker(config):
                broker = stack.enter_context(EmbeddedBroker())
                config = with_bootstrap_servers(config, broker.bootstrap_servers)
                console.print(f"embedded broker on [bold]{broker.bootstrap_servers}[/bold] (in memory)")
            summary = _run(config, stack, stop, metrics, endpoints.page, label_delay, quiet_ray=not verbose)
    except ModelFileError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    except (StreamError, BrokerError, PipelineTimeout, CheckpointError, RecoveryBudgetExceeded, OSError) as error:
        # An actor's error (offsets out of range, ...) comes wrapped with its remote traceback: its message only.
        reason = error.cause if isinstance(error, ray.exceptions.RayTaskError) else error
        errors.print(f"[red]error:[/red] {escape(str(reason))}", highlight=False)
        raise typer.Exit(1) from None
    console.print(summary_view(summary, console))
    if config.out_dir is not None:
        config.out_dir.mkdir(parents=True, exist_ok=True)
        path = config.out_dir / "summary.json"
        path.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"summary written to {path}")


def _run(
    config: JobConfig,
    stack: contextlib.ExitStack,
    stop: threading.Event,
    metrics: PipelineMetrics,
    page: LivePage,
    label_delay: int | None = None,
    quiet_ray: bool = False,
) -> Summary:
    job_initial_model(config)  # a model file that does not fit is refused before the replay
    ensure_topics(config.kafka)
    expected = None
    if config.replaying:
        config = config.for_replay(uuid.uuid4().hex[:8])
        outputs = config.kafka.topics
        ensure_topics(config.kafka, [outputs.predictions, outputs.drift, outputs.model_events])
        console.print(f"replaying into [bold]{config.kafka.topics.predictions}[/bold]")
    elif config.dataset is not None:
        produced = produce(config.kafka, records_of(config.dataset, config.dataset_fields), limit=config.limit, label_delay=label_delay)
        expected = produced.records + (produced.label_updates if config.labels_topic else 0)
        console.print(f"replayed {produced.records:,} records of {config.dataset} into {config.kafka.topics.records}")
    if init_ray(config, quiet=quiet_ray):
        stack.callback(ray.shutdown)
        # A local Ray installs its own SIGTERM handler in this process (it aborts): ours again.
        stack.enter_context(graceful_interrupt(stop))
    with _progress_display(config, metrics) as on_progress:
        summary = run_pipeline(
            config,
            expected=expected,
            stop=stop,
            metrics=metrics,
            on_progress=on_progress,
            on_batch=page.state.observe_batch,
        )
    page.state.finish(summary)
    return summary


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
