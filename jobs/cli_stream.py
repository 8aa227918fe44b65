"""Commands around Kafka: ``tagstream broker``, ``tagstream produce`` and ``tagstream tail``."""

from __future__ import annotations

import contextlib
import pathlib
import signal
import threading
import typing

import typer
from rich.console import Console

from jobs.broker import BrokerError, EmbeddedBroker
from jobs.cli_console import errors, print_error
from jobs.cli_options import BootstrapServers, ConfigFile, Dataset, IdField, LabelsField, TextField, Verbose
from jobs.config import ConfigError, JobConfig
from jobs.logging_setup import setup_logging
from jobs.produce import dataset_records, jsonl_records, produce
from jobs.tail import TOPIC_KINDS, tail
from stream.errors import StreamError
from stream.kafka import KafkaConfig, ensure_topics
from stream.text import TextFields

console = Console()


def _kafka_config(config_file: pathlib.Path | None, bootstrap_servers: str | None, topics: dict) -> KafkaConfig:
    overrides = {"kafka": {"bootstrap_servers": bootstrap_servers, "topics": topics}}
    return JobConfig.load(config_file, overrides=overrides).kafka


@contextlib.contextmanager
def _errors_to_exit():
    """Expected failures (bad input, unreachable broker) become a one-line message and exit code 1."""
    try:
        yield
    except (StreamError, BrokerError, ConfigError, OSError) as error:
        print_error(str(error))
        raise typer.Exit(1) from None


def broker_command(
    port: typing.Annotated[int | None, typer.Option(help="Port to listen on (default: a free one).")] = None,
    host: typing.Annotated[str, typer.Option(help="Interface to listen on and advertise.")] = "127.0.0.1",
    partitions: typing.Annotated[
        int, typer.Option(min=1, help="Partitions of the five tagstream topics created at start.")
    ] = 1,
    verbose: Verbose = False,
) -> None:
    """Run an in-memory Kafka-protocol broker (tansu) in the foreground until Ctrl-C (or SIGTERM)."""
    setup_logging(verbose)
    # A signal only sets the event: a KeyboardInterrupt raised at an arbitrary point (inside the
    # broker's start, or a subprocess call holding its lock) could leave the broker running.
    interrupted = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: interrupted.set())
    with _errors_to_exit(), EmbeddedBroker(port=port, host=host) as broker:
        ensure_topics(KafkaConfig(bootstrap_servers=broker.bootstrap_servers), partitions=partitions)
        console.print(f"broker listening; bootstrap servers: [bold]{broker.bootstrap_servers}[/bold]")
        console.print("in memory: everything is lost when it stops. Ctrl-C to stop.")
        while broker.running():
            if interrupted.wait(0.5):
                console.print("stopping")
                return
        errors.print(f"[red]error:[/red] the broker (pid {broker.pid}) exited on its own")
        raise typer.Exit(1)


def produce_command(
    dataset: Dataset = None,
    file: typing.Annotated[
        pathlib.Path | None, typer.Option(help="JSON Lines file of records (.jsonl or .jsonl.gz).")
    ] = None,
    rate: typing.Annotated[float, typer.Option(min=0, help="Records per second; 0 = as fast as possible.")] = 0.0,
    limit: typing.Annotated[int | None, typer.Option(min=0, help="Send at most this many records.")] = None,
    label_delay: typing.Annotated[
        int | None,
        typer.Option(min=0, help="Send records without labels and their labels to the labels topic K records later."),
    ] = None,
    topic: typing.Annotated[str | None, typer.Option(help="Input topic (default from the config).")] = None,
    partitions: typing.Annotated[int, typer.Option(min=1, help="Partitions of topics that must be created.")] = 1,
    text_field: TextField = "text",
    labels_field: LabelsField = "labels",
    id_field: IdField = "id",
    bootstrap_servers: BootstrapServers = None,
    config_file: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Replay a dataset or a JSONL file into the input topic as records with ids."""
    setup_logging(verbose)
    if (dataset is None) == (file is None):
        raise typer.BadParameter("give exactly one of --dataset or --file")
    with _errors_to_exit():
        config = _kafka_config(config_file, bootstrap_servers, {"records": topic})
        needed = [config.topics.records] + ([config.topics.labels] if label_delay is not None else [])
        ensure_topics(config, needed, partitions=partitions)
        fields = TextFields(text=text_field, labels=labels_field, id=id_field)
        records = dataset_records(dataset, text_fields=fields) if dataset is not None else jsonl_records(file)
        stats = produce(config, records, rate=rate, limit=limit, label_delay=label_delay)
    labels = f" and {stats.label_updates} label updates to {config.topics.labels}" if label_delay is not None else ""
    console.print(
        f"sent {stats.records} records to {config.topics.records}{labels} in {stats.seconds:.2f} s "
        f"({stats.rate:,.0f} records/s)",
        soft_wrap=True,
    )


def tail_command(
    kind: typing.Annotated[str, typer.Argument(help=f"Which topic: {', '.join(TOPIC_KINDS)}.")],
    from_beginning: typing.Annotated[bool, typer.Option(help="Start at the oldest message, not at the end.")] = False,
    limit: typing.Annotated[int | None, typer.Option(min=1, help="Stop after this many messages.")] = None,
    idle_timeout: typing.Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds without a message.")
    ] = None,
    topic: typing.Annotated[str | None, typer.Option(help="Topic name (default from the config).")] = None,
    bootstrap_servers: BootstrapServers = None,
    config_file: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Print the messages of a tagstream topic as they arrive."""
    setup_logging(verbose)
    if kind not in TOPIC_KINDS:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(TOPIC_KINDS)}", param_hint="KIND")
    with _errors_to_exit():
        config = _kafka_config(config_file, bootstrap_servers, {kind.replace("-", "_"): topic})
        try:
            tail(config, kind, console=console, from_beginning=from_beginning, limit=limit, idle_timeout_s=idle_timeout)
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    """Add the Kafka commands to the ``tagstream`` app."""
    app.command("broker")(broker_command)
    app.command("produce")(produce_command)
    app.command("tail")(tail_command)
