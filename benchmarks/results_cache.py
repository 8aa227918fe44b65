"""The resumable JSON result files of the whole-stream benchmarks (`baselines.py`, `ihomer.py`)."""

from __future__ import annotations

import json
import os
import pathlib


def load(path: pathlib.Path, empty: dict) -> dict:
    """The results written so far, or ``empty`` when there are none yet."""
    if not path.exists():
        return empty
    return json.loads(path.read_text())


def save(document: dict, path: pathlib.Path) -> None:
    """Write atomically (write, then rename), so an interrupted run never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)
