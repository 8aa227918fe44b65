"""Operator commands: ``tagstream offsets``, ``tagstream deadletters`` and ``tagstream export``.

``offsets show|reset|skip`` work on the job's consumer group (``kafka.group_id``, ``--group``)
over its input topics; ``deadletters stats|replay`` on its dead-letter topic; ``export`` takes a
trained learner out of a job's checkpoints into a model file. They read the same configuration
as ``run`` (``--config``, ``TAGSTREAM_*``, ``-b``). Expected failures (no broker, a running job
holding the group, a missing checkpoint) end with a one-line message and exit code 1; a value
the user typed that cannot be used, with exit code 2.
"""

from __future__ import annotations

import contextlib
import datetime
import pathlib
import typing

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jobs.checkpoint import CheckpointError, read_key
from jobs.cli_console import print_error, print_wide
from jobs.cli_options import BootstrapServers, ConfigFile, Verbose
from jobs.config import ConfigError, JobConfig
from jobs.logging_setup import setup_logging
from jobs.model_export import export_model
from jobs.topic_ops import GroupOffsets, OffsetChange, dead_letter_stats, parse_moment, replay_dead_letters
from learners.model_file import save
from stream.errors import StreamError

console = Console()

Group = typing.Annotated[str | None, typer.Option(help="Consumer group (default: the job config's kafka.group_id).")]
TopicKind = typing.Annotated[
    str | None, typer.Option(help="Which input topic: records or labels (default: both for show/reset, records for skip).")
]
Partition = typing.Annotated[int | None, typer.Option(min=0, help="Only this partition.")]
DryRun = typing.Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]


@contextlib.contextmanager
def _errors_to_exit():
    try:
        yield
    except (ConfigError, ValueError) as error:
        print_error(str(error))
        raise typer.Exit(2) from None
    except (StreamError, CheckpointError, OSError) as error:
        print_error(str(error))
        raise typer.Exit(1) from None


def _config(config_file: pathlib.Path | None, bootstrap_servers: str | None) -> JobConfig:
    config = JobConfig.load(config_file, overrides={"kafka": {"bootstrap_servers": bootstrap_servers}})
    if "bootstrap_servers" not in config.kafka.model_fields_set:
        raise ConfigError("no Kafka given: pass -b HOST:PORT (or set it in --config or TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS)")
    return config


def _input_topics(config: JobConfig, kind: str | None) -> list[str]:
    topics = {"records": config.kafka.topics.records}
    if config.labels_topic:
        topics["labels"] = config.kafka.topics.labels
    if kind is None:
        return list(topics.values())
    if kind not in topics:
        raise ValueError(f"--topic must be one of {sorted(topics)}, got {kind!r}")
    return [topics[kind]]


def _group(config: JobConfig, topics: list[str], group: str | None) -> GroupOffsets:
    return GroupOffsets(config.kafka, group or config.kafka.group_id, topics)


def offsets_show(
    config_file: ConfigFile = None, bootstrap_servers: BootstrapServers = None, group: Group = None, topic: TopicKind = None
) -> None:
    """Committed offset, first and next offset, and lag of the job's group on every input partition."""
    setup_logging(False)
    with _errors_to_exit():
        config = _config(config_file, bootstrap_servers)
        offsets = _group(config, _input_topics(config, topic), group)
        rows = offsets.show()
    table = Table(title=f"group {offsets.group}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("topic", "partition", "committed", "start", "end", "lag"):
        table.add_column(column, justify="left" if column == "topic" else "right", no_wrap=True)
    for row in rows:
        committed = "-" if row.committed is None else f"{row.committed:,}"
        table.add_row(row.topic, str(row.partition), committed, f"{row.start:,}", f"{row.end:,}", f"{row.lag:,}")
    print_wide(console, table)


def _print_changes(group: str, changes: list[OffsetChange], dry_run: bool) -> None:
    table = Table(title=f"group {group}" + (" (dry run: nothing changed)" if dry_run else ""), title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("topic", "partition", "before", "after"):
        table.add_column(column, justify="left" if column == "topic" else "right", no_wrap=True)
    for change in changes:
        before = "-" if change.before is None else f"{change.before:,}"
        table.add_row(change.topic, str(change.partition), before, f"{change.after:,}")
    print_wide(console, table)


def offsets_reset(
    to: typing.Annotated[
        str, typer.Option("--to", help="earliest, latest, or a time (ISO 8601, UTC unless given, or epoch seconds).")
    ],
    config_file: ConfigFile = None,
    bootstrap_servers: BootstrapServers = None,
    group: Group = None,
    topic: TopicKind = None,
    partition: Partition = None,
    dry_run: DryRun = False,
    verbose: Verbose = False,
) -> None:
    """Point the job's group at the start, the end, or a time of its input. Stop the job first."""
    setup_logging(verbose)
    with _errors_to_exit():
        target: str | datetime.datetime = to if to in ("earliest", "latest") else parse_moment(to)
        config = _config(config_file, bootstrap_servers)
        offsets = _group(config, _input_topics(config, topic), group)
        changes = offsets.reset(target, partition=partition, dry_run=dry_run)
    _print_changes(offsets.group, changes, dry_run)


def offsets_skip(
    count: typing.Annotated[int, typer.Option("--count", "-n", min=1, help="Messages to skip.")],
    partition: typing.Annotated[int, typer.Option(min=0, help="The partition to skip on.")],
    config_file: ConfigFile = None,
    bootstrap_servers: BootstrapServers = None,
    group: Group = None,
    topic: TopicKind = None,
    dry_run: DryRun = False,
    verbose: Verbose = False,
) -> None:
    """Move the job's group N messages on along one partition (past a poison batch, say). Stop the job first."""
    setup_logging(verbose)
    with _errors_to_exit():
        config = _config(config_file, bootstrap_servers)
        topics = _input_topics(config, topic or "records")
        offsets = _group(config, topics, group)
        changes = offsets.skip(count, partition=partition, topic=topics[0], dry_run=dry_run)
    _print_changes(offsets.group, changes, dry_run)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).isoformat(timespec="seconds")


def deadletters_stats(config_file: ConfigFile = None, bootstrap_servers: BootstrapServers = None) -> None:
    """What the dead-letter topic holds: counts by reason and source topic, time span, the last error of each reason."""
    setup_logging(False)
    with _errors_to_exit():
        config = _config(config_file, bootstrap_servers)
        stats = dead_letter_stats(config.kafka)
    console.print(
        f"{stats.total:,} dead letters on {config.kafka.topics.deadletter}, from {_when(stats.first_ts)} to {_when(stats.last_ts)}"
        + (f"; {stats.unreadable:,} other messages (not dead letters)" if stats.unreadable else ""),
        highlight=False,
        soft_wrap=True,
    )
    if not stats.total:
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("reason", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("last error")
    for reason, count in stats.by_reason.most_common():
        table.add_row(reason, f"{count:,}", escape(stats.last_error[reason][:160]))
    print_wide(console, table)
    for source, count in stats.by_source.most_common():
        console.print(f"from {escape(source)}: {count:,}", highlight=False, soft_wrap=True)


def deadletters_replay(
    reason: typing.Annotated[
        list[str] | None, typer.Option("--reason", "-r", help="Replay only dead letters of this reason (repeatable).")
    ] = None,
    since: typing.Annotated[
        str | None, typer.Option(help="Replay only those dead-lettered at or after this time (ISO 8601 or epoch seconds).")
    ] = None,
    config_file: ConfigFile = None,
    bootstrap_servers: BootstrapServers = None,
    dry_run: DryRun = False,
    verbose: Verbose = False,
) -> None:
    """Put dead letters back on the input topic they came from (original key, bytes and headers), after a fix."""
    setup_logging(verbose)
    with _errors_to_exit():
        moment = None if since is None else parse_moment(since)
        config = _config(config_file, bootstrap_servers)
        result = replay_dead_letters(config.kafka, reasons=set(reason or ()), since=moment, dry_run=dry_run)
    verb = "would replay" if dry_run else "replayed"
    by_reason = ", ".join(f"{name} {count:,}" for name, count in result.replayed.most_common()) or "none"
    to = ", ".join(f"{topic} {count:,}" for topic, count in result.to_topics.items())
    console.print(f"{verb} {result.total:,} dead letters ({by_reason})" + (f" to {to}" if to else ""), highlight=False, soft_wrap=True)
    left = {"not selected": result.not_selected, "from other topics": result.other_topic, "not dead letters": result.unreadable}
    left_text = ", ".join(f"{what} {count:,}" for what, count in left.items() if count)
    if left_text:
        console.print(f"left: {left_text}", highlight=False, soft_wrap=True)


def export_command(
    output: typing.Annotated[pathlib.Path, typer.Option("--output", "-o", help="Model file to write.")],
    checkpoint_dir: typing.Annotated[
        str | None, typer.Option(help="The job's checkpoint folder or fsspec URI (default: the job config's).")
    ] = None,
    learner: typing.Annotated[
        str | None, typer.Option(help="Which learner of the job (default: the one serving at the last checkpoint).")
    ] = None,
    config_file: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Write a job's trained learner from its newest checkpoint into a model file (for learners.load and --init-model).

    The job's configuration (``--config``, ``TAGSTREAM_*``) gives the checkpoint folder when
    ``--checkpoint-dir`` does not, and the key of signed checkpoints (``checkpoint_key[_file]``).
    """
    setup_logging(verbose)
    with _errors_to_exit():
        config = JobConfig.load(config_file, overrides={"checkpoint_dir": checkpoint_dir})
        if config.checkpoint_dir is None:
            raise ConfigError("no checkpoint folder: pass --checkpoint-dir DIR (or set checkpoint_dir in --config)")
        secret = None if config.checkpoint_key is None else config.checkpoint_key.get_secret_value()
        exported = export_model(config.checkpoint_dir, learner, read_key(config.checkpoint_key_file, secret))
        output.parent.mkdir(parents=True, exist_ok=True)
        save(exported, output)
    console.print(
        f"wrote {output}: {exported.learner} after {exported.learned:,} records, {len(exported.labels)} labels",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``offsets``, ``deadletters`` and ``export`` to the ``tagstream`` app."""
    offsets_app = typer.Typer(help="Show, reset or skip the job's consumer-group offsets.", no_args_is_help=True)
    offsets_app.command("show")(offsets_show)
    offsets_app.command("reset")(offsets_reset)
    offsets_app.command("skip")(offsets_skip)
    app.add_typer(offsets_app, name="offsets")
    deadletters_app = typer.Typer(help="Count dead letters, or put them back on the input topic.", no_args_is_help=True)
    deadletters_app.command("stats")(deadletters_stats)
    deadletters_app.command("replay")(deadletters_replay)
    app.add_typer(deadletters_app, name="deadletters")
    app.command("export")(export_command)
