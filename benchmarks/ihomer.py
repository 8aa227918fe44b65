"""iHOMER against MLHAT: prequential scores over whole dataset streams, both iHOMER configurations.

Each (dataset, configuration) pair is evaluated test-then-train over the whole stream in file
order (``learners.evaluate.Prequential``, one learner at a time, seed 1). Its final scores go into
``benchmarks/results/ihomer.json`` as soon as it finishes, so an interrupted run resumes where it
stopped; a pair recorded with other parameters than the current ones is run again. A pair that
runs past ``--budget`` seconds of wall time stops reading its stream and is marked as timed out,
with the scores of the instances it reached. Smaller datasets run first.
``benchmarks/results/ihomer.md`` is written from the JSON: the scores side by side, average ranks,
and, when ``benchmarks/results/baselines.json`` exists, the catalogue's baselines next to them.

Configurations:

* ``mlhat``: MLHAT alone, over all labels (the catalogue's ``mlhat``);
* ``ihomer-flat``: iHOMER with one MLHAT per label cluster, predictions concatenated;
* ``ihomer-meta``: the same with HOMER-style meta-label gating at the internal nodes.

Run it from the repository root::

    .venv/bin/python benchmarks/ihomer.py --jobs 2
    .venv/bin/python benchmarks/ihomer.py --datasets yeast,scene --configs ihomer-flat --rerun
    .venv/bin/python benchmarks/ihomer.py --report-only
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

from learners import registry
from learners.evaluate import Prequential
from learners.ihomer import IHOMER
from stream.datasets import open_dataset

RESULTS_DIR = pathlib.Path(__file__).parent / "results"
JSON_PATH = RESULTS_DIR / "ihomer.json"
BASELINES_PATH = RESULTS_DIR / "baselines.json"
SEED = 1

#: Smallest first (instances x labels), so the table fills in that order.
DATASETS = (
    "flags", "virusgo", "chd49", "emotions", "birds", "genbase", "cal500", "plant-pseaac", "water-quality",
    "medical", "gnegative-pseaac", "langlog", "stackex-chess", "enron", "scene", "yeast", "human", "slashdot",
    "bibtex", "corel5k", "ohsumed", "20ng", "tmc2007",
)
METRICS = ("subset_accuracy", "micro_f1", "macro_f1", "hamming_loss")
BIGGER_IS_BETTER = {"subset_accuracy": True, "micro_f1": True, "macro_f1": True, "hamming_loss": False}
METRIC_TITLES = {
    "subset_accuracy": "Subset accuracy", "micro_f1": "Micro-F1", "macro_f1": "Macro-F1",
    "hamming_loss": "Hamming loss (lower is better)",
}
#: Constructor parameters of each configuration (``None``: the catalogue's MLHAT).
CONFIGS: dict[str, dict | None] = {
    "mlhat": None,
    "ihomer-flat": {"meta_labels": False},
    "ihomer-meta": {"meta_labels": True},
}


def build(config: str):
    params = CONFIGS[config]
    if params is None:
        return registry.make("mlhat", seed=SEED)
    return IHOMER(seed=SEED, **params)


def parameters(config: str) -> dict:
    """Every constructor parameter of a configuration, defaults included, as recorded in the JSON."""
    learner = build(config)
    return {name: (value if isinstance(value, (int, float, str, bool, type(None))) else repr(value))
            for name, value in learner._get_params().items()}


class _Budgeted:
    """The stream, cut short once ``budget`` seconds of wall time have passed."""

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


def _head_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def run_pair(dataset: str, config: str, budget: float) -> dict:
    """Evaluate one configuration over one whole dataset stream; the JSON entry of the pair."""
    data = open_dataset(dataset)
    stream = _Budgeted(data, budget)
    learner = build(config)
    started = time.perf_counter()
    result = Prequential({config: learner}, report_every=None).run(stream)[config]
    events: dict[str, int] = {}
    for observed in result.events:
        key = f"{observed.event.level}/{observed.event.kind}"
        events[key] = events.get(key, 0) + 1
    entry = {
        "dataset": dataset,
        "config": config,
        "params": parameters(config),
        **{name: result.cumulative[name] for name in METRICS},
        "instances": result.instances,
        "stream_instances": data.n_instances,
        "timed_out": stream.timed_out,
        "budget_s": budget,
        "learner_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - started,
        "instances_per_s": result.instances_per_s,
        "model_bytes": result.model_bytes,
        "events": events,
        "commit": _head_commit(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if isinstance(learner, IHOMER):
        entry["groups"] = [len(group) for group in learner.partition()]
        entry["restructures"] = sum(1 for change in learner.history if change["reason"] != "start")
    return entry


def _load(path: pathlib.Path) -> dict:
    if not path.exists():
        return {"protocol": {}, "runs": {}}
    return json.loads(path.read_text())


def _save(document: dict, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)


def _key(dataset: str, config: str) -> str:
    return f"{dataset}/{config}"


def _cell(run: dict | None, metric: str) -> str:
    if run is None:
        return "-"
    value = f"{run[metric]:.4f}"
    return f"{value}*" if run["timed_out"] else value


def average_ranks(table: dict[str, dict[str, float]], metric: str, names: list, datasets: list) -> dict[str, float]:
    """Mean rank of each name over the datasets where every name has a score (ties share the mean rank)."""
    complete = [d for d in datasets if all(d in table.get(name, {}) for name in names)]
    totals = dict.fromkeys(names, 0.0)
    for dataset in complete:
        scores = {name: table[name][dataset] for name in names}
        ordered = sorted(names, key=lambda n: scores[n], reverse=BIGGER_IS_BETTER[metric])
        position = 0
        while position < len(ordered):
            tied = [n for n in ordered if scores[n] == scores[ordered[position]]]
            rank = position + (len(tied) + 1) / 2
            for name in tied:
                totals[name] += rank
            position += len(tied)
    return {name: totals[name] / len(complete) for name in names} if complete else {}


def render_markdown(document: dict, datasets: list[str], baselines: dict | None) -> str:
    runs = document["runs"]
    configs = list(CONFIGS)
    lines = [
        "# iHOMER against MLHAT: prequential scores over whole streams",
        "",
        "Generated by `benchmarks/ihomer.py` from `ihomer.json`; the discussion at the end is its `NOTES`.",
        "",
        f"Protocol: test-then-train over the whole stream in file order, seed {SEED}, one learner at a time "
        f"(`learners.evaluate.Prequential`), scores at the end of the stream (not a tail window). Instances/s "
        f"counts the time inside `predict_one` and `learn_one`. `*` marks a run that ran out of its wall-time "
        f"budget, scored on the instances it reached. Timings come from the shared 2-core development machine "
        f"under other users' load: compare them within a dataset, not across datasets.",
        "",
        "iHOMER parameters (both configurations, besides `meta_labels`): "
        + ", ".join(f"`{k}={v}`" for k, v in parameters("ihomer-flat").items() if k not in ("meta_labels", "seed")),
        "",
    ]
    table: dict[str, dict[str, dict[str, float]]] = {m: {} for m in METRICS}
    for metric in METRICS:
        lines += [f"## {METRIC_TITLES[metric]}", "", "| dataset | " + " | ".join(configs) + " |"]
        lines.append("|---|" + "---|" * len(configs))
        for dataset in datasets:
            found = {c: runs[_key(dataset, c)] for c in configs if _key(dataset, c) in runs}
            for config, run in found.items():
                table[metric].setdefault(config, {})[dataset] = run[metric]
            best = None
            if len(found) == len(configs):
                pick = max if BIGGER_IS_BETTER[metric] else min
                best = pick(run[metric] for run in found.values())
            cells = []
            for config in configs:
                text = _cell(found.get(config), metric)
                cells.append(f"**{text}**" if best is not None and found[config][metric] == best else text)
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Instances per second and model size (MiB, `model_bytes` at the end)",
        "",
        "| dataset | " + " | ".join([*(f"{c} inst/s" for c in configs), *(f"{c} MiB" for c in configs)]) + " |",
        "|---|" + "---|" * (2 * len(configs)),
    ]
    for dataset in datasets:
        found = [runs.get(_key(dataset, c)) for c in configs]
        speed = ["-" if r is None else f"{r['instances_per_s']:,.0f}{'*' if r['timed_out'] else ''}" for r in found]
        size = ["-" if r is None else f"{r['model_bytes'] / 2**20:.2f}" for r in found]
        lines.append(f"| {dataset} | " + " | ".join(speed + size) + " |")
    lines.append("")
    lines += [
        "## Final partitions (group sizes) and restructurings",
        "",
        "| dataset | configuration | groups | restructurings | global events |",
        "|---|---|---|---|---|",
    ]
    for dataset in datasets:
        for config in configs[1:]:
            run = runs.get(_key(dataset, config))
            if run is not None:
                counts = sorted(run["events"].items())
                shown = ", ".join(f"{k.split('/')[1]} {v}" for k, v in counts if k.startswith("global/")) or "-"
                lines.append(f"| {dataset} | {config} | {run['groups']} | {run['restructures']} | {shown} |")
    lines.append("")

    lines += [
        "## Average ranks (1 = best)",
        "",
        "Over the datasets where every configuration has a score.",
        "",
        "| metric | " + " | ".join(configs) + " | datasets |",
        "|---|" + "---|" * (len(configs) + 1),
    ]
    for metric in METRICS:
        ranks = average_ranks(table[metric], metric, configs, datasets)
        complete = sum(all(d in table[metric].get(c, {}) for c in configs) for d in datasets)
        shown = " | ".join(f"{ranks.get(c, float('nan')):.2f}" for c in configs)
        lines.append(f"| {METRIC_TITLES[metric].split(' (')[0]} | {shown} | {complete} |")
    lines.append("")
    wins = {}
    for metric in METRICS:
        flat, meta = table[metric].get("ihomer-flat", {}), table[metric].get("ihomer-meta", {})
        both = [d for d in datasets if d in flat and d in meta]
        better = sum((flat[d] > meta[d]) if BIGGER_IS_BETTER[metric] else (flat[d] < meta[d]) for d in both)
        worse = sum((flat[d] < meta[d]) if BIGGER_IS_BETTER[metric] else (flat[d] > meta[d]) for d in both)
        wins[metric] = (better, worse, len(both))
    lines += ["Flat against meta-label gating (datasets where flat is better / worse / compared): "
              + "; ".join(f"{METRIC_TITLES[m].split(' (')[0]} {b}/{w}/{n}" for m, (b, w, n) in wins.items()), ""]

    if baselines:
        base_runs = baselines.get("runs", {})
        learners = sorted({run["learner"] for run in base_runs.values()})
        lines += ["## Next to the baseline table", "",
                  "Average ranks among the baselines of `baselines.json` and both iHOMER configurations, over the "
                  "datasets where all of them have a score (the baselines' own MLHAT run is the `mlhat` column).",
                  "",
                  "| metric | datasets | " + " | ".join(["ihomer-flat", "ihomer-meta", *learners]) + " |",
                  "|---|---|" + "---|" * (len(learners) + 2)]
        for metric in METRICS:
            merged = {c: table[metric].get(c, {}) for c in ("ihomer-flat", "ihomer-meta")}
            for run in base_runs.values():
                merged.setdefault(run["learner"], {})[run["dataset"]] = run[metric]
            names = ["ihomer-flat", "ihomer-meta", *learners]
            ranks = average_ranks(merged, metric, names, datasets)
            complete = sum(all(d in merged.get(n, {}) for n in names) for d in datasets)
            shown = " | ".join(f"{ranks.get(n, float('nan')):.2f}" for n in names)
            lines.append(f"| {METRIC_TITLES[metric].split(' (')[0]} | {complete} | {shown} |")
        lines.append("")
    lines += [NOTES]
    return "\n".join(lines) + "\n"


#: Discussion of the numbers, appended to the generated tables.
NOTES = ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated dataset names")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated configurations")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--budget", type=float, default=300.0, help="wall seconds per (dataset, configuration)")
    parser.add_argument("--rerun", action="store_true", help="run the selected pairs again even if recorded")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the markdown from the JSON")
    args = parser.parse_args(argv)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for config in configs:
        if config not in CONFIGS:
            parser.error(f"unknown configuration {config!r}; choose from {', '.join(CONFIGS)}")
    document = _load(JSON_PATH)
    document["protocol"] = {"order": "file", "seed": SEED, "evaluator": "learners.evaluate.Prequential"}
    current = {config: parameters(config) for config in CONFIGS}
    pairs = [
        (dataset, config)
        for dataset in datasets
        for config in configs
        if args.rerun
        or _key(dataset, config) not in document["runs"]
        or document["runs"][_key(dataset, config)].get("params") != current[config]
    ]
    if not args.report_only and pairs:
        print(f"{len(pairs)} runs to do with {args.jobs} workers, {args.budget:.0f} s budget each", flush=True)
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_pair, dataset, config, args.budget) for dataset, config in pairs]
            for future in concurrent.futures.as_completed(futures):
                run = future.result()
                document["runs"][_key(run["dataset"], run["config"])] = run
                _save(document, JSON_PATH)
                status = f"timed out after {run['instances']}" if run["timed_out"] else f"{run['instances']} instances"
                print(
                    f"{run['dataset']:>16} {run['config']:<12} subset {run['subset_accuracy']:.4f} "
                    f"micro-F1 {run['micro_f1']:.4f} macro-F1 {run['macro_f1']:.4f} "
                    f"{run['instances_per_s']:7,.0f}/s  {status} groups {run.get('groups')}",
                    flush=True,
                )
    recorded = {run["dataset"] for run in document["runs"].values()}
    shown = [d for d in DATASETS if d in recorded] + sorted(recorded - set(DATASETS))
    baselines = json.loads(BASELINES_PATH.read_text()) if BASELINES_PATH.exists() else None
    markdown = RESULTS_DIR / "ihomer.md"
    markdown.write_text(render_markdown(document, shown, baselines))
    print(f"wrote {JSON_PATH} and {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
