"""Logging for the command line: ``key=value`` (or JSON) lines on stderr, quiet unless asked.

Only the CLI calls :func:`setup_logging`; every other module just logs to
``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import enum
import json
import logging
import sys


class LogFormat(str, enum.Enum):
    """Formats of the log lines, by their ``--log-format`` name."""

    text = "text"
    json = "json"


LOG_FORMATS = tuple(member.value for member in LogFormat)

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is printed.
# Libraries (Ray) install record factories that add attributes of their own, so the set is
# taken from a fresh record at format time, not once at import.
_FORMATTED = {"message", "asctime"}


def record_fields(formatter: logging.Formatter, record: logging.LogRecord) -> dict:
    """A record's time, level, logger and message, then the fields passed with ``extra=``."""
    fields = {
        "time": formatter.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    standard = set(vars(logging.makeLogRecord({}))) | _FORMATTED
    fields.update((key, value) for key, value in vars(record).items() if key not in standard)
    return fields


class KeyValueFormatter(logging.Formatter):
    """Formats a record as ``time=... level=... logger=... msg="..."`` plus its ``extra`` fields.

    Examples
    --------
    >>> record = logging.makeLogRecord({"name": "jobs.x", "levelname": "INFO", "msg": "run done", "rows": 3})
    >>> KeyValueFormatter().format(record).split(" ", 1)[1]
    'level=info logger=jobs.x msg="run done" rows=3'

    """

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{key}={_quote(value)}" for key, value in record_fields(self, record).items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line, with the same fields as :class:`KeyValueFormatter`.

    A traceback goes into ``exc``, so one record stays one line; values JSON cannot hold are
    written as their ``str``.

    Examples
    --------
    >>> record = logging.makeLogRecord({"name": "jobs.x", "levelname": "INFO", "msg": "run done", "rows": 3})
    >>> fields = json.loads(JsonFormatter().format(record))
    >>> {key: fields[key] for key in ("level", "logger", "msg", "rows")}
    {'level': 'info', 'logger': 'jobs.x', 'msg': 'run done', 'rows': 3}

    """

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(self, record)
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


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


def setup_logging(verbose: bool = False, log_format: str = "text") -> None:
    """Send tagstream's logs to stderr: warnings only, or everything from INFO with ``verbose``.

    ``log_format`` is ``"text"`` (``key=value`` lines) or ``"json"`` (one JSON object a line).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; choose one of {LOG_FORMATS}")
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # Third-party libraries stay at WARNING even in verbose mode: their INFO lines drown ours.
    for noisy in ("kafka", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
