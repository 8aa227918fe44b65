"""Follow one of tagstream's topics and print its messages readably (the ``tagstream tail`` command)."""

from __future__ import annotations

import time
import typing

from rich.console import Console
from rich.markup import escape

from stream.kafka import KafkaConfig, Message, RecordSource, topic_partitions
from stream.records import (
    RecordError,
    parse_dead_letter,
    parse_drift_alert,
    parse_label_update,
    parse_model_event,
    parse_prediction,
    parse_record,
)

TOPIC_KINDS = ("predictions", "drift", "model-events", "deadletter", "records", "labels")
TopicKind = typing.Literal["predictions", "drift", "model-events", "deadletter", "records", "labels"]

PREVIEW_CHARS = 120


def preview(raw: bytes | None, limit: int = PREVIEW_CHARS) -> str:
    """Printable, markup-safe text of arbitrary bytes: invalid UTF-8 and control characters escaped.

    >>> preview(b'{"id": 1}\\xff\\x1b[2J')
    '{"id": 1}\\\\xff\\\\x1b[2J'
    """
    if raw is None:
        return "<null>"
    text = raw[: limit * 4].decode("utf-8", errors="backslashreplace")
    return printable(text if len(text) <= limit else text[: limit - 1] + "…")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (ANSI escape sequences, carriage
    returns, backspaces, bidirectional overrides, ...) shown as escapes, rich markup escaped.

    Every string taken from a message goes through it: a producer must not be able to move the
    cursor, clear the screen or forge lines in an operator's terminal.

    >>> printable("id-1\\x1b[2J\\r[bold]x")
    'id-1\\\\x1b[2J\\\\r\\\\[bold]x'
    """
    return escape("".join(char if char.isprintable() else repr(char)[1:-1] for char in text))


def _coordinates(message: Message) -> str:
    return f"[dim]{message.partition}@{message.offset}[/dim]"


def _scores(scores: dict[str, float], top: int = 5) -> str:
    best = sorted(scores.items(), key=lambda item: -item[1])[:top]
    return " ".join(f"{printable(label)}={score:.2f}" for label, score in best)


def format_message(kind: TopicKind, message: Message) -> str:
    """One line of rich markup for one message of a topic of the given kind."""
    where = _coordinates(message)
    try:
        if kind == "predictions":
            p = parse_prediction(message.value)
            return (
                f"{where} [bold]{printable(p.id)}[/bold] -> [green]{printable(', '.join(p.labels)) or '∅'}[/green]"
                f"  {_scores(p.scores)}  [cyan]{printable(p.learner)}[/cyan] v{p.model_version} {p.latency_ms:.1f} ms"
            )
        if kind == "drift":
            a = parse_drift_alert(message.value)
            labels = printable(", ".join(a.labels)) if a.labels else "-"
            learner = f" [cyan]{printable(a.learner)}[/cyan]" if a.learner is not None else ""
            return (
                f"{where} [yellow]{printable(a.level)} {printable(a.kind)}[/yellow] {printable(a.severity)}{learner}"
                f" records {a.first_index}..{a.last_index} labels={labels} {printable(a.detector)}"
                f" [dim]{printable(a.event_id)}[/dim]"
            )
        if kind == "model-events":
            e = parse_model_event(message.value)
            labels = printable(", ".join(e.labels)) if e.labels else "-"
            return (
                f"{where} [yellow]{printable(e.level)} {printable(e.kind)}[/yellow] [cyan]{printable(e.learner)}[/cyan]"
                f" @{e.instance} node={printable(str(e.node))} labels={labels} {printable(str(e.detail))}"
            )
        if kind == "deadletter":
            d = parse_dead_letter(message.value, message.key, message.headers)
            return (
                f"{where} [red]{printable(d.reason)}[/red] {printable(d.error_class)} from "
                f"{printable(d.source_topic)}[{d.source_partition}]@{d.source_offset}: {printable(d.error_message[:200])}\n"
                f"    key={preview(d.key, 60)} value={preview(d.value)}"
            )
        if kind == "labels":
            u = parse_label_update(message.value, message.key)
            return f"{where} [bold]{printable(u.id)}[/bold] labels={printable(', '.join(u.labels)) or '∅'}"
        if kind == "records":
            r = parse_record(message.value, message.key)
            payload = f"{len(r.features)} features" if r.features is not None else f"text={preview(r.text.encode(), 80)}"
            labels = "predict only" if r.labels is None else printable(", ".join(r.labels)) or "∅"
            return f"{where} [bold]{printable(r.id)}[/bold] {payload} labels={labels}"
    except RecordError as error:
        # tail is a viewer: a message that breaks its schema is shown, not fatal.
        return f"{where} [red]unreadable ({printable(error.reason)}): {printable(error.message)}[/red] value={preview(message.value)}"
    raise ValueError(f"unknown topic kind {kind!r}; one of {TOPIC_KINDS}")


def tail(
    config: KafkaConfig,
    kind: TopicKind,
    *,
    console: Console,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout_s: float | None = None,
) -> int:
    """Print the messages of the topic ``config.topics.<kind>`` (a ``-`` read as ``_``) until ``limit``
    or ``idle_timeout_s``.

    Reads every partition directly, without a consumer group: nothing is committed and no other
    consumer is disturbed. Returns the number of messages printed.
    """
    if kind not in TOPIC_KINDS:
        raise ValueError(f"unknown topic kind {kind!r}; one of {TOPIC_KINDS}")
    topic = getattr(config.topics, kind.replace("-", "_"))
    reader = config.model_copy(update={"group_id": None})
    printed = 0
    with RecordSource(reader, partitions=topic_partitions(config, topic)) as source:
        if from_beginning:
            source.seek_to_beginning()
        else:
            source.seek_to_end()
        last_message = time.monotonic()
        while limit is None or printed < limit:
            batch = source.poll_batch(max_records=None if limit is None else limit - printed)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - last_message >= idle_timeout_s:
                    break
                continue
            last_message = time.monotonic()
            for message in batch:
                console.print(format_message(kind, message), highlight=False, soft_wrap=True)
            printed += len(batch)
    return printed
