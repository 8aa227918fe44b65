"""The predictions a job publishes, also kept in a JSON Lines file (``--predictions-file``).

With the embedded broker the predictions topic vanishes with the broker at exit; the file keeps
them. It holds exactly what the predictions topic gets, one JSON object per line, in publish
order, and is written by the publisher actor before it acknowledges a batch, so it follows the
topic's at-least-once rule: after a restart from a checkpoint the records after it are predicted,
and appended, again (deduplicate by ``id``, the last line of an id wins).

The file is opened for appending: a second run adds to it. On a Ray cluster it is written on the
node the publisher actor runs on.
"""

from __future__ import annotations

import os
import typing

from stream.records import encode_json


class PredictionsFile:
    """Appends predictions to a JSON Lines file, flushed (and synced) once per batch.

    Parameters
    ----------
    path
        The file; its folder is created when missing.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out" / "predictions.jsonl"
    >>> sink = PredictionsFile(path)
    >>> sink.write([{"id": "r1", "labels": ["a"]}, {"id": "r2", "labels": []}])
    >>> sink.close()
    >>> [json.loads(line)["id"] for line in path.read_text().splitlines()]
    ['r1', 'r2']

    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._file = open(self.path, "ab")

    def write(self, predictions: typing.Iterable[typing.Mapping]) -> None:
        """Append one batch, then flush it to the disk."""
        self._file.write(b"".join(encode_json(prediction) + b"\n" for prediction in predictions))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
