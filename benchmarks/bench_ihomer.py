"""Speed and memory of iHOMER against MLHAT alone, prequential, side by side in one run.

For each dataset, each learner runs test-then-train over the whole stream in its own child process
(so that its resident memory is its own), and reports at 10 %, 50 % and 100 % of the stream:
instances per second so far (wall clock and process CPU time, both counting only the learner's
``predict_one`` and ``learn_one``), the process's resident set size, and the learner's
``model_bytes``. The parent prints one table and the ratios iHOMER / MLHAT.

Targets: iHOMER at >= 500 instances/s on yeast and >= 100 instances/s on bibtex on the 2-core
development machine.

Run it from the repository root::

    .venv/bin/python benchmarks/bench_ihomer.py                       # yeast and bibtex
    .venv/bin/python benchmarks/bench_ihomer.py --datasets enron --learners mlhat,ihomer,ihomer-noroot
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


def child(dataset: str, learner_name: str) -> None:
    from stream.datasets import open_dataset

    data = list(open_dataset(dataset))
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
                }
            )
    extra = {}
    if hasattr(model, "partition"):
        extra["groups"] = [len(group) for group in model.partition()]
    print(json.dumps({"dataset": dataset, "learner": learner_name, "points": points, **extra}))


def run_child(dataset: str, learner: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", dataset, learner], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{learner} on {dataset} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="yeast,bibtex")
    parser.add_argument("--learners", default="mlhat,ihomer")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "LEARNER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    names = args.learners.split(",")
    for name in names:
        if name not in LEARNERS:
            parser.error(f"unknown learner {name!r}; choose from {', '.join(LEARNERS)}")
    print(f"load average at start: {os.getloadavg()}")
    print("| dataset | learner | at | instances | inst/s wall | inst/s CPU | RSS MiB | model MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        results = {name: run_child(dataset, name) for name in names}
        for name, result in results.items():
            for point in result["points"]:
                print(
                    f"| {dataset} | {name} | {point['fraction']:.0%} | {point['instances']} | "
                    f"{point['wall_rate']:.0f} | {point['cpu_rate']:.0f} | {point['rss'] / 2**20:.0f} | "
                    f"{point['model_bytes'] / 2**20:.2f} |"
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
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
