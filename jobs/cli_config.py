"""Command ``tagstream config show``: the effective job configuration and where each value came from."""

from __future__ import annotations

import json
import typing

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jobs.cli_console import print_error
from jobs.cli_options import BootstrapServers, ConfigFile, Learners
from jobs.config import ConfigError, JobConfig
from jobs.logging_setup import setup_logging

console = Console()

#: What ``config show`` prints for the Kafka address when none is set: ``run`` starts its own broker.
EMBEDDED_BROKER = "none set: run starts an embedded broker"


def uses_embedded_broker(config: JobConfig) -> bool:
    """True when no bootstrap servers were given anywhere (flag, file or environment)."""
    return "bootstrap_servers" not in config.kafka.model_fields_set


def _leaves(data: typing.Mapping, prefix: str = "") -> typing.Iterator[tuple[str, typing.Any]]:
    for key, value in data.items():
        if isinstance(value, typing.Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def config_table(config: JobConfig, origins: typing.Mapping[str, str]) -> Table:
    """One row per setting: its dotted name, its value (secrets masked) and where it came from."""
    table = Table(box=None, title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    embedded = uses_embedded_broker(config)
    for name, value in _leaves(config.masked()):
        shown = EMBEDDED_BROKER if embedded and name == "kafka.bootstrap_servers" else _shown(value)
        table.add_row(name, escape(shown), escape(origins.get(name, "default")))
    return table


def config_show(
    config_file: ConfigFile = None,
    bootstrap_servers: BootstrapServers = None,
    learner: Learners = None,
    as_json: typing.Annotated[
        bool, typer.Option("--json", help="JSON: {config, sources, embedded_broker} instead of the table.")
    ] = False,
) -> None:
    """Print the effective job config (defaults < file < TAGSTREAM_* variables < flags), where each value came from, secrets masked."""
    setup_logging()  # unknown variables and file keys are warnings on stderr
    try:
        config, origins = JobConfig.load_explained(
            config_file, overrides={"learners": learner, "kafka": {"bootstrap_servers": bootstrap_servers}}
        )
    except ConfigError as error:
        print_error(str(error))
        raise typer.Exit(2) from None
    if as_json:
        document = {"config": config.masked(), "sources": origins, "embedded_broker": uses_embedded_broker(config)}
        console.file.write(json.dumps(document, indent=2) + "\n")
        return
    console.print(config_table(config, origins))


def register(app: typer.Typer) -> None:
    """Add ``config show`` to the ``tagstream`` app."""
    config_app = typer.Typer(help="Inspect the job configuration.", no_args_is_help=True)
    config_app.command("show")(config_show)
    app.add_typer(config_app, name="config")
