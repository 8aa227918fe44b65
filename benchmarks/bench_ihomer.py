"""Speed and memory of iHOMER against MLHAT alone, prequential, side by side in one run.

For each dataset, each learner runs test-then-train over the whole stream in its own child process
(so that its resident memory is its own), and reports at 10 %, 50 % and 100 % of the stream:
instances per second so far (wall clock and process CPU time, both counting only the learner's
``predict_one`` and ``learn_one``), the process's resident set size, and the learner's
``model_bytes``. The parent prints one table and the ratios iHOMER / MLHAT.

Targets: iHOMER at >= 500 instances/s on yeast and >= 100 instances/s on bibtex on the 2-core
development machine; bounded memory on a long stream (imdb, 120,919 instances): iHOMER's RSS growth
from 10 % to 100 % of the stream at most 10 % (of the 10 % value) above MLHAT's, and its
``model_bytes`` at most 3x MLHAT's. For iHOMER the table also says where its ``model_bytes`` go: its
root learners, its groups' learners and the rest (label tree, serving choices, mentors, history).
``--limit N`` runs a prefix of N instances instead (the percentages are then of the prefix: say so).

Run it from the repository root::

    .venv/bin/python benchmarks/bench_ihomer.py                       # yeast and bibtex
    .venv/bin/python benchmarks/bench_ihomer.py --datasets enron --learners mlhat,ihomer,ihomer-noroot
    .venv/bin/python benchmarks/bench_ihomer.py --datasets imdb --limit 60000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

LEARNERS = ("mlhat", "mlht", "ihomer", "ihomer-noroot")
FRACTIONS = (0.1, 0.5, 1.0)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(name: str):
    from learners import registry
    from learners.ihomer import IHOMER

    if name in ("mlhat", "mlht"):
        return registry.make(name, seed=1)
    return IHOMER(seed=1, root_learner=name != "ihomer-noroot")


def rss_growth(points: list[dict]) -> float | None:
    """Relative growth of the resident set size from the 10 % mark to the end."""
    marks = {point["fraction"]: point["rss"] for point in points}
    if 0.1 not in marks or 1.0 not in marks:
        return None
    return marks[1.0] / marks[0.1] - 1.0


def model_parts(model) -> dict[str, int]:
    """iHOMER's ``model_bytes`` by part: its roots, its groups' learners and the rest.

    The parts add up to the whole: what the learners share (the feature names of the input, which
    every learner's column index holds) counts once, in the first part that reaches it.
    """
    if not hasattr(model, "partition"):
        return {}
    from learners.base import deep_size

    roots = deep_size(model._roots)
    groups = deep_size([model._roots, [group.learner for group in model._groups]]) - roots
    return {"roots": roots, "groups": groups, "rest": model.model_bytes - roots - groups}


def child(dataset: str, learner_name: str, limit: int | None = None) -> None:
    import itertools

    from stream.datasets import open_dataset

    data = list(itertools.islice(open_dataset(dataset), limit))
    model = build(learner_name)
    marks = {max(1, round(fraction * len(data))): fraction for fraction in FRACTIONS}
    wall = cpu = 0.0
    points = []
    for i, (x, y) in enumerate(data, start=1):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        model.predict_one(x)
        model.learn_one(x, y)
        wall += time.perf_counter() - start_wall
        cpu += time.process_time() - start_cpu
        model.pop_events()
        if i in marks:
            points.append(
                {
                    "fraction": marks[i],
                    "instances": i,
                    "wall_rate": i / wall,
                    "cpu_rate": i / cpu,
                    "rss": rss_bytes(),
                    "model_bytes": model.model_bytes,
                    "parts": model_parts(model),
                }
            )
    extra = {}
    if hasattr(model, "partition"):
        extra["groups"] = [len(group) for group in model.partition()]
    print(json.dumps({"dataset": dataset, "learner": learner_name, "points": points, **extra}))


def run_child(dataset: str, learner: str, limit: int | None = None) -> dict:
    command = [sys.executable, __file__, "--child", dataset, learner]
    if limit is not None:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{learner} on {dataset} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="yeast,bibtex")
    parser.add_argument("--learners", default="mlhat,ihomer")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N instances (a prefix)")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "LEARNER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, limit=args.limit)
        return 0
    names = args.learners.split(",")
    for name in names:
        if name not in LEARNERS:
            parser.error(f"unknown learner {name!r}; choose from {', '.join(LEARNERS)}")
    print(f"load average at start: {os.getloadavg()}")
    if args.limit is not None:
        print(f"prefix: the first {args.limit:,} instances of each dataset (percentages are of the prefix)")
    print("| dataset | learner | at | instances | inst/s wall | inst/s CPU | RSS MiB | model MiB | of which roots / groups / rest MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        results = {name: run_child(dataset, name, args.limit) for name in names}
        for name, result in results.items():
            for point in result["points"]:
                parts = point.get("parts") or {}
                split = " / ".join(f"{parts[part] / 2**20:.2f}" for part in ("roots", "groups", "rest")) if parts else "-"
                print(
                    f"| {dataset} | {name} | {point['fraction']:.0%} | {point['instances']} | "
                    f"{point['wall_rate']:.0f} | {point['cpu_rate']:.0f} | {point['rss'] / 2**20:.0f} | "
                    f"{point['model_bytes'] / 2**20:.2f} | {split} |"
                )
        base = results.get("mlhat")
        for name, result in results.items():
            if name == "mlhat" or base is None:
                continue
            final, reference = result["points"][-1], base["points"][-1]
            print(
                f"{dataset}: {name} / mlhat speed {final['wall_rate'] / reference['wall_rate']:.2f} (wall), "
                f"{final['cpu_rate'] / reference['cpu_rate']:.2f} (CPU); groups {result.get('groups')}"
            )
            growth, base_growth = rss_growth(result["points"]), rss_growth(base["points"])
            if growth is not None and base_growth is not None:
                print(
                    f"{dataset}: RSS growth 10 % -> 100 %: {name} {growth:+.1%}, mlhat {base_growth:+.1%} "
                    f"(target: at most 10 points above); model_bytes {name} / mlhat "
                    f"{final['model_bytes'] / reference['model_bytes']:.2f}x (target: at most 3x)"
                )
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
