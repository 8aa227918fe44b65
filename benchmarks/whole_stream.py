"""What the whole-stream benchmarks (`baselines.py`, `ihomer.py`) share: resumable JSON result
files, a wall-time budget per run, the record of one prequential run, the stream orders a dataset
is run in, and average ranks.

Orders. Every dataset runs in file order. A dataset on which the ``no-change`` baseline (the
previous instance's label set) reaches a subset accuracy above :data:`STICKY` in file order is
stored in runs of equal label sets, which rewards stickiness rather than learning; it also runs
in :data:`SHUFFLE_SEEDS` seeded permutations (``learners.evaluate.shuffled``), named
``<dataset>@shuffle<seed>``, and the tables report the mean over them next to file order.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import pathlib
import subprocess
import time

from learners.evaluate import LearnerResult, Prequential, shuffled
from learners.no_change import NoChange
from stream.datasets import open_dataset

#: Seeds of the permutations a sticky dataset also runs in.
SHUFFLE_SEEDS = (1, 2, 3)
#: A dataset is sticky when no-change's subset accuracy in file order is above this.
STICKY = 0.3
_SHUFFLE = "@shuffle"


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


@functools.cache
def contains(commit: str, change: str) -> bool | None:
    """Whether the code at ``commit`` includes ``change`` (``change`` is ``commit`` or an ancestor of
    it); ``None`` when git cannot tell (outside a checkout, an unknown commit)."""
    try:
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", change, commit], capture_output=True, check=False,
            cwd=pathlib.Path(__file__).parent,
        )
    except OSError:
        return None
    return {0: True, 1: False}.get(done.returncode)


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


def shuffled_name(dataset: str, seed: int) -> str:
    """The name of ``dataset`` streamed in the permutation drawn with ``seed``."""
    return f"{dataset}{_SHUFFLE}{seed}"


def parse_order(name: str) -> tuple[str, int | None]:
    """``(dataset, shuffle seed)`` of a stream name; the seed is ``None`` for file order."""
    dataset, marker, seed = name.partition(_SHUFFLE)
    return (dataset, int(seed)) if marker else (dataset, None)


def open_stream(name: str):
    """``(dataset, stream)`` of a stream name: the dataset, and its instances in that order."""
    dataset_name, seed = parse_order(name)
    dataset = open_dataset(dataset_name)
    return dataset, (dataset if seed is None else shuffled(dataset, seed))


def no_change_subset_accuracy(dataset: str) -> float:
    """Subset accuracy of the no-change baseline over ``dataset`` in file order."""
    result = Prequential({"no-change": NoChange()}, report_every=None).run(open_dataset(dataset))
    return result["no-change"].cumulative["subset_accuracy"]


def stream_names(dataset: str, no_change: float) -> list[str]:
    """The orders ``dataset`` runs in: file order, and the shuffles when it is sticky."""
    names = [dataset]
    if no_change > STICKY:
        names += [shuffled_name(dataset, seed) for seed in SHUFFLE_SEEDS]
    return names


def stream_groups(document: dict, datasets) -> list[tuple[str, list[str]]]:
    """A results table's columns (or rows): ``(title, stream names)``, file order for every dataset,
    then its shuffles (their mean) right after each sticky one. ``document["datasets"]`` holds each
    dataset's ``no_change_subset_accuracy``; a dataset without it counts as not sticky.

    >>> stream_groups({"datasets": {"a": {"no_change_subset_accuracy": 0.9}}}, ["a", "b"])
    [('a', ['a']), ('a shuffled', ['a@shuffle1', 'a@shuffle2', 'a@shuffle3']), ('b', ['b'])]
    """
    groups = []
    for dataset in datasets:
        groups.append((dataset, [dataset]))
        info = document.get("datasets", {}).get(dataset)
        names = stream_names(dataset, info["no_change_subset_accuracy"]) if info else [dataset]
        if len(names) > 1:
            groups.append((f"{dataset} shuffled", names[1:]))
    return groups


def shuffle_mean(runs: list[dict | None], metric: str) -> tuple[float, bool] | None:
    """Mean of ``metric`` over the runs of every shuffle, and whether any was cut short; ``None``
    unless every shuffle has a successful run."""
    if len(runs) != len(SHUFFLE_SEEDS) or any(run is None or "error" in run for run in runs):
        return None
    return sum(run[metric] for run in runs) / len(runs), any(run["timed_out"] for run in runs)


def average_ranks(table: dict[str, dict[str, float]], bigger_is_better: bool, names: list, columns: list) -> dict[str, float]:
    """Mean rank of each name over the columns where every name has a score (ties share the mean rank)."""
    complete = [c for c in columns if all(c in table.get(name, {}) for name in names)]
    totals = dict.fromkeys(names, 0.0)
    for column in complete:
        scores = {name: table[name][column] for name in names}
        ordered = sorted(names, key=lambda n: scores[n], reverse=bigger_is_better)
        position = 0
        while position < len(ordered):
            tied = [n for n in ordered if scores[n] == scores[ordered[position]]]
            rank = position + (len(tied) + 1) / 2
            for name in tied:
                totals[name] += rank
            position += len(tied)
    return {name: totals[name] / len(complete) for name in names} if complete else {}
