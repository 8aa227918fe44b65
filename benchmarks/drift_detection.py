"""Drift detection quality: the drift monitor (learners.drift) against plain river detectors.

Streams with known change points, each run prequentially with the chosen learners; in the same
pass, on the same error streams:

* the drift monitor at three settings of its thresholds (``strict``, ``default``, ``sensitive``),
  one monitor per setting watching every learner (its ``concept`` alerts belong to a learner, the
  ``prior``, ``feature`` and label-space alerts to the data);
* river's ADWIN and Page-Hinkley on each learner's per-instance Hamming error, and ADWIN on each
  label's error (alarms within 50 records of each other merged into one that names their labels);
* the learner's own drift events of kind ``drift`` (its internal detectors).

Streams: seeded synthetic ones (``stream.synthetic``) with 4 drifts each, abrupt and gradual, in
the features, the label priors, the label dependencies, recurring, and labels born and dying;
stationary synthetic streams (false alarms); real datasets (yeast, scene), shuffled, with an injected
drift: from a known position, the two most frequent labels swap values, and so do the next two.

Measures, per detector and learner: share of drifts detected (an alarm within ``--horizon``
records of the change's start, before the next change), median and 90th-percentile delay (from the
change's start; a gradual change starts ``width / 2`` before its centre), false alarms per 10,000
stationary records, and localisation precision and recall (of the labels the alarms of a detected
change name, the share that changed; of the changed labels, the share named).

The monitor's defaults were tuned with ``--seed-offset 100`` (stream seeds 10100..10151, learner
seed 101); the committed results use the default (stream seeds 100..151, learner seed 1).

    .venv/bin/python benchmarks/drift_detection.py                       # mlhat, writes results/drift.md
    .venv/bin/python benchmarks/drift_detection.py --learners mlhat,br-ht --seed-offset 100 --no-write
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import hashlib
import itertools
import json
import pathlib
import pickle
import platform
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from river import drift as river_drift  # noqa: E402

from learners import registry  # noqa: E402
from learners.drift import DriftMonitor, StreamPosition  # noqa: E402
from learners.evaluate import shuffled  # noqa: E402
from stream.datasets import open_dataset  # noqa: E402
from stream.synthetic import DriftingMultiLabelStream  # noqa: E402

#: Threshold multipliers of the monitor's settings.
SETTINGS = {"strict": 1.2, "default": 1.0, "sensitive": 0.8}
THRESHOLDS = ("concept_threshold", "labelset_threshold", "prior_threshold", "pair_threshold", "feature_threshold")
MERGE = 50  # records within which per-label river alarms count as one


@dataclasses.dataclass
class Change:
    start: int
    kind: str
    shape: str  # abrupt / gradual
    labels: frozenset


@dataclasses.dataclass
class Scenario:
    name: str
    rows: list
    changes: list[Change]


@dataclasses.dataclass
class Alarm:
    index: int
    labels: frozenset | None  # None: the detector names no labels


def synthetic(seed: int, n: int = 8000) -> list[Scenario]:
    points = [n // 5, 2 * n // 5, 3 * n // 5, 4 * n // 5]
    common = dict(n_instances=n, n_features=10, n_labels=12, n_groups=4, drift_points=points)
    rotating = [[0], [1], [2], [3]]
    specs = {
        "abrupt features": dict(drift_kinds="features", drift_groups=rotating),
        "abrupt prior": dict(drift_kinds="prior", drift_groups=rotating),
        "abrupt dependencies": dict(drift_kinds="labels", drift_groups=rotating),
        "gradual features/prior": dict(drift_kinds=["features", "prior", "features", "prior"], drift_groups=rotating, drift_width=500),
        "recurring": dict(drift_kinds=["features", "recurring", "prior", "recurring"], drift_groups=[[0], None, [1], None]),
        "label birth/death": dict(drift_kinds=["birth", "death", "birth", "death"], absent_labels=2),
    }
    scenarios = []
    for offset, (name, spec) in enumerate(specs.items()):
        stream = DriftingMultiLabelStream(**common, **spec, seed=seed * 100 + offset)
        changes = [
            Change(c.position - c.width // 2, c.kind, "gradual" if c.width else "abrupt", frozenset(c.labels))
            for c in stream.changes
        ]
        scenarios.append(Scenario(f"{name} (seed {stream.seed})", list(stream), changes))
    return scenarios


def stationary(seed: int, n: int = 10_000) -> list[Scenario]:
    return [
        Scenario(f"stationary {shape} (seed {seed * 100 + 50 + i})",
                 list(DriftingMultiLabelStream(n, features, labels, seed=seed * 100 + 50 + i, n_groups=groups)), [])
        for i, (shape, features, labels, groups) in enumerate([("10x12", 10, 12, 4), ("20x20", 20, 20, 5)])
    ]


def injected(name: str, at: int, seed: int, length: int | None = None) -> Scenario:
    """A real dataset, shuffled with ``seed`` (several files are sorted by label set, which is a drift
    of its own), whose two most frequent labels swap values from ``at`` on, and so do the next two;
    its first ``length`` records when given."""
    rows = list(itertools.islice(shuffled(open_dataset(name), seed), length))
    frequency = {label: sum(y[label] for _, y in rows[:at]) for label in rows[0][1]}
    top = sorted(frequency, key=lambda label: (-frequency[label], str(label)))[:4]
    swap = {top[0]: top[1], top[1]: top[0], top[2]: top[3], top[3]: top[2]}
    drifted = [(x, y if i < at else {label: y[swap.get(label, label)] for label in y}) for i, (x, y) in enumerate(rows)]
    return Scenario(f"{name} shuffled (seed {seed}), labels {', '.join(map(str, top))} swapped from {at}", drifted,
                    [Change(at, "permutation", "abrupt", frozenset(map(str, top)))])


@dataclasses.dataclass
class Trace:
    """What each learner predicted for every record of a scenario (before learning it), and its own drift events."""

    predictions: dict[str, list[dict[str, bool]]]
    events: dict[str, list[tuple[int, object]]]  # learner -> (record index, DriftEvent)


def predict(scenario: Scenario, learners: list[str], seed: int, cache: pathlib.Path | None = None) -> Trace:
    """Run the learners prequentially over the scenario; with ``cache``, keep and reuse the trace there.

    The learners do not depend on the detectors, so their predictions are the same for every
    setting of the monitor: a cached trace lets detector settings be compared in seconds.
    """
    trace = Trace({}, {})
    for name in learners:
        path = None
        if cache is not None:
            key = hashlib.sha256(f"{scenario.name}\x1f{len(scenario.rows)}\x1f{name}\x1f{seed}".encode()).hexdigest()[:16]
            path = cache / f"{name}-{key}.pkl"
            if path.exists():
                predictions, events = pickle.loads(path.read_bytes())
                trace.predictions[name], trace.events[name] = predictions, events
                continue
        model = registry.make(name, seed=seed)
        predictions, events = [], []
        for i, (x, y) in enumerate(scenario.rows):
            predictions.append({str(label): bool(on) for label, on in model.predict_one(x).items()})
            model.learn_one(x, {str(label): bool(on) for label, on in y.items()})
            events.extend((i, event) for event in model.pop_events())
        trace.predictions[name], trace.events[name] = predictions, events
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps((predictions, events)))
    return trace


def run(scenario: Scenario, trace: Trace, settings: dict[str, dict] | None = None) -> dict[tuple[str, str], list[Alarm]]:
    """Alarms per (detector, learner) over one scenario, from the learners' trace.

    ``settings`` maps a monitor setting's name to its :class:`DriftMonitor` keyword arguments
    (default: :data:`SETTINGS`'s threshold scales).
    """
    learners = list(trace.predictions)
    if settings is None:
        settings = {name: {key: getattr(DriftMonitor(), key) * scale for key in THRESHOLDS} for name, scale in SETTINGS.items()}
    monitors = {setting: DriftMonitor(job="bench", **kwargs) for setting, kwargs in settings.items()}
    adwin = {name: river_drift.ADWIN() for name in learners}
    page = {name: river_drift.PageHinkley(mode="up") for name in learners}
    per_label: dict[str, dict[str, river_drift.ADWIN]] = {name: {} for name in learners}
    alarms: dict[tuple[str, str], list[Alarm]] = {}
    events = {name: collections.deque(trace.events[name]) for name in learners}

    def add(detector, learner, index, labels):
        alarms.setdefault((detector, learner), []).append(Alarm(index, labels))

    for i, (x, y) in enumerate(scenario.rows):
        y = {str(label): bool(on) for label, on in y.items()}
        predictions = {name: trace.predictions[name][i] for name in learners}
        for setting, monitor in monitors.items():
            for alert in monitor.update(x, y, predictions, StreamPosition(i), {name: i for name in learners}):
                if alert.level == "drift":
                    learner = alert.learner or "*"
                    add(f"monitor {setting}", learner, alert.last.index, frozenset(alert.labels) if alert.labels else None)
        for name in learners:
            errors = {label: predictions[name].get(label, False) != on for label, on in y.items()}
            hamming = sum(errors.values()) / max(len(errors), 1)
            adwin[name].update(hamming)
            if adwin[name].drift_detected:
                add("river ADWIN (Hamming error)", name, i, None)
            page[name].update(hamming)
            if page[name].drift_detected:
                add("river Page-Hinkley (Hamming error)", name, i, None)
            fired = []
            for label, wrong in errors.items():
                detector = per_label[name].setdefault(label, river_drift.ADWIN())
                detector.update(float(wrong))
                if detector.drift_detected:
                    fired.append(label)
            if fired:
                previous = alarms.get(("river ADWIN per label", name), [])
                if previous and i - previous[-1].index <= MERGE:
                    previous[-1] = Alarm(previous[-1].index, previous[-1].labels | frozenset(fired))
                else:
                    add("river ADWIN per label", name, i, frozenset(fired))
            while events[name] and events[name][0][0] == i:
                _, event = events[name].popleft()
                if event.kind == "drift":
                    add("learner's own detector", name, i, frozenset(event.labels) if event.labels else None)
    end = StreamPosition(len(scenario.rows) - 1)
    for setting, monitor in monitors.items():
        for alert in monitor.flush(end):
            add(f"monitor {setting}", alert.learner or "*", alert.last.index, frozenset(alert.labels) if alert.labels else None)
    return alarms


def monitor_view(alarms: dict, learner: str) -> dict[str, list[Alarm]]:
    """Per detector, the alarms that concern ``learner``: the monitor's data alarms count for every learner."""
    out: dict[str, list[Alarm]] = {}
    for (detector, owner), found in alarms.items():
        if owner in (learner, "*"):
            out.setdefault(detector, []).extend(found)
    return {detector: sorted(found, key=lambda a: a.index) for detector, found in out.items()}


def score(scenarios_alarms, horizon: int) -> dict:
    """Detection, delays, false alarms and localisation over (scenario, alarms) pairs."""
    detected, delays, stationary_records, false_alarms, named, named_right, changed, changed_named = 0, [], 0, 0, 0, 0, 0, 0
    abrupt_delays, total = [], 0
    for scenario, found in scenarios_alarms:
        n = len(scenario.rows)
        starts = [c.start for c in scenario.changes] + [n]
        covered = 0
        matched = set()
        for k, change in enumerate(scenario.changes):
            total += 1
            end = min(starts[k + 1], change.start + horizon)
            covered += end - change.start
            inside = [a for a in found if change.start <= a.index < end]
            matched.update(id(a) for a in inside)
            if not inside:
                continue
            detected += 1
            delay = inside[0].index - change.start
            delays.append(delay)
            if change.shape == "abrupt":
                abrupt_delays.append(delay)
            names = frozenset().union(*(a.labels for a in inside if a.labels is not None))
            named += len(names)
            named_right += len(names & change.labels)
            changed += len(change.labels)
            changed_named += len(names & change.labels)
        stationary_records += n - covered
        false_alarms += sum(1 for a in found if id(a) not in matched)
    return {
        "drifts": total,
        "detected": detected,
        "rate": detected / total if total else None,
        "median_delay": statistics.median(delays) if delays else None,
        "p90_delay": _percentile(delays, 0.9),
        "median_delay_abrupt": statistics.median(abrupt_delays) if abrupt_delays else None,
        "false_per_10k": false_alarms / stationary_records * 10_000 if stationary_records else None,
        "stationary_records": stationary_records,
        "precision": named_right / named if named else None,
        "recall": changed_named / changed if changed else None,
    }


def _percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _fmt(value, digits=0, percent=False):
    if value is None:
        return "–"
    if percent:
        return f"{100 * value:.0f}%"
    return f"{value:.{digits}f}"


def table(rows: list[tuple[str, str, dict]]) -> list[str]:
    lines = [
        "| detector | learner | drifts detected | median delay | p90 delay | median delay (abrupt) | false alarms / 10k | localisation precision | recall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for detector, learner, s in rows:
        lines.append(
            f"| {detector} | {learner} | {s['detected']}/{s['drifts']} ({_fmt(s['rate'], percent=True)}) | {_fmt(s['median_delay'])} | "
            f"{_fmt(s['p90_delay'])} | {_fmt(s['median_delay_abrupt'])} | {_fmt(s['false_per_10k'], 2)} | "
            f"{_fmt(s['precision'], 2)} | {_fmt(s['recall'], 2)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", default="mlhat", help="comma-separated catalogue names (default: mlhat)")
    parser.add_argument("--seed-offset", type=int, default=0, help="added to every stream seed (tuning runs use 100)")
    parser.add_argument("--horizon", type=int, default=1000, help="records after a change within which an alarm detects it")
    parser.add_argument("--length", type=int, default=8000, help="records of each synthetic drifting stream")
    parser.add_argument("--no-real", action="store_true", help="leave out the real datasets with an injected drift")
    parser.add_argument("--real", default="yeast,scene", help="the real datasets given an injected drift at record 1,400")
    parser.add_argument("--real-length", type=int, help="records of each real dataset (default: all)")
    parser.add_argument("--no-synthetic", action="store_true", help="only the real datasets (checks on other data)")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "results" / "drift.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--cache", type=pathlib.Path, help="keep the learners' predictions here and reuse them (monitor changes only)")
    args = parser.parse_args()
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    seed = 1 + args.seed_offset
    started = time.time()
    groups = {} if args.no_synthetic else {"synthetic drifts": synthetic(seed, args.length), "stationary": stationary(seed)}
    if not args.no_real:
        groups["real, injected"] = [injected(name, 1400, seed, args.real_length) for name in args.real.split(",")]
    results: dict[str, list] = {}
    for group, scenarios in groups.items():
        for scenario in scenarios:
            tick = time.time()
            alarms = run(scenario, predict(scenario, learners, seed, args.cache))
            results.setdefault(group, []).append((scenario, alarms))
            print(f"{scenario.name}: {len(scenario.rows)} records, {time.time() - tick:.0f} s", file=sys.stderr, flush=True)
    detectors = ["monitor default", "monitor strict", "monitor sensitive", "river ADWIN (Hamming error)",
                 "river Page-Hinkley (Hamming error)", "river ADWIN per label", "learner's own detector"]
    sections = {}
    for title, chosen in (("All streams", list(groups)), ("Synthetic drifts and stationary streams", ["synthetic drifts", "stationary"]),
                          ("Real datasets with an injected drift", ["real, injected"])):
        chosen = [g for g in chosen if g in results]
        if not chosen:
            continue
        rows = []
        for learner in learners:
            for detector in detectors:
                pairs = [(s, monitor_view(a, learner).get(detector, [])) for g in chosen for s, a in results[g]]
                rows.append((detector, learner, score(pairs, args.horizon)))
        sections[title] = rows
    kinds = {}
    for learner in learners:
        for scenario, alarms in results.get("synthetic drifts", []):
            name = scenario.name.split(" (")[0]
            s = score([(scenario, monitor_view(alarms, learner).get("monitor default", []))], args.horizon)
            kinds.setdefault(name, {})[learner] = s
    elapsed = time.time() - started
    lines = report(args, learners, groups, sections, kinds, elapsed)
    print("\n".join(lines))
    if not args.no_write:
        args.out.write_text("\n".join(lines) + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(
            {title: [{"detector": d, "learner": l, **s} for d, l, s in rows] for title, rows in sections.items()}, indent=1) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


def report(args, learners, groups, sections, kinds, elapsed) -> list[str]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    n_drifts = sum(len(s.changes) for g in groups.values() for s in g)
    lines = [
        "# Drift detection quality",
        "",
        f"`benchmarks/drift_detection.py --learners {','.join(learners)}` at {commit}, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{elapsed / 60:.0f} min. Horizon {args.horizon} records; {n_drifts} known drifts in all.",
        "",
        "Streams: " + "; ".join(f"{g}: " + ", ".join(f"{s.name} ({len(s.rows):,} records)" for s in ss) for g, ss in groups.items()) + ".",
        "",
        "Targets: >= 90% detected, median delay <= 250 records (abrupt), <= 1 false alarm per 10,000 stationary "
        "records, localisation precision >= 0.8. The monitor's settings scale all its thresholds: strict x1.2, "
        "default x1.0, sensitive x0.8. A `–` is a detector that names no labels (or detected nothing).",
        "",
    ]
    for title, rows in sections.items():
        lines += [f"## {title}", ""] + table(rows) + [""]
    if kinds:
        lines += ["## The monitor (default) by synthetic stream", "",
                  "| stream | learner | detected | median delay | false alarms / 10k outside the changes | precision | recall |",
                  "|---|---|---|---|---|---|---|"]
        for name, per in kinds.items():
            for learner, s in per.items():
                lines.append(f"| {name} | {learner} | {s['detected']}/{s['drifts']} | {_fmt(s['median_delay'])} | "
                             f"{_fmt(s['false_per_10k'], 2)} | {_fmt(s['precision'], 2)} | {_fmt(s['recall'], 2)} |")
        lines.append("")
    return lines


if __name__ == "__main__":
    main()
