"""Fidelity of our MLHAT to the reference implementation the iHOMER paper released.

The reference (the ``larasneves/iHomer`` repository: its ``code/multioutput/mlhat.py``, adapted
from the MLHAT authors' code) is an external oracle: this script never imports it. For each dataset
it starts a child process whose import path is the reference's ``code`` folder, which builds the
reference ``MLHAT()`` with its own defaults (after ``random.seed(42)``, as the reference notebook
does: its default bagging seed is drawn from ``random`` when the module is imported), and runs it
test-then-train over the dataset as our readers stream it, scoring with our ``MetricSuite``. The
child gets ``--budget`` seconds; where it does not finish, both learners are compared on the prefix
it reached. Then our ``mlhat`` (the catalogue's defaults, seed 1) runs over the same instances,
scored the same way, and the two go side by side in ``benchmarks/results/fidelity.md``; the target is
a gap within 0.01 subset accuracy and micro-F1.

The reference needs ``pandas`` besides river and numpy; ``--python`` names the interpreter to run
it with, and ``--pythonpath`` adds folders to its import path (an environment of its own).

Run it from the repository root::

    .venv/bin/python benchmarks/fidelity.py --reference ../iHomer --datasets flags,emotions,yeast
    .venv/bin/python benchmarks/fidelity.py --reference ../iHomer --datasets scene --limit 1000
    .venv/bin/python benchmarks/fidelity.py --reference ../iHomer --datasets chd49,emotions --seeds 8

With ``--seeds N`` both sides run over seeds 0..N-1 instead (the "Over seeds" table): on a few
hundred instances one seed's bagging draws can move subset accuracy by more than the bound.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

import whole_stream
from learners import registry
from learners.metrics import MetricSuite

RESULTS_DIR = pathlib.Path(__file__).parent / "results"
JSON_PATH = RESULTS_DIR / "fidelity.json"
REPO = pathlib.Path(__file__).resolve().parent.parent
SCORES = ("subset_accuracy", "micro_f1", "macro_f1", "hamming_loss")
TOLERANCE = 0.01
#: The seed the reference notebook gives ``random`` before importing its MLHAT.
REFERENCE_SEED = 42


def reference_code(reference: pathlib.Path) -> pathlib.Path:
    """The folder of a reference checkout that holds ``multioutput/mlhat.py``."""
    for folder in (reference / "code", reference):
        if (folder / "multioutput" / "mlhat.py").is_file():
            return folder.resolve()
    raise SystemExit(f"{reference} holds no code/multioutput/mlhat.py: point --reference at a larasneves/iHomer checkout")


def prequential(model, stream, predict) -> tuple[dict, int, float]:
    """Test-then-train ``model`` over ``stream``; its final scores, instances and seconds."""
    suite = MetricSuite(window=None)
    started = time.perf_counter()
    for x, y in stream:
        suite.update(y, predict(model, x))
        model.learn_one(x, y)
    return suite.get(), suite.n, time.perf_counter() - started


def run_reference(dataset: str, limit: int | None, budget: float, seed: int | None = None) -> dict:
    """In the child process: the reference MLHAT over ``dataset`` (at most ``limit`` instances).

    ``seed`` None: its own defaults after ``random.seed(42)``. A seed ``s``: ``random.seed(42 + s)``
    (which draws its bagging seed) and ``MLHAT(seed=s)`` (its tree's Poisson weights).
    """
    import itertools
    import random

    random.seed(REFERENCE_SEED + (seed or 0))
    from multioutput.mlhat import MLHAT  # the reference's, from the child's import path

    data, instances = whole_stream.open_stream(dataset)
    stream = whole_stream.Budgeted(instances if limit is None else itertools.islice(instances, limit), budget)
    scores, n, seconds = prequential(
        MLHAT() if seed is None else MLHAT(seed=seed), stream,
        lambda model, x: {label: bool(value) for label, value in model.predict_one(x).items()},
    )
    return {"scores": scores, "instances": n, "seconds": seconds, "timed_out": stream.timed_out,
            "stream_instances": data.n_instances}


def run_ours(dataset: str, instances: int, seed: int = 1) -> dict:
    import itertools

    _, stream = whole_stream.open_stream(dataset)
    scores, n, seconds = prequential(
        registry.make("mlhat", seed=seed), itertools.islice(stream, instances), lambda model, x: model.predict_one(x)
    )
    return {"scores": scores, "instances": n, "seconds": seconds}


def child_command(args, dataset: str, seed: int | None = None) -> tuple[list[str], dict]:
    code = reference_code(args.reference)
    command = [args.python, str(pathlib.Path(__file__).resolve()), "--child", dataset, "--budget", str(args.budget)]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    if seed is not None:
        command += ["--seed", str(seed)]
    # This repository first (the reference has a top-level ``stream`` package too, which must not
    # hide ours), then the reference's folder for its own packages (multioutput, metrics,
    # neighbors, linear_model: no clash), then what the user adds.
    path = [str(REPO), str(REPO / "benchmarks"), str(code), *args.pythonpath]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return command, env


def run_seeds(args, dataset: str) -> dict:
    """Both sides over seeds 0..``args.seeds - 1`` on the same instances: each side's scores per seed."""
    reference, ours = [], []
    for seed in range(args.seeds):
        command, env = child_command(args, dataset, seed)
        child = subprocess.run(command, env=env, capture_output=True, text=True, cwd=reference_code(args.reference))
        if child.returncode != 0:
            return {"error": (child.stderr.strip().splitlines() or ["no output"])[-1]}
        run = json.loads(child.stdout.strip().splitlines()[-1])
        reference.append(run["scores"])
        ours.append(run_ours(dataset, run["instances"], seed)["scores"])
        print(
            f"{dataset} seed {seed}: subset accuracy reference {reference[-1]['subset_accuracy']:.4f} "
            f"ours {ours[-1]['subset_accuracy']:.4f}", flush=True,
        )
    return {"instances": run["instances"], "timed_out": run["timed_out"], "reference": reference, "ours": ours,
            "commit": whole_stream.head_commit()}


def _spread(runs: list[dict], score: str) -> tuple[float, float, float]:
    values = [run[score] for run in runs]
    return sum(values) / len(values), min(values), max(values)


def render_seed_table(document: dict) -> list[str]:
    seed_runs = document.get("seed_runs", {})
    if not seed_runs:
        return []
    lines = [
        "## Over seeds",
        "",
        "Both sides over seeds 0..k-1 on the same instances (the reference with `random.seed(42 + s)` and "
        "`MLHAT(seed=s)`, ours with `seed=s`): mean and (min-max) per side, and the gap of the means. "
        "Where one seed's gap is outside the bound but the spreads overlap, the gap is the seed's draw.",
        "",
        "| dataset | instances | seeds | reference subset acc. | ours | gap of means | reference micro-F1 | ours | gap of means | within |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in seed_runs.items():
        if "error" in run:
            lines.append(f"| {name} | - | - | reference failed: `{run['error']}` | | | | | | |")
            continue
        cells, within = [], True
        for score in ("subset_accuracy", "micro_f1"):
            ref, ours = _spread(run["reference"], score), _spread(run["ours"], score)
            gap = ours[0] - ref[0]
            within = within and abs(gap) <= TOLERANCE
            cells += [f"{ref[0]:.4f} ({ref[1]:.4f}-{ref[2]:.4f})", f"{ours[0]:.4f} ({ours[1]:.4f}-{ours[2]:.4f})", f"{gap:+.4f}"]
        lines.append(
            f"| {name} | {run['instances']:,} | {len(run['ours'])} | " + " | ".join(cells) + f" | {'yes' if within else '**no**'} |"
        )
    return lines + [""]


def render_markdown(document: dict) -> str:
    lines = [
        "# MLHAT fidelity: ours against the reference implementation",
        "",
        "Generated by `benchmarks/fidelity.py` from `fidelity.json`; the discussion at the end is its `NOTES`.",
        "",
        "Protocol: the reference `MLHAT()` of the larasneves/iHomer repository (commit "
        f"`{document.get('reference_commit', 'unknown')}`), run in its own process with its own defaults after "
        f"`random.seed({REFERENCE_SEED})`, and our `mlhat` (catalogue defaults, seed 1), each test-then-train "
        "over the same instances (our ARFF readers, file order), scored by the same `MetricSuite`. Where the "
        "reference ran out of its wall-time budget both are scored on the prefix it reached. Target: "
        f"|ours - reference| <= {TOLERANCE} in subset accuracy and micro-F1.",
        "",
        "| dataset | instances | reference subset acc. | ours | gap | reference micro-F1 | ours | gap | within |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in document["runs"].items():
        if "error" in run:
            lines.append(f"| {name} | - | reference failed: `{run['error']}` | | | | | | |")
            continue
        ref, ours = run["reference"]["scores"], run["ours"]["scores"]
        gaps = {score: ours[score] - ref[score] for score in ("subset_accuracy", "micro_f1")}
        within = all(abs(gap) <= TOLERANCE for gap in gaps.values())
        prefix = "" if not run["reference"]["timed_out"] else f" of {run['reference']['stream_instances']:,} (prefix)"
        lines.append(
            f"| {name} | {run['reference']['instances']:,}{prefix} | {ref['subset_accuracy']:.4f} | "
            f"{ours['subset_accuracy']:.4f} | {gaps['subset_accuracy']:+.4f} | {ref['micro_f1']:.4f} | "
            f"{ours['micro_f1']:.4f} | {gaps['micro_f1']:+.4f} | {'yes' if within else '**no**'} |"
        )
    lines += [
        "",
        "Seconds (reference / ours, wall time of the learner loop on the shared machine): "
        + "; ".join(
            f"{name} {run['reference']['seconds']:.0f} / {run['ours']['seconds']:.0f}"
            for name, run in document["runs"].items() if "error" not in run
        ),
        "",
        *render_seed_table(document),
        NOTES,
    ]
    return "\n".join(lines) + "\n"


#: What the runs showed; rewrite it when the numbers change.
NOTES = """## Discussion

Run on 2026-12-03 against a snapshot of larasneves/iHomer at 745e2a6, with river 0.26.1 and numpy
2.4 (the reference asks for river >= 0.15; it also imports pandas, installed beside it for the
child process only), on the shared 2-core machine under heavy load (load average 14-35): the
reference got 600 s of wall time per dataset, which cut enron short (1,078 of 1,702 instances).
The main table's reference runs are those of the first pass; our side was rerun (`--ours-only`)
after each fix below, on the same instances. The "Over seeds" table was run after the second fix.

**Divergence 1, fixed: the range of the split test.** The reference MLHAT's Hoeffding bound
takes its range as log2 of the number of distinct label sets the leaf has seen; ours took log2 of
the number of labels (which is what MLHT, and river's criterion, use). With many label sets the
reference's bound is wider, so its tree splits later and its leaves grow past the 750 instances
from which the bagged logistic regressions predict. On water-quality the reference tree never
split while ours had 4 leaves; gaps before / after the fix, subset accuracy and micro-F1:
water-quality -0.028 / -0.037 -> +0.003 / +0.005, medical -0.028 / -0.023 -> +0.003 / +0.005.

**Divergence 2, fixed: how a split is scored.** On emotions the reference tree splits once and
ours never did. Fed the same 400 instances, the two roots' best merit per feature differed (their
correlation was 0.71): the reference's best was `BH_HighLowRatio` at 1.19, ours 0.04 for that feature.
The reference scores with river's `GaussianSplitter`, one Gaussian per (feature, class), where the
classes are each label that is on, `empty` (no label on) and `total` (every instance), over the
values each instance carries (the zeros of a dense row included), and each class keeps its own
value range: a threshold outside it sends the class whole to one side. `BH_HighLowRatio` takes the
values 2 and 3 but once 0; the thresholds between 0 and 2 send every label right while `total`'s
Gaussian leaves a quarter of the weight on the left, so the left side holds `total` and one class,
which the reference's entropy counts as pure (its entropy also divides by the side's largest class
weight, not by its total). Ours modelled zeros as a point mass beside a Gaussian of the non-zero
values, with one range per feature and no `empty` class. MLHAT now scores as the reference
(`learners/class_gaussian_split.py`; MLHT keeps its own criterion); fed the same instances, the
merits of every feature agree to 1e-13 on emotions, yeast, chd49 and scene, and the same features
win. With it came the reference's other split rules: a new leaf starts from the class weights the
split estimated for it (they count in its entropy and its model choice) and first tries to split
once it has learned that much weight plus the grace period; a leaf where one class holds over
99 % of the weight stops trying; the new branch learns the instance that made it split once more.
On sparse rows (medical, enron) the reference sees only non-zero values, so a 0/1 word feature has
one value and never splits; so does ours now. emotions: -0.012 / -0.018 -> -0.003 / -0.004.

**chd49, the seed's draw.** chd49's tree never splits, on either side: its one leaf predicts with
the label-combination kNN until its Poisson-weighted count passes 750 (near the end of the 555
instances) and with the bagged regressions after, so the seeds move subset accuracy by 0.02 on
both sides (reference 0.142-0.166, ours 0.148-0.169). Over 8 seeds the means are within 0.006
(table above); the main table's single seed (+0.011) is one draw of that spread.

**Known differences left** (none moves a score past the bound on these datasets): the reference
starts an alternate subtree on any rise of a branch's running error, ours on an ADWIN warning; the
reference weights each leaf's vote by its parent branch's error, ours by the leaf's own; an empty
leaf predicts every label off in the reference, the estimate its parent gave it in ours.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=pathlib.Path, help="a checkout of github.com/larasneves/iHomer")
    parser.add_argument("--datasets", default="flags,emotions,yeast", help="comma-separated dataset names")
    parser.add_argument("--limit", type=int, default=None, help="at most this many instances per dataset")
    parser.add_argument("--budget", type=float, default=900.0, help="wall seconds the reference gets per dataset")
    parser.add_argument("--reference-commit", help="the reference's commit, when --reference is an exported copy")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the reference")
    parser.add_argument("--pythonpath", action="append", default=[], help="extra import folder for the reference")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the markdown from the JSON")
    parser.add_argument(
        "--ours-only", action="store_true", help="run only our side again, against the reference runs recorded"
    )
    parser.add_argument("--results", type=pathlib.Path, default=JSON_PATH, help="the JSON file (the markdown goes beside it)")
    parser.add_argument(
        "--seeds", type=int, default=0,
        help="run both sides over seeds 0..N-1 for the 'Over seeds' table (instead of the main table's run)",
    )
    parser.add_argument("--child", metavar="DATASET", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_reference(args.child, args.limit, args.budget, args.seed)))
        return 0
    document = whole_stream.load(args.results, {"runs": {}})
    if args.ours_only:
        for dataset, run in document["runs"].items():
            if "error" not in run:
                run["ours"] = run_ours(dataset, run["reference"]["instances"])
                run["commit"] = whole_stream.head_commit()
                print(f"{dataset}: ours {run['ours']['scores']['subset_accuracy']:.4f} {run['ours']['scores']['micro_f1']:.4f}")
        for dataset, run in document.get("seed_runs", {}).items():
            if "error" not in run:
                run["ours"] = [run_ours(dataset, run["instances"], seed)["scores"] for seed in range(len(run["ours"]))]
                run["commit"] = whole_stream.head_commit()
        whole_stream.save(document, args.results)
    elif not args.report_only:
        if args.reference is None:
            parser.error("--reference DIR is required (a checkout of larasneves/iHomer)")
        code = reference_code(args.reference)
        commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        document["reference_commit"] = args.reference_commit or commit.stdout.strip() or "not a git checkout"
        for dataset in (d.strip() for d in args.datasets.split(",") if d.strip()):
            if args.seeds:
                document.setdefault("seed_runs", {})[dataset] = run_seeds(args, dataset)
                whole_stream.save(document, args.results)
                continue
            command, env = child_command(args, dataset)
            child = subprocess.run(command, env=env, capture_output=True, text=True, cwd=code)
            if child.returncode != 0:
                error = (child.stderr.strip().splitlines() or ["no output"])[-1]
                document["runs"][dataset] = {"error": error}
                print(f"{dataset}: reference failed: {error}", flush=True)
            else:
                reference = json.loads(child.stdout.strip().splitlines()[-1])
                ours = run_ours(dataset, reference["instances"])
                document["runs"][dataset] = {
                    "reference": reference, "ours": ours, "limit": args.limit, "commit": whole_stream.head_commit(),
                    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                }
                print(
                    f"{dataset}: {reference['instances']} instances, subset accuracy reference "
                    f"{reference['scores']['subset_accuracy']:.4f} ours {ours['scores']['subset_accuracy']:.4f}, "
                    f"micro-F1 reference {reference['scores']['micro_f1']:.4f} ours {ours['scores']['micro_f1']:.4f}",
                    flush=True,
                )
            whole_stream.save(document, args.results)
    markdown = args.results.with_suffix(".md")
    markdown.write_text(render_markdown(document))
    print(f"wrote {args.results} and {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
