"""What the whole-stream benchmarks (`baselines.py`, `ihomer.py`) share: resumable JSON result
files, a wall-time budget per run, and the record of one prequential run."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import subprocess
import time

from learners.evaluate import LearnerResult, Prequential


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


class Budgeted:
    """The stream, cut short once ``budget`` seconds of wall time have passed (``timed_out`` says so)."""

    def __init__(self, stream, budget: float):
        self.stream = stream
        self.budget = budget
        self.timed_out = False

    def __iter__(self):
        deadline = time.perf_counter() + self.budget
        for instance in self.stream:
            if time.perf_counter() > deadline:
                self.timed_out = True
                return
            yield instance


def head_commit() -> str:
    """The checkout's short HEAD (the code a run measures), ``unknown`` outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=pathlib.Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def prequential(name: str, learner, stream: Budgeted, stream_instances: int) -> tuple[LearnerResult, dict]:
    """Test-then-train ``learner`` over ``stream``; its result and the JSON fields every run records."""
    started = time.perf_counter()
    result = Prequential({name: learner}, report_every=None).run(stream)[name]
    return result, {
        "instances": result.instances,
        "stream_instances": stream_instances,
        "timed_out": stream.timed_out,
        "budget_s": stream.budget,
        "learner_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - started,
        "instances_per_s": result.instances_per_s,
        "model_bytes": result.model_bytes,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
