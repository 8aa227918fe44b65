"""How every tagstream command prints errors and tables (jobs/cli_console.py)."""

import io

from rich.console import Console
from rich.table import Table

from jobs.cli_console import print_error, print_wide


def test_an_error_is_one_line_on_stderr_with_its_brackets_as_typed(capsys):
    message = "no key [kafka] in " + "/a/long/path" * 20 + "/job.toml"
    print_error(message)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {message}\n"


def test_a_table_off_a_terminal_keeps_its_width():
    table = Table("column")
    table.add_row("x" * 150)
    out = io.StringIO()
    print_wide(Console(file=out, width=80), table)
    assert "x" * 150 in out.getvalue()
