"""Throughput of ``stream.arff`` next to ``river.stream.iter_arff``, measured in the same run.

Each reader makes full passes over each file (opening, decompressing and converting every row,
the way a training loop consumes it); the best of ``--repeats`` passes is reported as instances
per second (by wall clock and by process CPU time), with the ratio ours / river. River is given the label names as ``target`` and
``sparse=True`` for sparse files, which is how it reads multi-label ARFF.

Usage::

    .venv/bin/python benchmarks/bench_reader.py                 # yeast (dense) and bibtex (sparse)
    .venv/bin/python benchmarks/bench_reader.py --datasets yeast bibtex delicious --repeats 5

"""

from __future__ import annotations

import argparse
import platform
import time

from river import stream as river_stream

from stream.arff import iter_instances
from stream.datasets import DATASETS, open_dataset

TARGETS = {"yeast": 30_000, "bibtex": 30_000}


def best_rates(passes: int, read_all) -> tuple[float, float, int]:
    """Best instances/s over ``passes`` full passes by wall clock and by process CPU time.

    On a shared machine other processes stretch the wall clock; the CPU-time rate shows what the
    reader itself costs. Returns both rates and the number of instances per pass.
    """
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(passes):
        wall, cpu = time.perf_counter(), time.process_time()
        count = read_all()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return count / best_wall, count / best_cpu, count


def ours(dataset) -> int:
    return sum(1 for _ in iter_instances(dataset._header))


def river(dataset) -> int:
    sparse = DATASETS[dataset.name].sparse
    return sum(1 for _ in river_stream.iter_arff(dataset.path, target=dataset.label_names, sparse=sparse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(TARGETS), choices=sorted(DATASETS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}, best of {args.repeats} passes")
    print(f"{'':20s} {'ours inst/s':>21s} {'river inst/s':>21s}  {'ratio':>11s}")
    print(f"{'dataset':12s} {'rows':>7s} {'wall':>10s} {'cpu':>10s} {'wall':>10s} {'cpu':>10s}  {'wall':>5s} {'cpu':>5s}  target (wall)")
    for name in args.datasets:
        dataset = open_dataset(name)
        ours_wall, ours_cpu, rows = best_rates(args.repeats, lambda: ours(dataset))
        target = TARGETS.get(name)
        verdict = "" if target is None else f">= {target:,}: {'met' if ours_wall >= target else 'MISSED'}"
        try:
            river_wall, river_cpu, river_rows = best_rates(args.repeats, lambda: river(dataset))
        except ValueError as error:  # river's reader cannot read some of the benchmark files
            print(f"{name:12s} {rows:7d} {ours_wall:10,.0f} {ours_cpu:10,.0f}  river fails: {error}  {verdict}")
            continue
        if river_rows != rows:
            raise SystemExit(f"{name}: river read {river_rows} rows, we read {rows}")
        print(
            f"{name:12s} {rows:7d} {ours_wall:10,.0f} {ours_cpu:10,.0f} {river_wall:10,.0f} {river_cpu:10,.0f}"
            f"  {ours_wall / river_wall:4.1f}x {ours_cpu / river_cpu:4.1f}x  {verdict}"
        )

if __name__ == "__main__":
    main()
