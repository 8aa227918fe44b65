"""The baseline table: every catalogue learner, prequential over whole dataset streams.

Each (dataset, learner) pair is evaluated test-then-train over the whole stream in file order
(``learners.evaluate.Prequential``, one learner at a time, seed 1), and, on a dataset where the
no-change baseline's subset accuracy in file order is above 0.3 (a file stored in runs of equal
label sets), also over three seeded shuffles of it (``whole_stream``). Its final scores go into
``benchmarks/results/baselines.json`` as soon as it finishes, so an interrupted run resumes where it
stopped. A pair that runs past ``--budget`` seconds of wall time stops reading the stream and is
recorded as "timed out after N instances", with the scores of those N. Pairs run in a process pool
(``--jobs``), smaller datasets first. ``benchmarks/results/baselines.md`` is written from the JSON
by ``baselines_report.py``: file order and the mean of the shuffles side by side, average ranks on
both, which rows predate their learner's last change, and the numbers published with the iHOMER
paper (ECAI 2025) where they exist.

Run it from the repository root::

    .venv/bin/python benchmarks/baselines.py --jobs 2            # everything not yet in the JSON
    .venv/bin/python benchmarks/baselines.py --datasets yeast --learners isoupt,mlbels --rerun
    .venv/bin/python benchmarks/baselines.py --learners no-change,mlhat --file-order-only
    .venv/bin/python benchmarks/baselines.py --timed-out --budget 1800 --jobs 1   # finish the cut-short runs
    .venv/bin/python benchmarks/baselines.py --report-only       # rewrite the markdown
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import sys

import whole_stream
from baselines_report import METRICS, SEED, render_markdown, run_key
from learners import registry

RESULTS_DIR = pathlib.Path(__file__).parent / "results"
JSON_PATH = RESULTS_DIR / "baselines.json"

#: Smallest first (instances x labels), as the table fills in that order.
DATASETS = (
    "flags", "virusgo", "emotions", "chd49", "birds", "water-quality", "plant-pseaac",
    "gnegative-pseaac", "yeast", "scene", "medical", "enron",
)


def run_pair(stream_name: str, learner: str, budget: float, commit: str) -> dict:
    """Evaluate one learner over one whole stream (a dataset in one order); the JSON entry of the pair."""
    data, instances = whole_stream.open_stream(stream_name)
    stream = whole_stream.Budgeted(instances, budget)
    result, run = whole_stream.prequential(learner, registry.make(learner, seed=SEED), stream, data.n_instances)
    return {
        "dataset": stream_name,
        "learner": learner,
        **{name: result.cumulative[name] for name in (*METRICS, "example_f1")},
        **run,
        "events": len(result.events),
        "commit": commit,
    }


def describe_dataset(dataset: str) -> dict:
    """Shape, label cardinality and density of a dataset, counted from its file, and the no-change
    baseline's subset accuracy over it in file order (which decides whether it is also shuffled)."""
    data = whole_stream.open_dataset(dataset)
    n = on = 0
    for _, y in data:
        n += 1
        on += sum(1 for value in y.values() if value)
    cardinality = on / n if n else 0.0
    return {
        "instances": n, "features": data.n_features, "labels": data.n_labels,
        "cardinality": cardinality, "density": cardinality / data.n_labels if data.n_labels else 0.0,
        "no_change_subset_accuracy": whole_stream.no_change_subset_accuracy(dataset),
    }


def _wanted(run: dict | None, rerun: bool, timed_out: bool) -> bool:
    """Whether a pair is to be run: never recorded or failed, or selected by ``--rerun`` / ``--timed-out``."""
    if run is None or "error" in run or rerun:
        return True
    return timed_out and run["timed_out"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated dataset names")
    parser.add_argument("--learners", default="all", help="comma-separated learner names, or all")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--budget", type=float, default=120.0, help="wall seconds per (dataset, learner)")
    parser.add_argument("--rerun", action="store_true", help="run the selected pairs again even if recorded")
    parser.add_argument(
        "--timed-out", action="store_true", help="run again only the selected pairs that ran out of their budget"
    )
    parser.add_argument("--file-order-only", action="store_true", help="skip the shuffles of sticky datasets")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the markdown from the JSON")
    parser.add_argument("--results", type=pathlib.Path, default=JSON_PATH)
    args = parser.parse_args(argv)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    learners = registry.expand(args.learners)
    document = whole_stream.load(args.results, {"protocol": {}, "datasets": {}, "runs": {}})
    document["protocol"] = {
        "order": "file, and shuffles where sticky", "seed": SEED, "shuffle_seeds": list(whole_stream.SHUFFLE_SEEDS),
        "sticky_no_change_subset_accuracy": whole_stream.STICKY, "evaluator": "learners.evaluate.Prequential",
    }
    document.setdefault("datasets", {})
    for dataset in datasets:
        if "no_change_subset_accuracy" not in document["datasets"].get(dataset, {}):
            document["datasets"][dataset] = describe_dataset(dataset)
    streams = []
    for dataset in datasets:
        names = whole_stream.stream_names(dataset, document["datasets"][dataset]["no_change_subset_accuracy"])
        streams += names[:1] if args.file_order_only else names
    pairs = [
        (stream, learner)
        for stream in streams
        for learner in learners
        if _wanted(document["runs"].get(run_key(stream, learner)), args.rerun, args.timed_out)
    ]
    if not args.report_only and pairs:
        print(f"{len(pairs)} runs to do with {args.jobs} workers, {args.budget:.0f} s budget each", flush=True)
        # Build every learner once so that the forked workers run the code of this commit, even if
        # the checkout changes while they run (the catalogue imports learner modules lazily).
        commit = whole_stream.head_commit()
        for learner in learners:
            registry.make(learner, seed=SEED)
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {
                pool.submit(run_pair, dataset, learner, args.budget, commit): (dataset, learner)
                for dataset, learner in pairs
            }
            for future in concurrent.futures.as_completed(futures):
                dataset, learner = futures[future]
                try:
                    run = future.result()
                except Exception as error:  # noqa: BLE001 - one learner's crash must not lose the table
                    run = {"dataset": dataset, "learner": learner, "error": f"{type(error).__name__}: {error}"}
                    print(f"{dataset:>16} {learner:<12} FAILED {run['error']}", flush=True)
                document["runs"][run_key(dataset, learner)] = run
                whole_stream.save(document, args.results)
                if "error" in run:
                    continue
                status = f"timed out after {run['instances']}" if run["timed_out"] else f"{run['instances']} instances"
                print(
                    f"{run['dataset']:>16} {run['learner']:<12} subset {run['subset_accuracy']:.4f} "
                    f"micro-F1 {run['micro_f1']:.4f} {run['instances_per_s']:9,.0f}/s  {status}",
                    flush=True,
                )
    whole_stream.save(document, args.results)
    recorded = {whole_stream.parse_order(run["dataset"])[0] for run in document["runs"].values()} | set(datasets)
    shown = [d for d in DATASETS if d in recorded] + sorted(recorded - set(DATASETS))
    markdown = args.results.with_suffix(".md")
    markdown.write_text(render_markdown(document, shown, registry.expand("all")))
    print(f"wrote {args.results} and {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
