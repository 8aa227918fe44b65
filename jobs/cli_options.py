"""Command-line options that several ``tagstream`` commands share, declared once.

Each is a ``typing.Annotated`` type with its flag names and one help text, so that ``--config``
or ``-v`` reads the same under every command. An option whose default differs between commands
(the seed is 1 for ``evaluate`` and the job config's for ``run``) is typed ``X | None`` and each
command gives its own default. Options that only look alike but mean something else in a command
(``--limit`` counts messages in ``tail``, ``--config`` of ``submit`` names a file inside the
uploaded working dir) stay with their command.
"""

from __future__ import annotations

import pathlib
import typing

import typer

from jobs.logging_setup import LogFormat

ConfigFile = typing.Annotated[
    pathlib.Path | None, typer.Option("--config", help="TOML or YAML job config file (see `tagstream config show`).")
]
Verbose = typing.Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")]
LogFormatOption = typing.Annotated[LogFormat, typer.Option(help="Log lines as key=value (text) or JSON.")]
BootstrapServers = typing.Annotated[
    str | None, typer.Option("--bootstrap-servers", "-b", help="Kafka host:port,... (default: the job config's).")
]

Dataset = typing.Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help="Registered dataset name (see `tagstream datasets`), or path of a multi-label ARFF file or a JSONL text dataset.",
    ),
]
TextField = typing.Annotated[str | None, typer.Option(help="Text datasets (JSONL): the field holding the text.")]
LabelsField = typing.Annotated[str | None, typer.Option(help="Text datasets: the field holding the list of labels.")]
IdField = typing.Annotated[str | None, typer.Option(help="Text datasets: the id field (ids are generated where it is absent).")]

Learners = typing.Annotated[
    str | None, typer.Option("--learner", help="Learners side by side, comma-separated; the first serves predictions.")
]
Seed = typing.Annotated[int | None, typer.Option(help="Seed of the learners.")]
InitModel = typing.Annotated[
    pathlib.Path | None, typer.Option(help="Start its learner from this model file (tagstream export), not from scratch.")
]

ReplayLimit = typing.Annotated[int | None, typer.Option("--limit", min=1, help="Replay at most this many records.")]
Follow = typing.Annotated[
    bool | None, typer.Option("--follow/--bounded", help="Keep consuming until stopped (Ctrl-C, SIGTERM), or end with the replay.")
]
SummaryDir = typing.Annotated[pathlib.Path | None, typer.Option("--out", help="Folder for summary.json.")]
