"""iHOMER against MLHAT and MLHT: prequential scores over whole dataset streams, iHOMER's configurations.

Each (dataset, configuration) pair is evaluated test-then-train over the whole stream in file
order (``learners.evaluate.Prequential``, one learner at a time, seed 1), and, where the no-change
baseline's subset accuracy in file order is above 0.3 (a file stored in runs of equal label sets),
over three seeded shuffles too (``whole_stream``): the tables show file order and the mean of the
shuffles side by side, and rank on both. Its final scores go into
``benchmarks/results/ihomer.json`` as soon as it finishes, so an interrupted run resumes where it
stopped; a pair recorded with other parameters than the current ones is run again. A pair that
runs past ``--budget`` seconds of wall time stops reading its stream and is marked as timed out,
with the scores of the instances it reached. Smaller datasets run first.
``benchmarks/results/ihomer.md`` is written from the JSON: the scores side by side, average ranks,
and, when ``benchmarks/results/baselines.json`` exists, the catalogue's baselines next to them.

Configurations:

* ``mlhat`` and ``mlht``: MLHAT and MLHT alone, over all labels (the catalogue's learners);
* ``no-change``: the label set of the previous instance (what a file sorted by label set rewards);
* ``ihomer``: iHOMER's default: one MLHAT per label cluster, and three root learners over all
  labels, an MLHAT, an MLHT and pruned sets (a label-set learner); each label comes from whichever
  candidate did better on it lately (a root, its cluster's own MLHAT, or the mean of the MLHAT
  root's and the own MLHAT's probabilities, the blend), and a whole cluster from one candidate
  when that one got clearly more of the cluster's label sets right (``serving_sets``); pruned
  sets keeps its 64 most frequent label sets as classes, and a cluster's own MLHAT that has served
  nothing for 1,000 instances retires (``retire_after``), as does the MLHT or the pruned-sets root
  (``retire_roots``); a serving choice can move from its first instances, its evidence weighed
  against a prior of 25 instances at the default candidate's rate (``serving_prior``);
* ``ihomer-wait``: the default of 8d9ba74: a serving choice waits ``n_min`` instances (no prior);
* ``ihomer-roots-kept``: the default of 5bbf1cd: the roots never retire, no prior;
* ``ihomer-ps-all``: the default of the previous round (a0affd8): pruned sets over every frequent
  label set it tracks (up to 1,000), no retirement, no prior;
* ``ihomer-nosets``: the default without the label-set choice per cluster (per-label choices only);
* ``ihomer-2roots``: the default of the previous round: roots MLHAT and MLHT, per-label choices only;
* ``ihomer-2roots-sets``: roots MLHAT and MLHT with the label-set choice (no pruned-sets root);
* ``ihomer-noroot``: iHOMER without root learners: each cluster's own MLHAT (or its mentor)
  predicts its labels, the predictions concatenated (the specification's model).

Run it from the repository root::

    .venv/bin/python benchmarks/ihomer.py --jobs 2
    .venv/bin/python benchmarks/ihomer.py --datasets yeast,scene --configs ihomer --rerun
    .venv/bin/python benchmarks/ihomer.py --configs no-change,mlhat --file-order-only
    .venv/bin/python benchmarks/ihomer.py --report-only
"""

from __future__ import annotations

import argparse
import concurrent.futures
import inspect
import json
import pathlib
import sys

import whole_stream
from learners import registry
from published import PUBLISHED, best_baseline
from learners.ihomer import IHOMER

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
#: Constructor parameters of each configuration (``None``: the catalogue learner of that name).
CONFIGS: dict[str, dict | None] = {
    "mlhat": None,
    "mlht": None,
    "no-change": None,
    "ihomer": {},
    "ihomer-wait": {"serving_prior": None},
    "ihomer-roots-kept": {"retire_roots": False, "serving_prior": None},
    "ihomer-ps-all": {"root_base_learner": ("mlhat", "mlht", "ps"), "retire_after": None, "serving_prior": None},
    "ihomer-nosets": {"serving_sets": False},
    "ihomer-2roots": {"root_base_learner": ("mlhat", "mlht"), "serving_sets": False},
    "ihomer-2roots-sets": {"root_base_learner": ("mlhat", "mlht")},
    "ihomer-noroot": {"root_learner": False},
}


def build(config: str):
    params = CONFIGS[config]
    if params is None:
        return registry.make(config, seed=SEED)
    return IHOMER(seed=SEED, **params)


def parameters(config: str) -> dict:
    """Every constructor parameter of a configuration, defaults included, as recorded in the JSON."""
    learner = build(config)
    return {name: (value if isinstance(value, (int, float, str, bool, type(None))) else parameter_text(value))
            for name, value in learner._get_params().items()}


def parameter_text(value) -> str:
    """A parameter on one line: a learner given as an estimator by its class and the parameters it
    sets apart from their defaults (river's ``repr`` spans lines), anything else by ``repr``.

    >>> from learners.pruned_sets import PrunedSets
    >>> parameter_text(("mlhat", PrunedSets(max_classes=64)))
    "('mlhat', PrunedSets(max_classes=64))"
    >>> parameter_text(("mlhat", "mlht"))
    "('mlhat', 'mlht')"
    """
    if isinstance(value, (list, tuple)) and any(hasattr(item, "_get_params") for item in value):
        return "(" + ", ".join(parameter_text(item) for item in value) + ")"
    if hasattr(value, "_get_params"):
        defaults = {name: p.default for name, p in inspect.signature(type(value)).parameters.items()}
        changed = [f"{name}={v!r}" for name, v in value._get_params().items() if defaults.get(name, inspect.Parameter.empty) != v]
        return f"{type(value).__name__}({', '.join(changed)})"
    return repr(value)


def run_pair(dataset: str, config: str, budget: float) -> dict:
    """Evaluate one configuration over one whole stream (a dataset in one order, see
    ``whole_stream.open_stream``); the JSON entry of the pair."""
    data, instances = whole_stream.open_stream(dataset)
    stream = whole_stream.Budgeted(instances, budget)
    learner = build(config)
    result, run = whole_stream.prequential(config, learner, stream, data.n_instances)
    events: dict[str, int] = {}
    for observed in result.events:
        key = f"{observed.event.level}/{observed.event.kind}"
        events[key] = events.get(key, 0) + 1
    entry = {
        "dataset": dataset,
        "config": config,
        "params": parameters(config),
        **{name: result.cumulative[name] for name in METRICS},
        **run,
        "events": events,
        "commit": whole_stream.head_commit(),
    }
    if isinstance(learner, IHOMER):
        entry["groups"] = [len(group) for group in learner.partition()]
        entry["served_by"] = [group["served_by"] for group in learner.describe()["partition"]]
        entry["restructures"] = sum(1 for change in learner.history if change["reason"] != "start")
    return entry


def _key(dataset: str, config: str) -> str:
    return f"{dataset}/{config}"


def _cell(run: dict | None, metric: str) -> str:
    if run is None:
        return "-"
    value = f"{run[metric]:.4f}"
    return f"{value}*" if run["timed_out"] else value


def average_ranks(table: dict[str, dict[str, float]], metric: str, names: list, datasets: list) -> dict[str, float]:
    """Mean rank of each name over the datasets where every name has a score (ties share the mean rank)."""
    return whole_stream.average_ranks(table, BIGGER_IS_BETTER[metric], names, datasets)


def shuffled_title(dataset: str) -> str:
    return f"{dataset} shuffled"


def rows_of(document: dict, datasets: list[str]) -> list[tuple[str, list[str]]]:
    """The tables' rows: ``(title, stream names)``, each dataset in file order, then the mean of its
    shuffles right after it where it is sticky."""
    rows = []
    for dataset in datasets:
        rows.append((dataset, [dataset]))
        info = document.get("datasets", {}).get(dataset)
        names = whole_stream.stream_names(dataset, info["no_change_subset_accuracy"]) if info else [dataset]
        if len(names) > 1:
            rows.append((shuffled_title(dataset), names[1:]))
    return rows


def row_runs(runs: dict, rows: list[tuple[str, list[str]]], names) -> dict:
    """The runs as the tables show them, keyed ``<row title>/<name>``: a file-order row's run as it
    is, a shuffled row's the mean over its shuffles (only once every shuffle has run)."""
    out = {}
    for title, streams in rows:
        for name in names:
            found = [runs.get(_key(stream, name)) for stream in streams]
            if len(streams) == 1:
                if found[0] is not None and "error" not in found[0]:
                    out[_key(title, name)] = found[0]
                continue
            if whole_stream.shuffle_mean(found, METRICS[0]) is None:
                continue
            mean = {
                field: sum(run[field] for run in found) / len(found)
                for field in (*METRICS, "instances_per_s", "model_bytes")
            }
            out[_key(title, name)] = {**mean, "timed_out": any(run["timed_out"] for run in found), "shuffles": len(found)}
    return out


def render_markdown(document: dict, shown: list[str], baselines: dict | None) -> str:
    configs = list(CONFIGS)
    rows = rows_of(document, shown)
    runs = row_runs(document["runs"], rows, configs)
    datasets = [title for title, _ in rows]
    file_order = [title for title, streams in rows if len(streams) == 1]
    sticky = {title.removesuffix(" shuffled") for title, streams in rows if len(streams) > 1}
    honest = [title for title, streams in rows if len(streams) > 1 or title not in sticky]
    lines = [
        "# iHOMER against MLHAT and MLHT: prequential scores over whole streams",
        "",
        "Generated by `benchmarks/ihomer.py` from `ihomer.json`; the discussion at the end is its `NOTES`.",
        "",
        f"Protocol: test-then-train over the whole stream, seed {SEED}, one learner at a time "
        f"(`learners.evaluate.Prequential`), scores at the end of the stream (not a tail window). Every dataset "
        f"runs in file order; where the `no-change` baseline scores a subset accuracy above {whole_stream.STICKY} "
        f"in file order (the file is stored in runs of equal label sets), it also runs in "
        f"{len(whole_stream.SHUFFLE_SEEDS)} seeded shuffles, and the row `<dataset> shuffled` holds their mean "
        f"(shown once every shuffle has run). Instances/s "
        f"counts the time inside `predict_one` and `learn_one`. `*` marks a run that ran out of its wall-time "
        f"budget, scored on the instances it reached. Timings come from the shared 2-core development machine "
        f"under other users' load: compare them within a dataset, not across datasets.",
        "",
        "iHOMER parameters (every iHOMER configuration, besides what its name changes): "
        + ", ".join(f"`{k}={v}`" for k, v in parameters("ihomer").items() if k != "seed"),
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
    for dataset in file_order:
        found = [runs.get(_key(dataset, c)) for c in configs]
        speed = ["-" if r is None else f"{r['instances_per_s']:,.0f}{'*' if r['timed_out'] else ''}" for r in found]
        size = ["-" if r is None else f"{r['model_bytes'] / 2**20:.2f}" for r in found]
        lines.append(f"| {dataset} | " + " | ".join(speed + size) + " |")
    lines.append("")
    lines += [
        "## Final partitions (group sizes) and restructurings",
        "",
        "`labels served by`: how many labels each candidate (the MLHAT root `root`, the MLHT root `root:mlht`, "
        "the clusters' own learners and the blend) predicts at "
        "the end of the stream (without a root learner, every label is served by its cluster's own learner).",
        "",
        "| dataset | configuration | groups | labels served by | restructurings | global events |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in file_order:
        for config in (c for c in configs if CONFIGS[c] is not None):
            run = runs.get(_key(dataset, config))
            if run is not None and "groups" in run:
                counts = sorted(run["events"].items())
                shown = ", ".join(f"{k.split('/')[1]} {v}" for k, v in counts if k.startswith("global/")) or "-"
                served: dict[str, int] = {}
                for group in run.get("served_by", ()):
                    for level, count in group.items():
                        served[level] = served.get(level, 0) + count
                served_text = ", ".join(f"{level} {count}" for level, count in served.items()) or "-"
                lines.append(
                    f"| {dataset} | {config} | {run['groups']} | {served_text} | {run['restructures']} | {shown} |"
                )
    lines.append("")

    lines += [
        "## Average ranks (1 = best)",
        "",
        "Over the datasets where every ranked configuration has a score (a configuration run on fewer than "
        "80 % of them is not ranked: `-`). *File order*: every dataset in file "
        "order. *Shuffled where sticky*: each dataset once, the mean of its shuffles where it is sticky.",
        "",
        "| metric | order | " + " | ".join(configs) + " | datasets |",
        "|---|---|" + "---|" * (len(configs) + 1),
    ]
    for metric in METRICS:
        for order, titles in (("file order", file_order), ("shuffled where sticky", honest)):
            # A configuration run on fewer than 80 % of the order's datasets is left out (`-`)
            # rather than shrinking the ranks to the few datasets it has.
            ranked = [c for c in configs if len(set(titles) & set(table[metric].get(c, {}))) >= 0.8 * len(titles)]
            ranks = average_ranks(table[metric], metric, ranked, titles)
            complete = sum(all(d in table[metric].get(c, {}) for c in ranked) for d in titles)
            cells = " | ".join(f"{ranks[c]:.2f}" if c in ranks else "-" for c in configs)
            lines.append(f"| {METRIC_TITLES[metric].split(' (')[0]} | {order} | {cells} | {complete} |")
    lines.append("")
    lines += ranks_where_default_ran(table, file_order, honest)
    lines += [
        "## Each configuration against MLHAT alone (seed 1)",
        "",
        "Datasets where the configuration is better / equal / worse than `mlhat`, its average rank in that "
        "pair (1 = always better, 2 = always worse) and the mean difference from `mlhat` (positive: better).",
        "",
        "| configuration | " + " | ".join(METRIC_TITLES[m].split(" (")[0] for m in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for config in configs[1:]:
        cells = []
        for metric in METRICS:
            mine, reference = table[metric].get(config, {}), table[metric].get("mlhat", {})
            both = [d for d in honest if d in mine and d in reference]
            sign = 1.0 if BIGGER_IS_BETTER[metric] else -1.0
            gains = [sign * (mine[d] - reference[d]) for d in both]
            better, worse = sum(g > 0 for g in gains), sum(g < 0 for g in gains)
            if not both:
                cells.append("-")
                continue
            rank = 1.0 + (worse + (len(both) - better - worse) / 2) / len(both)
            cells.append(
                f"{better}/{len(both) - better - worse}/{worse}, rank {rank:.2f}, {sum(gains) / len(both):+.4f}"
            )
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += against_published(table, file_order)
    if baselines:
        lines += rank_among_baselines(table, baselines, rows, file_order, honest)
    lines += [NOTES]
    return "\n".join(lines) + "\n"


#: The learners ranked over the datasets the default has been run on.
DEFAULT_RANKED = ("mlhat", "mlht", "no-change", "ihomer", "ihomer-2roots")


def ranks_where_default_ran(table: dict, file_order: list[str], honest: list[str]) -> list[str]:
    """Markdown lines: average ranks of :data:`DEFAULT_RANKED` over the datasets where each of them
    has a score (the default may not have run everywhere)."""
    names = list(DEFAULT_RANKED)
    lines = [
        "Over the datasets where the default and the others below all have a score:", "",
        "| metric | order | " + " | ".join(names) + " | datasets |",
        "|---|---|" + "---|" * (len(names) + 1),
    ]
    for metric in METRICS:
        for order, titles in (("file order", file_order), ("shuffled where sticky", honest)):
            ranks = average_ranks(table[metric], metric, names, titles)
            complete = sum(all(d in table[metric].get(n, {}) for n in names) for d in titles)
            cells = " | ".join(f"{ranks[n]:.2f}" if n in ranks else "-" for n in names)
            lines.append(f"| {METRIC_TITLES[metric].split(' (')[0]} | {order} | {cells} | {complete} |")
    return lines + [""]


def against_published(table: dict, file_order: list[str], config: str = "ihomer") -> list[str]:
    """Markdown lines: the default against the paper's best baseline (its released tables, file
    order) on each published dataset, in subset accuracy and micro-F1, with the gap; the shuffled
    mean beside it where the dataset is sticky (the paper did not shuffle)."""
    lines = [
        "## The default against the paper's best baseline", "",
        "The paper's released tables (`benchmarks/published.py`, file order, its iHOMER column left out) give "
        "scores for the datasets below; each cell: our default `ihomer`, the paper's best baseline "
        "(learner and score) and the gap (ours minus theirs). The paper's tables for the other held "
        "datasets are not in `docs/published-results.md`, so they are not compared here.", "",
        "| dataset | subset accuracy: ours / paper's best / gap | micro-F1: ours / paper's best / gap |",
        "|---|---|---|",
    ]
    counts = {metric: [0, 0] for metric in ("subset_accuracy", "micro_f1")}
    for dataset in (d for d in file_order if d in PUBLISHED):
        cells = []
        for metric in counts:
            ours = table[metric].get(config, {}).get(dataset)
            learner, theirs = best_baseline(dataset, metric)
            if ours is None:
                cells.append(f"- / `{learner}` {theirs:.4f} / -")
                continue
            counts[metric][0] += ours >= theirs
            counts[metric][1] += 1
            shuffled = table[metric].get(config, {}).get(shuffled_title(dataset))
            extra = f" (shuffled {shuffled:.4f})" if shuffled is not None else ""
            cells.append(f"{ours:.4f}{extra} / `{learner}` {theirs:.4f} / {ours - theirs:+.4f}")
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "At least as good as the paper's best baseline: "
        + ", ".join(f"{METRIC_TITLES[m]} on {won} of {n}" for m, (won, n) in counts.items()) + ".",
        "",
    ]
    return lines


def rank_among_baselines(
    table: dict, baselines: dict, rows: list[tuple[str, list[str]]], file_order: list[str], honest: list[str]
) -> list[str]:
    """Markdown lines: each iHOMER configuration's average rank among the learners of the baseline
    table (its catalogue ``ihomer`` run left out: it is one of these configurations), and the best
    of the others, in file order and with the sticky datasets shuffled."""
    learners = sorted({run["learner"] for run in baselines.get("runs", {}).values()} - {"ihomer"})
    baseline_rows = row_runs(baselines.get("runs", {}), rows, learners)
    scored = {metric: {} for metric in METRICS}
    for key, run in baseline_rows.items():
        title, _, learner = key.rpartition("/")
        if not run["timed_out"]:
            for metric in METRICS:
                scored[metric].setdefault(learner, {})[title] = run[metric]
    # A learner with whole-stream scores on fewer than half the rows (one not run yet) is left out
    # rather than shrinking the ranks to the few rows it has.
    others = [n for n in learners if len(scored["subset_accuracy"].get(n, {})) * 2 >= len(file_order)]
    lines = [
        "## Next to the baseline table", "",
        "Each iHOMER configuration ranked on its own among the learners of `baselines.json` (the catalogue's "
        "`ihomer` run left out), over the datasets where all of them have a whole-stream score: a baseline run "
        "cut short by its time budget leaves its dataset out. 1 is best; the baselines' own MLHAT run is "
        "`mlhat`. Each cell: the configuration's rank, then the best other learner and its rank. Learners not "
        f"ranked (scores on fewer than half the datasets): {', '.join(sorted(set(learners) - set(others))) or 'none'}.",
        "",
        "| configuration | order | datasets | " + " | ".join(METRIC_TITLES[m].split(" (")[0] for m in METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for config in (c for c in CONFIGS if CONFIGS[c] is not None):
        for order, titles in (("file order", file_order), ("shuffled where sticky", honest)):
            cells, complete = [], 0
            for metric in METRICS:
                merged = {**scored[metric], config: table[metric].get(config, {})}
                names = [config, *others]
                ranks = average_ranks(merged, metric, names, titles)
                complete = sum(all(d in merged.get(n, {}) for n in names) for d in titles)
                if not ranks:
                    cells.append("-")
                    continue
                best = min(others, key=lambda n: ranks[n])
                cells.append(f"{ranks[config]:.2f} ({best} {ranks[best]:.2f})")
            lines.append(f"| {config} | {order} | {complete} | " + " | ".join(cells) + " |")
    return lines + [""]


#: Discussion of the numbers, appended to the generated tables (rewrite it when the numbers change).
NOTES = """## Discussion

**Session 8 (2026-12-03): speed.** The default of 8d9ba74 retires idle roots too: a root other
than the first (the MLHT root, the pruned-sets root) that has served no label and no group's label
sets for 1,000 instances stops learning and predicting and its state is dropped (`retire_roots`).
Its runs are the `ihomer-wait` column (8d9ba74's default is `ihomer-wait`'s code path: checked
prediction for prediction); `ihomer-roots-kept` is the default of 5bbf1cd (the runs of 5f20174, the
same code path). Against it: the same scores on 44 of the 47 streams, among them all 27 streams of
the 12 baseline datasets; 20ng subset accuracy +0.0004, tmc2007 -0.0004 and slashdot 0.3334 ->
0.3289 (micro-F1 0.4461 -> 0.4429), a long stream where a retired root would have served again.
`model_bytes` falls where roots retire (slashdot 16.3 -> 11.9 MiB, ohsumed 12.8 -> 9.9, 20ng 7.0
-> 4.0, tmc2007 4.8 -> 3.1, water-quality 1.06 -> 0.54) and rises by two floats per class and
feature of the pruned-sets root's naive Bayes elsewhere (its derived arrays are now kept: medical
35.4 -> 38.1). The first root never retires: at the end of every file-order stream longer than
`retire_after` it serves labels, alone or in the blend (it serves nothing only at the end of
emotions, flags, genbase, medical and plant-pseaac, all shorter than 1,000 records). Speed, CPU
time side by side with MLHAT (`results/bench_ihomer.md`, runs 5 and 6): yeast 0.20x -> 0.21x,
bibtex 0.12x -> 0.14x, imdb 0.20x -> 0.32x (every learner but the MLHAT root retires there,
`model_bytes` 1.02x MLHAT's); the target 0.5x is missed, and what remains is written there per
dataset.

**Session 8: the serving prior (6ec52fd).** The issue asked for serving choices usable from the
first instances. Before, no choice moved before `n_min` (100) instances of its label or group, so
on short streams, and for every group a restructuring creates, the first root served for 100
instances whatever the others did. Now every candidate's faded count of mistakes is compared as
if it had also served `serving_prior` = 25 instances at the default's rate (the first root's for
a label, the per-label choices' for a group's label sets): with the 10 % margin a candidate that
is right where the default is often wrong takes over within tens of instances (after 7 where the
default is always wrong and the candidate half the time), while a close one still waits for the
decision at `n_min`, which replaces the default without margin as before (`serving_prior=None`:
the previous rule, the `ihomer-wait` column). Against `ihomer-wait`, subset accuracy is higher on
28 of the 47 streams, lower on 15, equal on 4: genbase 0.675 -> 0.861 (shuffles 0.60 -> 0.84),
virusgo 0.599 -> 0.672 (shuffles +0.01 to +0.04), plant-pseaac 0.807 -> 0.852, emotions 0.214 ->
0.240 (micro-F1 0.575 -> 0.598), chd49 0.324 -> 0.335, langlog micro-F1 0.619 -> 0.646; lower
by at most 0.015 (gnegative-pseaac's first shuffle 0.609 -> 0.594, flags 0.077 -> 0.067, birds
0.459 -> 0.454). A first version without the margin-free decision at `n_min` (076139d) held every
default after `n_min` as well: on wrong label sets, near 1 for every candidate, a relative margin
of 10 % is more than any candidate earns, and flags fell to 0.026 (no group went to pruned sets).
The prior's weight, 25, was not tuned per dataset: 50 and 100 gave the same picture with smaller
gains (emotions 0.234 / 0.224, genbase 0.854 / 0.837).

Fixed since (58a2d15, the default): retirement looks at what serves, and a group served whole by
one candidate (the label-set choice) hides its labels' own choices, so a label's own choice could
name a learner that retired meanwhile; when the group's label sets went back to the per-label
choices, that label was served by the retired column (probability 0, or half the first root's in
the blend) until the margin rule moved it off (on imdb at record 12,000, 11 of the 28 labels). Now
such a choice moves at once to the candidate with the fewest faded mistakes among those left (a
`serving_level` event). Against 6ec52fd's default: the same scores on 46 of the 47 streams here
(all 27 of the baseline datasets), ohsumed 0.1926 -> 0.1951 subset accuracy (micro-F1 0.4562 ->
0.4626, macro-F1 0.3301 -> 0.3387); on imdb's whole stream (not in these tables) subset accuracy
0.0483 -> 0.0543, micro-F1 0.158 -> 0.223, macro-F1 0.075 -> 0.104, Hamming loss 0.0768 -> 0.0832,
at the same speed (967 against 970 instances/s, run side by side) and size (6.63 MiB): the same
learners retire.
The `ihomer-wait` and `ihomer-roots-kept` rows were run before this fix (it changes a score only
where a label choice named a retired learner).

**Session 7 (2026-12-03): memory and speed.** Two changes to the default (5bbf1cd); the previous
default is the `ihomer-ps-all` column (its runs are those of a0affd8, the same code path):

- the pruned-sets root keeps its 64 most frequent label sets as classes
  (`PrunedSets(max_classes=64)`: a newly frequent set replaces the least counted class once it has
  been seen more often), and its naive Bayes keeps only the sums and sums of squares (the two
  derived arrays are computed at prediction for the instance's columns: the same predictions, half
  the memory). Before, the root held up to 1,000 label sets x the features x 4 float64 arrays: 35 of
  iHOMER's 52 MiB on imdb;
- a group's own learner that has served nothing (no label alone or in the blend, not the group's
  label sets) for `retire_after` = 1,000 instances retires: it stops learning and predicting, its
  state is dropped and no later group starts from it. It is decided in the group's own serving
  step, so a sharded model retires at the same instance.

Scores: against `ihomer-ps-all`, the same scores on 37 of the 47 streams (file order and
shuffles). Higher: yeast subset accuracy 0.138 -> 0.148, enron 0.0975 -> 0.0981, langlog's second
shuffle 0.189 -> 0.190. Lower, on long streams where a retired learner would later have served
again: 20ng 0.559 -> 0.556, ohsumed 0.196 -> 0.194 (micro-F1 0.463 -> 0.457, macro-F1 0.339 ->
0.331), tmc2007 0.291 -> 0.289, slashdot 0.3345 -> 0.3334, stackex-chess 0.0304 -> 0.0299,
langlog's first shuffle 0.1726 -> 0.1719. Ranked together (first ranks table) the previous default
is ahead of the new one in every metric (subset accuracy in file order 2.41 against 2.61); against
MLHAT alone the new default is better on 11, equal on 2 and worse on 10 datasets in subset accuracy
(previous: 13 / 1 / 9), with the same mean gain (+0.030). On the 12 datasets of the baseline table
(27 streams with the shuffles) it scores exactly as 25fefed (the cap and the retirement, before
retired learners were dropped), which ranks first in subset accuracy, micro-F1 and macro-F1 there,
in file order and shuffled (`results/baselines.md`).

Memory (`results/bench_ihomer.md`, run 4, imdb's whole stream): `model_bytes` 12.13 MiB at the end against MLHAT's 6.51, 1.86x (target 3x: met; the
session 6 default 52.15 MiB, 8.01x; the cap alone, retired learners kept, 21.66 MiB, 3.32x); every
group's learner retires before 10 % of the stream. Resident memory -0.2 % from 10 % of the stream to
the end (MLHAT +0.1 %). At the end of the streams here `model_bytes` is smaller on 46 of 47
(bibtex 134.6 -> 93.6 MiB, enron 44.3 -> 28.2, ohsumed 49.5 -> 12.8, tmc2007 25.7 -> 4.8, 20ng
18.0 -> 7.0).

Speed (CPU time in `predict_one` and `learn_one`, each setting run twice, interleaved, in one
process after the other, best of the two; load average 3-4 on the two shared cores):

| dataset (records) | setting | inst/s CPU | / MLHAT |
|---|---|---|---|
| yeast (2,417) | MLHAT | 2,523 | 1.00 |
| yeast (2,417) | a0affd8 (PS over up to 1,000 label sets) | 433 | 0.17 |
| yeast (2,417) | PS capped at 64 label sets | 440 | 0.17 |
| yeast (2,417) | the default (cap and retirement) | 428 | 0.17 |
| bibtex (2,000) | MLHAT | 1,363 | 1.00 |
| bibtex (2,000) | a0affd8 (PS over up to 1,000 label sets) | 169 | 0.12 |
| bibtex (2,000) | PS capped at 64 label sets | 191 | 0.14 |
| bibtex (2,000) | the default (cap and retirement) | 177 | 0.13 |

The two runs of each setting differed by up to 15 % (yeast MLHAT 2,431 / 2,523, bibtex iHOMER
default 153 / 177): differences of a few hundredths in the ratio are the load's. Over the whole
streams (`bench_ihomer.py`, `results/bench_ihomer.md` run 4): yeast 0.15x, bibtex 0.14x, imdb 0.20x
(the session 6 default: 0.08x on imdb).

The target, 0.5x MLHAT's speed on yeast and bibtex, is not met, and the cuts of this session do not
move it measurably there: the pruned-sets cap matters where there are many label sets and features
(bibtex, imdb), retirement where the roots serve whole groups for long (imdb: all four groups'
learners retire before 10 % of the stream; MLHAT updates per instance 2.88 -> 2.45 on yeast, 2.83
-> 2.42 on scene, 2.68 -> 1.99 on slashdot, 4.71 -> 4.47 on enron, none on medical), but on
bibtex every group's learner serves (own or blend on 12-16 of each group's 39-42 labels). Profiles
of the previous default (cProfile): on yeast (1,500 records) the MLHAT root and the groups' MLHATs
48 % of the time, the PS root 16 %, the serving choices 17 %, the MLHT root 12 %; on bibtex (600
records) the MLHATs 50 %, the serving choices 19 % (12 % after a285f66, the same numbers read
without a generator per label), the MLHT and PS roots 12 % and 11 %. iHOMER does the work of about
six MLHATs per instance on yeast and seven on bibtex, so half of MLHAT's speed would need it to do
two at most. Measured and rejected this session:
the groups' own learners as MLHTs instead of MLHATs (`base_learner="mlht"`: about 1.2x faster on yeast,
bibtex subset accuracy 0.134 -> 0.131, emotions 0.214 -> 0.209, genbase 0.675 -> 0.668), the same
without the MLHT root (medical 0.517 -> 0.452). A root that serves nothing (PS on bibtex, the MLHAT
root on medical) could retire too, but a root's work runs on its own host in a sharded model, ahead
of the groups' serving choices of the same batch, so it cannot stop at the same instance as
unsharded: not done.


**Session 6 (2026-12-03): label sets.** Its default (now `ihomer-ps-all`) has three roots
over all labels, MLHAT, MLHT and pruned sets (PS, a label-set learner), and a second serving
choice per group (`serving_sets`): besides each label's own choice (the candidate with the fewest
faded wrong labels), a group is served whole by one candidate once that candidate has made clearly
fewer wrong label sets on the group's labels than the per-label choices together (the same
500-instance fading, 10 % margin and first choice after `n_min`). PS serves whole groups only. The
previous default is the `ihomer-2roots` column; `serving_unit` (one choice per group on wrong
labels, `ihomer-group` last round: behind the per-label default on 12 of 23 datasets) is removed.

How it was chosen (seed 1, whole streams, file order unless said, subset accuracy; shuffled rows
are means of the three shuffles; `-`: not run):

| dataset | `ihomer-2roots` | `ihomer-2roots-sets` | PS root per label (`ihomer-nosets`) | PS root per label + sets (646a802) | default |
|---|---|---|---|---|---|
| flags | 0.036 | 0.036 | 0.041 | 0.077 | 0.077 |
| virusgo | 0.599 | 0.599 | 0.604 | 0.604 | 0.599 |
| emotions | 0.148 | 0.148 | 0.209 | 0.223 | 0.214 |
| chd49 | 0.324 | 0.324 | 0.324 | 0.324 | 0.324 |
| birds | 0.459 | 0.459 | 0.423 | 0.431 | 0.459 |
| water-quality | 0.042 | 0.042 | 0.033 | 0.035 | 0.042 |
| medical | 0.512 | 0.517 | 0.506 | 0.515 | 0.517 |
| genbase | 0.411 | - | - | 0.814 | 0.675 |
| cal500 (micro-F1) | 0.352 | - | - | 0.292 | 0.354 |
| scene shuffled | 0.415 | - | - | 0.551 | 0.548 |
| gnegative-pseaac shuffled | 0.486 | - | - | 0.590 | 0.591 |

The label-set choice alone, with the two roots of last round, changes little (`ihomer-2roots-sets`):
none of those candidates predicts sets that are right as a whole more often than the per-label mix.
With a PS root it is what lifts emotions, flags, genbase and the shuffled scene and
gnegative-pseaac (there PS serves every group). As a per-label candidate PS won labels it hardly
ever predicts on (its probability of a label is a sum over the label sets it predicts): on cal500,
where every label set is unique, it took most labels and micro-F1 fell to 0.292; birds and
water-quality lost too. Serving whole groups only keeps the gains except part of genbase's (0.814
-> 0.675, still far above MLHAT's 0.397) and gives back cal500, birds and water-quality: that is the
default. Nothing here is tuned to a dataset: the window, margin and `n_min` are last round's, and PS
is the catalogue's `ps` with its defaults.

**Ranks.** Over the datasets the default has run on (second ranks table), it is first among
`mlhat`, `mlht`, `no-change` and the previous default in every metric in file order, and in
micro-F1, macro-F1 and Hamming loss with the sticky files shuffled; in subset accuracy shuffled
MLHAT stays ahead (2.21 against 2.32 over 14 datasets): MLHAT alone is ahead on virusgo and
chd49 (shuffled), plant-pseaac (shuffled, by 0.0003), birds, water-quality, enron, stackex-chess
and human (shuffled, 0.114 against 0.136). Among all the learners of the baseline table ("Next
to the baseline table", the datasets where every baseline has a whole-stream score) the default
ranks first in subset accuracy, micro-F1 and macro-F1 in file order (12 datasets; Hamming loss
second to iSOUP-Tree), and first in subset accuracy and macro-F1 shuffled where sticky (7
datasets; micro-F1 second to the classifier chain, 6.29 against 6.14).

**Where the default loses.** On wide label spaces the label-set choice can hand a group of many
rare labels to PS: a group's label set is right when nothing is predicted on and nothing is on,
which a candidate that predicts little gets more often, while it loses the labels that are on.
enron (53 labels): a group of 15 labels goes to PS (two of 15 and 11 with the session 6 default),
0.098 subset accuracy and 0.456 micro-F1 against MLHAT's 0.104 and 0.497; stackex-chess (227 labels): 0.030 / 0.234 against 0.038
/ 0.285; langlog shuffled micro-F1 0.092 against 0.100. A choice that also weighs the labels that
are on (an F1-aware choice, or the label-set choice only for groups whose label sets repeat) is
the next step there; it has not been measured yet.

**Where it stands against the paper's best baseline** (the table above this discussion: the 9
held datasets whose published tables we have; the issue counts 18, the paper's numbers for the
other 9 are not in `docs/published-results.md`). At least as good on 6 of 9 in subset accuracy
(two thirds; the issue's target is 11 of 18) and 7 of 9 in micro-F1 (the target is 14 of 18).
With the serving prior, emotions (0.240 against MLHT-PS's 0.222) is now above. Still below: enron
in both (above), flags (0.067 against MLHT's 0.129: a 194-instance stream; the paper's BR-HT/EFDT
reach 0.710 micro-F1 against our 0.639), yeast (0.150 against MLHT-PS's 0.185 in subset
accuracy; 0.613 micro-F1 is above BR-HT's 0.599; neither the PS root nor the label-set choice
reached it; yeast's 198 label sets are many for a root over all 14 labels, and the groups' own
learners are MLHATs, not label-set learners). What was tried for those in sessions 5 to 8: PS as
the groups' own learner (`ihomer-ps`, emotions 0.216, yeast 0.139), a classifier-chain root (flags
0.062, yeast 0.141, emotions 0.180), a sign-test first choice instead of waiting `n_min` (-0.034
on chd49), the PS root per label (above), the serving prior (this session). Not tried: an
F1-aware choice for rare labels.

**Speed and memory of the session 6 default** (a0affd8; `bench_ihomer.py`, load average 14-42):
0.21x MLHAT's CPU-time rate on yeast, 0.14x on bibtex; `model_bytes` 4.3x and 5.3x MLHAT's there,
8.0x on imdb's whole stream, most of it the pruned-sets root's naive Bayes over up to 1,000 label
sets. Session 7 above bounded it.

**Which rows are current.** `ihomer`: every stream (file order and every shuffle) rerun with the
default of 58a2d15 (idle roots retire and the label choices naming them move, the serving prior
with the decision at `n_min`), from a clean checkout of 8d7f42d with its own code on `PYTHONPATH`
(19:37-19:40 UTC; the same scores as 6ec52fd's runs but for ohsumed, see "Fixed since").
`ihomer-wait`: every stream with the default of 8d9ba74 (`serving_prior=None`, run with the code
of 076139d, whose path without a prior is 8d9ba74's, checked prediction for prediction).
`ihomer-roots-kept`: the runs of 5bbf1cd's default, from a clean checkout of 5f20174. `ihomer-ps-all`: the session 6 default's runs
(a0affd8, from a clean checkout of 000dd56). The other iHOMER columns are as run before this
session, with the roots and choices of their time (their recorded parameters differ from what their
name builds now: a capped pruned-sets root and retirement, so `--configs` reruns them); `mlhat` on
every stream up to slashdot after c30107e, on bibtex, corel5k, ohsumed, 20ng and tmc2007 before it;
`mlht` and `no-change` as measured before (they do not depend on MLHAT). The ranks cover the
datasets every ranked configuration has.

**Earlier rounds, still true.** Options removed, each after losing its own benchmark (numbers in
`ihomer.json`): meta-label gating (HOMER-style), restarting the roots on a global drift alarm,
counting wrong instances instead of wrong labels in the per-label choice, and now one choice per
group on wrong labels. `ihomer-noroot` (the specification's model, each cluster's MLHAT alone) was
behind MLHAT on 14 of 23 datasets in subset accuracy: a restructuring hands a cluster's labels to a
learner that starts late; the roots are what turns the partition into a gain. The paper's released
iHOMER numbers come from a short tail window, its notebook keeps only the top-voted label and its
clustering runs on Pearson correlations: none of that is reproduced here, so our numbers are not
comparable with the paper's iHOMER column.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated dataset names")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated configurations")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--budget", type=float, default=300.0, help="wall seconds per (dataset, configuration)")
    parser.add_argument("--rerun", action="store_true", help="run the selected pairs again even if recorded")
    parser.add_argument("--file-order-only", action="store_true", help="skip the shuffles of sticky datasets")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the markdown from the JSON")
    args = parser.parse_args(argv)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for config in configs:
        if config not in CONFIGS:
            parser.error(f"unknown configuration {config!r}; choose from {', '.join(CONFIGS)}")
    document = whole_stream.load(JSON_PATH, {"protocol": {}, "runs": {}})
    document["protocol"] = {
        "order": "file, and shuffles where sticky", "seed": SEED, "shuffle_seeds": list(whole_stream.SHUFFLE_SEEDS),
        "sticky_no_change_subset_accuracy": whole_stream.STICKY, "evaluator": "learners.evaluate.Prequential",
    }
    document.setdefault("datasets", {})
    streams = []
    for dataset in datasets:
        info = document["datasets"].setdefault(dataset, {})
        if "no_change_subset_accuracy" not in info:
            info["no_change_subset_accuracy"] = whole_stream.no_change_subset_accuracy(dataset)
        names = whole_stream.stream_names(dataset, info["no_change_subset_accuracy"])
        streams += names[:1] if args.file_order_only else names
    current = {config: parameters(config) for config in CONFIGS}
    pairs = [
        (dataset, config)
        for dataset in streams
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
                whole_stream.save(document, JSON_PATH)
                status = f"timed out after {run['instances']}" if run["timed_out"] else f"{run['instances']} instances"
                print(
                    f"{run['dataset']:>16} {run['config']:<12} subset {run['subset_accuracy']:.4f} "
                    f"micro-F1 {run['micro_f1']:.4f} macro-F1 {run['macro_f1']:.4f} "
                    f"{run['instances_per_s']:7,.0f}/s  {status} groups {run.get('groups')}",
                    flush=True,
                )
    whole_stream.save(document, JSON_PATH)
    recorded = {whole_stream.parse_order(run["dataset"])[0] for run in document["runs"].values()}
    shown = [d for d in DATASETS if d in recorded] + sorted(recorded - set(DATASETS))
    baselines = json.loads(BASELINES_PATH.read_text()) if BASELINES_PATH.exists() else None
    markdown = RESULTS_DIR / "ihomer.md"
    markdown.write_text(render_markdown(document, shown, baselines))
    print(f"wrote {JSON_PATH} and {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
