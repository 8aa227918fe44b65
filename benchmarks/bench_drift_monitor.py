"""The learner stage with and without the drift monitor, its batch form against its per-record form.

Four learner stages (``jobs.stages.learner.LearnerStage``, in process, no Ray) take the same
micro-batches of a dataset's records, one batch each in turn so that the machine's load falls on
all alike:

* ``no monitor``: ``drift.enabled = false``;
* ``before``: the monitor of ``--before`` (a git revision, default c0482a2: before the batch form)
  fed record by record as the stage did then (``StageMonitor.record`` / ``clusters_from`` + ``labelled``);
* ``per-record monitor``: today's monitor fed record by record the same way;
* ``batch monitor``: the stage as it is, one ``StageMonitor.observe`` per micro-batch
  (``learners.drift.batch``).

It reports the CPU time (``time.process_time``) per record of ``process()`` for each stage, the
ratios, and checks that the three monitors raised the same alerts (event ids, labels and statistics).

    nice -n 10 .venv/bin/python benchmarks/bench_drift_monitor.py --datasets yeast,bibtex,delicious --records 2000
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import itertools
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.drift_stage import DriftConfig, StageMonitor  # noqa: E402
from jobs.stages.learner import LearnerStage  # noqa: E402
from jobs.stages.messages import Batch  # noqa: E402
from learners.evaluate import shuffled  # noqa: E402
from stream.datasets import open_dataset  # noqa: E402
from stream.records import Record  # noqa: E402

TOPIC = "tagstream.records"


def monitor_at(rev: str):
    """The ``DriftMonitor`` class of ``learners/drift`` at git revision ``rev``, imported from a copy."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="drift-before-"))
    package = folder / "drift_before"
    package.mkdir()
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:learners/drift"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        text = subprocess.run(["git", "show", f"{rev}:learners/drift/{name}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
        (package / name).write_text(text.replace("learners.drift", "drift_before"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("drift_before").DriftMonitor


class PerRecordMonitor(StageMonitor):
    """The stage's monitor fed as before its batch form: each observation through the per-record
    calls, of the monitor at another revision when ``monitor_class`` is given."""

    def __init__(self, job: str, config: DriftConfig, monitor_class=None):
        super().__init__(job, config)
        if monitor_class is not None:
            self.monitor = monitor_class(job=job, **config.monitor_settings())

    def inputs_observation(self, x, where, record_id, ts):
        return ("inputs", x, where, record_id, ts)

    def labels_observation(self, labels, predictions, where, record_id, ts, versions, models):
        self.clusters_from(models, 1)
        return ("labels", labels, predictions, where, record_id, ts, versions)

    def observe(self, observations):
        alerts = []
        for kind, *args in observations:
            alerts += self.record(*args) if kind == "inputs" else self.labelled(*args)
        return alerts


def batches(name: str, records: int, batch_size: int, seed: int) -> list[Batch]:
    rows = itertools.islice(shuffled(open_dataset(name), seed), records)
    out, chunk = [], []
    for i, (x, y) in enumerate(rows):
        chunk.append(Record(f"r{i}", features={str(k): float(v) for k, v in x.items()},
                            labels=tuple(str(label) for label, on in y.items() if on)))
        if len(chunk) == batch_size:
            out.append(chunk)
            chunk = []
    if chunk:
        out.append(chunk)
    made, offset = [], 0
    for chunk in out:
        made.append(Batch(chunk, [1.7e9 + offset + k for k in range(len(chunk))], time.time(),
                          positions=[(TOPIC, 0, offset + k) for k in range(len(chunk))]))
        offset += len(chunk)
    return made


def measure(name: str, learners: list[str], records: int, batch_size: int, seed: int, before) -> dict:
    stages = {key: LearnerStage(learners, seed, 200, 10**9, drift=DriftConfig(enabled=key != "no monitor"), job="bench")
              for key in ("no monitor", "before", "per-record monitor", "batch monitor")}
    stages["before"]._drift = PerRecordMonitor("bench", DriftConfig(), before)
    stages["per-record monitor"]._drift = PerRecordMonitor("bench", DriftConfig())
    cpu = dict.fromkeys(stages, 0.0)
    alerts = {key: [] for key in stages}
    taken = 0
    for batch in batches(name, records, batch_size, seed):
        for key, stage in stages.items():
            started = time.process_time()
            scored, _ = stage.process(batch)
            cpu[key] += time.process_time() - started
            alerts[key] += scored.alerts
        taken += len(batch.records)
    same = alerts["before"] == alerts["per-record monitor"] == alerts["batch monitor"]
    return {"dataset": name, "records": taken, "labels": len(stages["batch monitor"]._universe.labels),
            "ms": {key: 1000 * seconds / taken for key, seconds in cpu.items()},
            "alerts": len(alerts["batch monitor"]), "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="yeast,bibtex,delicious")
    parser.add_argument("--learners", default="mlhat", help="the stage's learners (default: the job's default, mlhat)")
    parser.add_argument("--records", type=int, default=2000, help="records of each dataset (shuffled, seed 1), from the start")
    parser.add_argument("--batch-size", type=int, default=500, help="records per micro-batch (the job's default: 500)")
    parser.add_argument("--before", default="c0482a2", help="git revision of the monitor before the batch form (default: c0482a2)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the markdown table here")
    args = parser.parse_args()
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    before = monitor_at(args.before)
    lines = [
        "| dataset | records | labels | no monitor (ms/record) | monitor before | per-record monitor | batch monitor | "
        "stage / no monitor: before, per-record, batch | monitor's own cost: batch / before, batch / per-record | same alerts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.datasets.split(","):
        r = measure(name, learners, args.records, args.batch_size, 1, before)
        ms = r["ms"]
        base = ms["no monitor"]
        own = {key: ms[key] - base for key in ("before", "per-record monitor", "batch monitor")}
        lines.append(
            f"| {name} | {r['records']:,} | {r['labels']} | {base:.2f} | {ms['before']:.2f} | {ms['per-record monitor']:.2f} | "
            f"{ms['batch monitor']:.2f} | {ms['before'] / base:.2f}x, {ms['per-record monitor'] / base:.2f}x, {ms['batch monitor'] / base:.2f}x | "
            f"{own['batch monitor'] / own['before']:.2f}, {own['batch monitor'] / own['per-record monitor']:.2f} | "
            f"{'yes' if r['same'] else 'NO'} ({r['alerts']} alerts) |"
        )
        print(lines[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    header = (f"`benchmarks/bench_drift_monitor.py --datasets {args.datasets} --learners {','.join(learners)} "
              f"--records {args.records} --batch-size {args.batch_size}` at {commit}, "
              f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
              f"load {os.getloadavg()[0]:.1f}. CPU time of `LearnerStage.process` per record.")
    print(header)
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text(header + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
