"""Logging for the command line: ``key=value`` lines on stderr, quiet unless asked.

Only the CLI calls :func:`setup_logging`; every other module just logs to
``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging
import sys

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is printed.
# Libraries (Ray) install record factories that add attributes of their own, so the set is
# taken from a fresh record at format time, not once at import.
_FORMATTED = {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """Formats a record as ``time=... level=... logger=... msg="..."`` plus its ``extra`` fields.

    Examples
    --------
    >>> record = logging.makeLogRecord({"name": "jobs.x", "levelname": "INFO", "msg": "run done", "rows": 3})
    >>> KeyValueFormatter().format(record).split(" ", 1)[1]
    'level=info logger=jobs.x msg="run done" rows=3'

    """

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        standard = set(vars(logging.makeLogRecord({}))) | _FORMATTED
        fields.update((key, value) for key, value in vars(record).items() if key not in standard)
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value) -> str:
    text = str(value)
    if isinstance(value, str) and (not text or any(c in text for c in ' "=')):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (test runners swap it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(verbose: bool = False) -> None:
    """Send tagstream's logs to stderr: warnings only, or everything from INFO with ``verbose``."""
    handler = _StderrHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # Third-party libraries stay at WARNING even in verbose mode: their INFO lines drown ours.
    for noisy in ("kafka", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
