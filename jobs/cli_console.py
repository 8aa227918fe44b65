"""What every ``tagstream`` command prints the same way: one-line errors on stderr, and tables that
keep their width off a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

#: stderr, for errors and notices (stdout is the command's result).
errors = Console(stderr=True)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr on one line, however long; brackets in it are shown as typed
    (a path or a config key like ``[kafka]`` is not read as markup)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def print_wide(console: Console, renderable) -> None:
    """Print a table on ``console``: off a terminal (a pipe, a file, a test) at 200 columns, where
    rich would fold it at 80 and cut the numbers."""
    target = console if console.is_terminal else Console(file=console.file, width=200)
    target.print(renderable)
