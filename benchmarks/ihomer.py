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
  when that one got clearly more of the cluster's label sets right (``serving_sets``);
* ``ihomer-nosets``: the default without the label-set choice per cluster (per-label choices only);
* ``ihomer-2roots``: the default of the previous round: roots MLHAT and MLHT, per-label choices only;
* ``ihomer-2roots-sets``: roots MLHAT and MLHT with the label-set choice (no pruned-sets root);
* ``ihomer-ps``: the default with pruned sets as each cluster's own learner too;
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
    "ihomer-nosets": {"serving_sets": False},
    "ihomer-2roots": {"root_base_learner": ("mlhat", "mlht"), "serving_sets": False},
    "ihomer-2roots-sets": {"root_base_learner": ("mlhat", "mlht")},
    "ihomer-ps": {"base_learner": "ps"},
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
    return {name: (value if isinstance(value, (int, float, str, bool, type(None))) else repr(value))
            for name, value in learner._get_params().items()}


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


#: Discussion of the numbers, appended to the generated tables (written from the runs of 2026-11-26,
#: 15:59-17:05 UTC; rewrite it when the numbers change).
NOTES = """## Discussion

**Session 5 (2026-12-03): MLHAT now splits as the reference, rows rerun, candidates of other
families.** MLHAT's split scoring changed (`results/fidelity.md`, divergence 2: one Gaussian per
(feature, class) with each class's own range, as the reference, commit c30107e), which changes
MLHAT and iHOMER rows wherever a tree splits differently. Rerun since, on the
shared machine at load 15-42: `mlhat` and `ihomer-flat` on flags, virusgo, chd49, emotions, birds,
genbase, cal500 and langlog (file order and shuffles), plant-pseaac (file order and a shuffle),
`mlhat` on human (file order); the other rows of those two configurations, and every row of the
other configurations, are from before the change. The scores are identical on flags, virusgo, chd49, birds and langlog; emotions `mlhat` 0.157 -> 0.165 subset accuracy (now within
0.004 of the reference), `ihomer-flat` 0.160 -> 0.148; genbase `mlhat` 0.314 -> 0.397,
`ihomer-flat` 0.420 -> 0.411. genbase was also run shuffled for the first time (mean of three:
`mlhat` 0.262, `ihomer-flat` 0.276 subset accuracy), and langlog (`mlhat` 0.184, `ihomer-flat`
0.180; in file order 0.480 and 0.575: langlog's file order made iHOMER's lead), with no-change
(0.115 and 0.036) and MLHT (0.072 and 0.165) beside them; on human no-change and MLHT ran
shuffled, MLHAT's shuffles are from an earlier session and iHOMER's are still missing, for want of
machine time. On sparse 0/1 rows (medical, enron, the text sets) MLHAT's tree no longer
splits at all, as the reference's never does (a feature carried only as 1 has one value).

Memory on imdb (120,919 records, 1,001 sparse 0/1 features, 28 labels), new code, `model_bytes` as
now measured (`learners.base.deep_size`: river's walk counted every array twice, and MLHAT reported
an estimate of its leaves only, so the two were not comparable): MLHAT over the whole stream stays
one leaf, 6.18 MiB at 6,000 records and 6.52 MiB at 120,000, RSS 127.6 -> 128.0 MiB from 10 % to
100 %. iHOMER, on the prefix the loaded machine allowed (18,000 records): 18.3 MiB, 2.9x MLHAT's at
the same point, flat from 6,000 (18.0); its MLHAT root 6.3 (34 %), MLHT root 2.3 (13 %), its four
groups' MLHATs 9.6 (52 %; each ~1.1 MiB of split observers and ~1.2 of leaf models, of which the
kNN window of 170 x 1,001 features is 0.7), label tree, serving choices and history 0.1, no mentor.
The earlier growth (32 -> 412 MiB, measured with the double-counting walk) came after 40,000
records: a prefix with the code before the split-scoring change was flat to there, every tree one
leaf. MLHAT no longer splits on these 0/1 features at all; what grew then was not measured, and the
whole-stream iHOMER run (the RSS target) did not fit in this session's machine time.

Candidates of other families, through iHOMER's public parameters (no change to `learners/ihomer.py`),
new code, seed 1, file order; one-off runs of `run_pair` (the benchmark's own function) while the
machine was loaded, not kept in the JSON; subset accuracy / micro-F1:

| dataset | `ihomer-flat` | `ihomer-ps` (pruned sets per cluster) | `ihomer-psgroup` | `ihomer-psroot` | `ihomer-ccroot` (chain root) | best of our baselines (subset acc.) |
|---|---|---|---|---|---|---|
| emotions | 0.148 / 0.454 | 0.216 / 0.585 | **0.226** / 0.581 | 0.209 / 0.583 | 0.180 / 0.585 | `ps` 0.246 |
| flags | 0.036 / 0.633 | 0.041 / 0.642 | 0.057 / 0.637 | 0.041 / 0.644 | **0.062** / 0.654 | `majority` 0.119 |
| yeast | 0.138 / 0.616 | 0.139 / 0.616 | 0.137 / 0.617 | 0.135 / 0.618 | **0.141** / 0.619 | `br-knn` 0.181 |
| medical | **0.512** / 0.690 | 0.506 / 0.690 | 0.495 / 0.675 | 0.506 / 0.689 | 0.511 / 0.690 | `mlht` 0.529 |
| chd49 (sticky) | 0.324 / 0.800 | 0.317 / 0.799 | 0.265 / 0.727 | - | **0.333** / 0.804 | `no-change` 0.461 |
| birds | **0.459** / 0.179 | 0.434 / 0.207 | 0.442 / 0.188 | - | **0.459** / 0.179 | `br-arf`, `isoupt` 0.470 |
| water-quality | 0.030 / 0.627 (before the change) | 0.033 / 0.614 | **0.046** / 0.612 | - | 0.020 / 0.628 | `br-abalr` 0.048 |
| scene (sticky) | **0.905** / 0.951 (before the change) | 0.900 / 0.948 | 0.895 / 0.942 | - | 0.903 / 0.950 | `ihomer-flat` 0.905 |

A label-set learner per cluster (`base_learner="ps"`, HOMER's idea) is what emotions needs: the
clusters' own pruned sets serve most labels, +0.068 subset accuracy and +0.131 micro-F1 over the
default; one choice per cluster (`ihomer-psgroup`, so a predicted label set stays whole) adds
+0.010 more there, but loses 0.06 on chd49 and 0.017 on medical. Elsewhere pruned sets per cluster
is within 0.007 of the default except birds (-0.025 subset accuracy, +0.028 micro-F1); one choice
per cluster wins on water-quality too (0.046 against 0.030 and MLHAT's 0.043). A chain
root (`cc`) is the best candidate on flags, yeast and chd49 (+0.026, +0.003, +0.009 over the
default), neutral on medical and birds, and behind on water-quality (0.020). A linear chain root (`logistic-cc`, run on emotions and flags only) lost
subset accuracy on both (0.140 and 0.031). None reaches our best baseline on emotions, flags or
yeast: the per-label choice counts wrong labels, so on yeast the pruned-sets root serves 1 of the
14 labels and a label set is never taken whole. What would: a choice that can give a whole cluster
to a label-set candidate on subset error (the `ihomer-psgroup` result on emotions), measured on
every dataset before it becomes a default.

**This round (2026-12-03): shuffles, a pruned-sets root, options removed.** Five of the datasets
here are sticky (no-change above 0.3 subset accuracy in file order); virusgo, chd49,
plant-pseaac, gnegative-pseaac and scene were run in three shuffles for `no-change`, `mlhat`,
`mlht`, `ihomer-flat` and `ihomer-psroot` (genbase, langlog and human, sticky too, were not run
shuffled for want of machine time: their shuffled rows stay empty). Shuffled, no-change falls
from 0.70-0.91 to 0.09-0.25 subset accuracy, and iHOMER from 0.905 to 0.415 on scene, 0.920 to
0.488 on gnegative-pseaac, 0.800 to 0.152 on plant-pseaac: the file order, not the features, made
most of those scores. `ihomer-psroot` adds a third root, pruned sets over all labels, as one more
candidate of each label's serving choice. Against `ihomer-flat` (subset accuracy / micro-F1 /
macro-F1, shuffled rows are means of three): scene shuffled +0.071 / +0.045 / +0.043,
gnegative-pseaac shuffled +0.049 / +0.037 / +0.054, chd49 shuffled +0.011 / -0.001 / 0.000,
plant-pseaac shuffled -0.006 / -0.001 / -0.003, virusgo shuffled 0.000 / 0.000 / +0.004; emotions
(file order) +0.049 / +0.115 / +0.125, yeast -0.003 / +0.002 / +0.006; in file order on the sticky
sets between -0.005 and +0.005. It costs speed (a third learner over all labels: 50-100
instances/s against 65-134 for `ihomer-flat` in the same runs, under heavy load) and was not
measured on the wide sets (bibtex, imdb) where pruned sets may grow, so it is a configuration,
not the default, until that is measured. A serving rule tried and dropped: moving a label's
choice from the first instances once the excess of faded mistakes passes a sign test (z = 2)
instead of waiting `n_min` instances. Against the default it changed subset accuracy / micro-F1 by
+0.021 / +0.004 on flags, -0.005 / +0.014 on virusgo, -0.034 / -0.021 on chd49, 0.000 / 0.000 on
emotions and -0.005 / -0.009 on birds, so it was not kept. The MLHAT split-test fix of the same day
(`results/fidelity.md`: the range counts a leaf's label sets) changes every MLHAT and iHOMER row:
`mlhat` was rerun after it on every stream; the iHOMER configurations and `mlhat-root-seed` here
predate it and are to be rerun.

**What changed: a second root learner, of another kind.** iHOMER keeps one MLHAT per label
cluster and, above them, root learners over all labels, which no restructuring touches. Until
this round the only root was an MLHAT, so every serving choice picked among predictions of two
MLHATs that see the same instances: the gain over MLHAT alone was a few thousandths (the
`ihomer-oneroot` column). The default now has two roots, an MLHAT and an MLHT
(`root_base_learner=("mlhat", "mlht")`). Each label is served by whichever of four candidates has
made the fewest faded mistakes on it: the MLHAT root, the cluster's own MLHAT, their mean (the
blend), or the MLHT root. MLHT differs from MLHAT in how it learns, not only in its seed: one
logistic regression per leaf and label instead of bagged ones behind a kNN label powerset, and no
drift adaptation. Each is the better predictor on some labels of some streams. MLHAT stays the
first root, which serves every label until the first choice, so a stream where MLHT is weak costs
little (emotions, birds, flags; music below).

Two serving rules came with it, each fixing a way the choice wasted what it knew:

- A restructuring keeps each label's record of the roots (they are the same learners before and
  after). Before, a new cluster's labels started again from the MLHAT root, and waited `n_min`
  instances for a first choice: on streams of a few hundred instances that is most of the stream.
  The new cluster's own learner and blend start from the serving root's count and win by the margin.
- The first choice, after `n_min` instances, replaces the default root without the 10 % margin; the
  margin protects a candidate that earned its place, not a default.

No parameter was tuned to these datasets: the window, margin, `n_min` and threshold are the values
of the previous rounds. The choice of MLHT as the second root is not blind, though. Last round's
table showed MLHT leading the baselines in micro-F1 on these datasets. So we checked the default on
streams outside this table (below: three shared datasets the table does not use, and synthetic drifting streams).

**Against MLHAT, MLHT and the previous default (seed 1, 23 datasets, tables above).**

| `ihomer-flat` against | subset accuracy | micro-F1 | macro-F1 | Hamming loss |
|---|---|---|---|---|
| `mlhat` | 16/1/6, +0.035 | 18/1/4, +0.045 | 16/0/7, +0.036 | 19/2/2, +0.010 |
| `mlht` | 14/1/8, +0.012 | 14/0/9, +0.009 | 9/0/14, -0.014 | 16/0/7, +0.011 |
| `ihomer-oneroot` (previous default) | 14/3/6, +0.030 | 19/1/3, +0.037 | 18/1/4, +0.034 | 15/1/7, +0.009 |

Among the configurations of this file, `ihomer-flat` has the best average rank in subset accuracy
(3.26), micro-F1 (2.63) and Hamming loss (2.93). In macro-F1 MLHT alone is first (3.22 against
3.65). At the end of the streams, the 1,333 labels of the 23 datasets are served by the MLHAT root
(771), the clusters' own MLHATs (227), the MLHT root (174) and the blend (161).

**Among all our learners** (the table "Next to the baseline table" above: the 11 datasets where
every learner of `baselines.json` has a whole-stream score, enron left out because two of its
binary-relevance runs are still cut short). `ihomer-flat` ranks **first in subset accuracy** (5.27,
then iSOUP-Tree 6.77) and **first in micro-F1** (5.23, then MLHT 5.55). It is also first in
macro-F1 (4.91, then MLHT 5.18) and second in Hamming loss (5.91, behind iSOUP-Tree's 5.36). The
micro-F1 lead is small, 0.32 of a rank.

**Where it is not the best.** MLHT alone is better on the streams where it is much better than
MLHAT from the start, and which are short: virusgo (subset accuracy 0.599 against MLHT's 0.705),
plant-pseaac (0.800 against 0.842), langlog, medical, slashdot, chd49, water-quality. There every
label starts with the MLHAT root and moves to MLHT only after `n_min` instances of evidence. On
macro-F1, iHOMER loses to MLHT on 14 of 23 datasets. The per-label choice counts wrong labels,
and on a rare label the candidate that predicts it off makes fewer of them. That choice favours
Hamming loss and subset accuracy over the F1 of rare labels. `ihomer-group` (one choice per
cluster) and `ihomer-noblend` are behind the default on most datasets (12/3/8 and 16/3/4 on subset
accuracy for the default).

**Outside this table.**
- Three shared datasets this table does not use, same protocol (seed 1, whole streams):

  | dataset | `mlhat` | `mlht` | `ihomer-oneroot` | `ihomer-flat` |
  |---|---|---|---|---|
  | music (592 x 6), subset accuracy / micro-F1 | 0.260 / 0.607 | 0.150 / 0.516 | 0.265 / 0.608 | 0.265 / 0.608 |
  | gnegative-go (1,392 x 8) | 0.857 / 0.869 | 0.917 / 0.936 | 0.887 / 0.904 | 0.917 / 0.937 |
  | imdb (120,919 x 28) | 0.057 / 0.216 | 0.050 / 0.239 | 0.056 / 0.211 | 0.057 / 0.213 |

  Where MLHT is weak (music), no label moves to it and iHOMER keeps the MLHAT root's score. Where
  MLHT is strong (gnegative-go), iHOMER matches it, and beats it in micro-F1 and macro-F1 (0.874
  against 0.857). On imdb, the largest stream we have, iHOMER is at MLHAT's level and **not** at
  MLHT's micro-F1. MLHT predicts more labels on, which pays in micro-F1 (0.239) and costs subset
  accuracy (0.050). The per-label choice counts wrong labels, so it keeps the more cautious
  candidates: this is the macro-F1 weakness above, on a larger scale.
- `DriftingMultiLabelStream` (15,000 instances, 20 features, 12 labels, drifts at 5,000 and
  10,000; a one-off run of `learners.evaluate.Prequential`, not kept in the JSON), subset
  accuracy / micro-F1:

  | drift kind, seed | MLHAT | MLHT | `ihomer-oneroot` | iHOMER |
  |---|---|---|---|---|
  | features, 1 | 0.498 / 0.833 | 0.382 / 0.800 | 0.540 / 0.859 | 0.544 / 0.862 |
  | features, 2 | 0.550 / 0.855 | 0.449 / 0.829 | 0.606 / 0.890 | 0.600 / 0.889 |
  | both, 1 | 0.515 / 0.845 | 0.397 / 0.815 | 0.508 / 0.854 | 0.503 / 0.852 |
  | both, 2 | 0.595 / 0.871 | 0.474 / 0.845 | 0.620 / 0.888 | 0.612 / 0.888 |

  MLHT alone is far behind on these streams: it does not adapt, and its single regressions learn
  these dense Gaussian features more slowly than MLHAT's bagged ones. iHOMER stays with MLHAT and
  the clusters' learners there. It is within 0.008 of the previous default, either way. It is
  ahead of MLHAT alone except on one run (both kinds of drift, seed 1: 0.503 against 0.515 subset
  accuracy, 0.852 against 0.845 micro-F1).

**The hierarchy without roots** (`ihomer-noroot`, the specification's model): each cluster's
own MLHAT predicts its labels. Against MLHAT it is worse on subset accuracy on 14 datasets, better
on 5 (mean -0.003): a restructuring hands a cluster's labels to a learner that starts late, and on
sparse label sets the clusters carry little co-occurrence structure to make up for it. The root
learners are what turns the partition into a gain: the default beats `ihomer-noroot` on 18/3/2
datasets (subset accuracy, +0.037).

**Options removed** (2026-12-03), each after losing its own benchmark, and with it its code:
meta-label gating (HOMER-style, `ihomer-meta`: flat was better on subset accuracy on 17 datasets,
worse on 3, mean +0.028, and better on micro-F1 on 22, worse on none; a closed gate turns all labels
of a subtree off, whichever candidate serves them); restarting the roots on a global drift alarm
(on the four synthetic drifting streams above it changed subset accuracy by -0.008, 0.000, +0.005
and +0.010, and a false alarm throws the roots away); counting wrong instances instead of wrong
labels in the serving choice (on 8 datasets it changed subset accuracy by at most 0.004 either
way, mean +0.0001). Their rows in `ihomer.json` are kept as measured; the tables no longer show them.

The paper's released iHOMER numbers come from a short tail window, the reference notebook keeps
only the top-voted label, and its clustering runs on Pearson correlations. None of that is
reproduced here, so these numbers are not comparable with the paper's iHOMER column.

**Speed and memory** (`benchmarks/bench_ihomer.py --datasets yeast,bibtex --learners
mlhat,mlht,ihomer,ihomer-noroot`, one learner per process, 16:17-16:20 UTC, load average below
1.3, so wall and CPU rates agree):

| dataset | learner | inst/s wall | inst/s CPU | RSS MiB at 100 % | model MiB at 10 / 50 / 100 % |
|---|---|---|---|---|---|
| yeast | MLHAT | 5,359 | 5,336 | 137 | 0.30 / 0.33 / 0.33 |
| yeast | MLHT | 5,942 | 5,917 | 137 | 0.04 / 0.07 / 0.07 |
| yeast | iHOMER (default) | 815 | 814 | 138 | 1.81 / 2.17 / 2.17 |
| yeast | iHOMER without roots | 1,548 | 1,545 | 138 | 1.78 / 1.32 / 1.32 |
| bibtex | MLHAT | 1,172 | 1,172 | 182 | 20.2 / 20.2 / 20.2 |
| bibtex | MLHT | 2,380 | 2,376 | 167 | 8.2 / 8.2 / 8.2 |
| bibtex | iHOMER (default) | 267 | 267 | 242 | 147.7 / 147.6 / 147.7 |
| bibtex | iHOMER without roots | 538 | 538 | 226 | 131.0 / 90.6 / 90.7 |

The targets, 500 instances/s on yeast and 100 on bibtex, hold (815 and 267). The two roots halve
the rate of the hierarchy without roots: each predicts and learns every label of every instance,
and the serving choice scores four candidates per label (about 0.1 ms of the 1.2 ms per yeast
instance, in a profile). Memory is bounded: the model's size is flat from 10 % to 100 % of both
streams (each tree has a size limit, and a restructuring replaces learners, it does not add
them). `model_bytes` counts the full capacity of the leaves' weight arrays, which is why RSS
grows by less. Without roots, the model shrinks to 91 MiB on bibtex once the mentors hand over.

**Drift alerts with the roots.** The error monitor watches the served prediction, and with more
candidates that prediction moves when labels switch between them, without any change in the data.
On the synthetic stream of `tests/test_dashboard.py` (12 labels, drifts at 1,500 and 3,000, labels
arriving as sets), the default alarms at 1,089 (false) and 3,041, and misses the first drift; the
previous default alarmed at 1,537 and 3,041. So the live-page test now takes its drift markers from
BR-HAT. On the stream of the alert test (6 labels, drifts at 2,000 and 4,000, 6,000 instances,
seeds 1-3), global alarms were:
  - with the drifts: default [2,177], [5,025], [737, 3,137]; previous default [2,081], [4,577],
    [737, 2,401, 3,265];
  - stationary: default none, none, [961]; previous default [3,169], none, [801].

Neither detects every drift over MLHAT: MLHAT's own error jumps when its leaves switch models. Watching
the first root's error instead (tried: a false alarm at 929) or the MLHT root's (tried: no alarm
on the drifting streams) was worse. The alert test in `tests/test_ihomer.py` uses binary relevance
of logistic regressions, where the monitor alerts every drift. A detector made for an ensemble
that switches is the next step here.

**Drift alerts in an earlier round** (one MLHAT root; the error monitor is unchanged). On `stream.synthetic.DriftingMultiLabelStream` (6
labels, 8 features, drifts at 2,000 and 4,000, 6,000 instances, seeds 1-4), the first drift was
alerted 49 to 200 instances after it on 4 of 4 seeds, the second 161 to 400 after it on 3 of 4.
On the stationary stream, 2 of 4 seeds raise one error alarm near instance 700: MLHAT's own error
jumps when its leaves switch from the kNN to the bagged regressions (leaf weight 750). With
binary relevance of logistic regressions (as in `tests/test_ihomer.py`) there is no alarm on the
stationary streams, and every drift is alerted within 600 instances.
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
