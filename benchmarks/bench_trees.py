"""Prequential speed and quality of the multi-label trees (MLHAT, MLHT, MLHT-PS, PS) on benchmark sets.

Each learner predicts then learns every instance of the dataset in file order (the datasets are
read into memory first, so reading is not timed). Reported per learner and dataset: instances per
second by wall clock and by process CPU time (the shared development machine stretches wall time;
CPU time shows the learner's own cost), subset accuracy, micro-F1, Hamming loss, macro-F1, and the
tree's final size. The same run also measures a river-based reference side by side
(``--reference``, default: binary relevance of river Hoeffding trees, the usual Python baseline)
and prints our / reference speed ratios. The published MLHAT scores of the iHOMER paper are shown
for comparison (``published`` columns; they are not measured here).

Usage::

    .venv/bin/python benchmarks/bench_trees.py                                  # mlhat on 4 sets
    .venv/bin/python benchmarks/bench_trees.py --learners mlhat mlht --datasets yeast --profile

"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import time

from learners.metrics import MetricSuite
from learners.registry import LEARNERS, make
from stream.datasets import DATASETS, open_dataset

#: Published MLHAT (subset accuracy, micro-F1), iHOMER paper's tables (docs/published-results.md).
PUBLISHED_MLHAT = {
    "yeast": (0.1314, 0.5976),
    "scene": (0.8867, 0.9364),
    "enron": (0.0907, 0.4359),
    "bibtex": (0.1225, 0.3472),
    "medical": (0.4350, 0.5842),
    "tmc2007": (0.2381, 0.6379),
    "emotions": (0.1361, 0.4446),
    "flags": (0.0619, 0.5857),
}


def prequential(name: str, data: list, seed: int, profile: bool) -> dict:
    model = make(name, seed=seed)
    suite = MetricSuite(window=None)
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for x, y in data:
        suite.update(y, model.predict_one(x))
        model.learn_one(x, y)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler:
        print(f"--- cProfile of {name}, top 12 by own time")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    scores = suite.get()
    describe = getattr(model, "describe", None)
    return {
        "wall": len(data) / wall,
        "cpu": len(data) / cpu,
        "scores": scores,
        "size": describe().get("n_leaves") if describe else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", nargs="+", default=["mlhat"], choices=sorted(LEARNERS))
    parser.add_argument("--datasets", nargs="+", default=["yeast", "scene", "enron", "bibtex"], choices=sorted(DATASETS))
    parser.add_argument("--reference", default="br-ht", choices=sorted(LEARNERS) + ["none"])
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT instances")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary per run")
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}; prequential, file order, seed {args.seed}")
    header = "| dataset | learner | wall inst/s | CPU inst/s | CPU ratio vs ref | subset acc | micro-F1 | Hamming | macro-F1 | leaves | published subset acc / micro-F1 |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for dataset in args.datasets:
        data = list(open_dataset(dataset))[: args.limit]
        reference = None
        if args.reference != "none":
            reference = prequential(args.reference, data, args.seed, profile=False)
        rows = [(name, prequential(name, data, args.seed, args.profile)) for name in args.learners]
        if reference is not None:
            rows.append((args.reference, reference))
        published = PUBLISHED_MLHAT.get(dataset)
        for name, result in rows:
            s = result["scores"]
            ratio = f"{result['cpu'] / reference['cpu']:.1f}x" if reference is not None else "-"
            pub = f"{published[0]:.4f} / {published[1]:.4f}" if published and name == "mlhat" else "-"
            print(
                f"| {dataset} ({len(data)}) | {name} | {result['wall']:,.0f} | {result['cpu']:,.0f} | {ratio} | "
                f"{s['subset_accuracy']:.4f} | {s['micro_f1']:.4f} | {s['hamming_loss']:.4f} | {s['macro_f1']:.4f} | "
                f"{result['size'] if result['size'] is not None else '-'} | {pub} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
