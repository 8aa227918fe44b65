"""Soak benchmark: a follow pipeline fed at a fixed rate for a long time, sampled every few seconds.

Run: ``nice -n 10 .venv/bin/python benchmarks/soak.py [--minutes 30] [--rate 100] [--learners cc]``.

A producer thread sends a dataset (yeast by default, cycled, ids made unique) into the input
topic at ``--rate`` records/s for ``--minutes`` minutes, while a follow run of the pipeline with
checkpoints (every ``--checkpoint-every`` s) learns from it. Every ``--sample-every`` seconds
(default 10) a sampler records:

* the resident set size (RSS, from ``/proc``) of every actor process and of the driver,
* the consumer lag (the pipeline's sampled gauge),
* p50 and p99 end-to-end latency of the records predicted since the previous sample,
* the size of the newest checkpoint of every stage that checkpoints,
* the CPU time every process used (``/proc/<pid>/stat``) and the time its threads waited for a
  CPU while runnable (``/proc/<pid>/task/*/schedstat``), and the machine's CPU pressure (the share
  of time some task waited for a CPU, ``/proc/pressure/cpu``).

The last three tell a latency that grows because each record costs more (a model, a queue or a
checkpoint that grows: CPU milliseconds per record rise) from one that grows because the machine
is busy (CPU per record flat, waiting and pressure up): the verdict compares both between the
first and the last third of the measured span.

At the end it writes ``soak.json`` (every sample), ``soak.png`` (the curves) and ``soak.md`` (a
table of the samples at every minute and the verdict) to ``--out``. Targets: RSS growth under 10 %
from the 10th minute (``--baseline-minute``) to the end for each actor of a bounded learner, and
a steady p99 (the p99 of the last third of that span within 1.5x of the first third's).

Everything runs on one embedded broker and one local Ray (``--num-cpus``, default 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import pathlib
import platform
import statistics
import tempfile
import threading
import time
import uuid

import numpy as np
import ray

from jobs.broker import EmbeddedBroker
from jobs.config import JobConfig
from jobs.pipeline.driver import init_ray, run_pipeline
from jobs.pipeline.lifecycle import actor_name, learner_groups
from jobs.produce import dataset_records, produce
from jobs.telemetry import PipelineMetrics
from stream.kafka import KafkaConfig, TopicNames, ensure_topics

#: Most a stage's RSS may grow from the baseline minute to the end (bounded learners).
RSS_GROWTH_TARGET = 0.10

#: Most the p99 latency of the last third may exceed that of the first third of the measured span.
P99_DRIFT_TARGET = 1.5

#: Most the pipeline's CPU time per record may grow from the first to the last third (the work of
#: one record stays the same for a bounded learner).
CPU_PER_RECORD_TARGET = 1.2

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class RecordingMetrics(PipelineMetrics):
    """Pipeline metrics that also hand over the end-to-end latencies observed since the last call."""

    def __init__(self, window: int):
        super().__init__(window)
        self._lock = threading.Lock()
        self._latencies: list[float] = []

    def observe_published(self, predictions, latencies_s):
        latencies_s = list(latencies_s)
        with self._lock:
            self._latencies.extend(latencies_s)
        super().observe_published(predictions, latencies_s)

    def take_latencies(self) -> list[float]:
        with self._lock:
            taken, self._latencies = self._latencies, []
        return taken


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process, from ``/proc/<pid>/status`` (``None`` once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, all its threads (``None`` once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat(5)


def cpu_wait_seconds(pid: int) -> float | None:
    """Time the threads of a process spent runnable but waiting for a CPU (the run-queue delay of
    ``/proc/<pid>/task/*/schedstat``); ``None`` when gone or when the kernel keeps no schedstats."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return None
    waited = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as schedstat:
                waited += int(schedstat.read().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # a thread that ended meanwhile
    return waited / 1e9


def cpu_pressure_seconds() -> float | None:
    """Total time some task of the machine waited for a CPU (``/proc/pressure/cpu``), if the kernel tells."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            some = pressure.readline().split()
    except OSError:
        return None
    return int(some[-1].split("=")[1]) / 1e6


def actor_pids(config: JobConfig) -> dict[str, int]:
    """Process id of every actor of the running pipeline, by the actor's stage name (``learner-0``, ...)."""
    names = [("consumer", i) for i in range(config.consumers)]
    names += [("extractor", 0), ("publisher", 0)]
    names += [("learner", i) for i in range(len(learner_groups(config.learners)))]
    pids = {}
    for stage, index in names:
        try:
            actor = ray.get_actor(actor_name(config, stage, index))
            pids[f"{stage}-{index}"] = ray.get(actor.__ray_call__.remote(lambda self: os.getpid()), timeout=60)
        except (ValueError, ray.exceptions.RayError):
            continue  # not started yet, or being restarted: sampled next time
    return pids


def newest_checkpoint_bytes(root: pathlib.Path) -> dict[str, int]:
    """Per stage folder under ``root``, the size of its newest checkpoint file."""
    sizes = {}
    if not root.is_dir():
        return sizes
    for stage in sorted(path for path in root.iterdir() if path.is_dir()):
        files = [path for path in stage.iterdir() if path.is_file()]
        if files:
            sizes[stage.name] = max(files, key=lambda path: path.stat().st_mtime).stat().st_size
    return sizes


@dataclasses.dataclass
class Sample:
    t_s: float
    records_in: int
    predictions_out: int
    lag: float | None
    p50_ms: float | None
    p99_ms: float | None
    latencies: int
    rss: dict[str, int]
    checkpoint_bytes: dict[str, int]
    cpu_s: dict[str, float] = dataclasses.field(default_factory=dict)
    cpu_wait_s: dict[str, float] = dataclasses.field(default_factory=dict)
    cpu_pressure_s: float | None = None


class Sampler(threading.Thread):
    """Takes a :class:`Sample` every ``every_s`` seconds until ``stop`` is set."""

    def __init__(self, config: JobConfig, metrics: RecordingMetrics, checkpoints: pathlib.Path, every_s: float, stop):
        super().__init__(name="soak-sampler", daemon=True)
        self.config = config
        self.metrics = metrics
        self.checkpoints = checkpoints
        self.every_s = every_s
        self.stop = stop
        self.samples: list[Sample] = []
        self._pids: dict[str, int] = {}
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.samples.append(self.sample())

    def sample(self) -> Sample:
        rss = {"driver": rss_bytes(os.getpid())}
        if len(self._pids) < 3 + len(self.config.learners) or any(rss_bytes(pid) is None for pid in self._pids.values()):
            self._pids = actor_pids(self.config)
        rss |= {name: rss_bytes(pid) for name, pid in self._pids.items()}
        pids = {"driver": os.getpid(), **self._pids}
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        waited = {name: cpu_wait_seconds(pid) for name, pid in pids.items()}
        latencies = np.array(self.metrics.take_latencies()) * 1000
        lag = self.metrics.value("tagstream_consumer_lag_records", partition="0")
        return Sample(
            t_s=time.monotonic() - self.started_at,
            records_in=int(self.metrics.value("tagstream_records_in_total") or 0),
            predictions_out=int(self.metrics.value("tagstream_predictions_out_total") or 0),
            lag=lag,
            p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
            p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
            latencies=len(latencies),
            rss={name: value for name, value in rss.items() if value is not None},
            checkpoint_bytes=newest_checkpoint_bytes(self.checkpoints),
            cpu_s={name: value for name, value in cpu.items() if value is not None},
            cpu_wait_s={name: value for name, value in waited.items() if value is not None},
            cpu_pressure_s=cpu_pressure_seconds(),
        )


def paced_records(dataset: str, stop: threading.Event):
    """The dataset's records cycled with unique ids, until ``stop`` is set."""
    rows = list(dataset_records(dataset))
    for turn in itertools.count():
        for row in rows:
            if stop.is_set():
                return
            yield dataclasses.replace(row, id=f"soak-{turn}-{row.id}")


def _median(values: list[float]) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def per_record_ms(first: Sample, last: Sample, field: str) -> float | None:
    """Milliseconds of ``field`` (``cpu_s`` or ``cpu_wait_s``), summed over the processes seen in
    both samples, per record predicted between them; ``None`` without predictions or when an
    actor was restarted between them (a new process starts its clock from zero)."""
    records = last.predictions_out - first.predictions_out
    before, after = getattr(first, field), getattr(last, field)
    names = before.keys() & after.keys()
    if records <= 0 or not names or any(after[name] < before[name] for name in names):
        return None
    return 1000 * sum(after[name] - before[name] for name in names) / records


def pressure_share(first: Sample, last: Sample) -> float | None:
    """Share of the time between two samples in which some task of the machine waited for a CPU."""
    if first.cpu_pressure_s is None or last.cpu_pressure_s is None or last.t_s <= first.t_s:
        return None
    return (last.cpu_pressure_s - first.cpu_pressure_s) / (last.t_s - first.t_s)


def verdict(samples: list[Sample], baseline_s: float) -> dict:
    """RSS growth per process from ``baseline_s`` to the end, and the p99 of the first and last thirds of that span.

    Each end is the median of three samples, so that one sample taken during a garbage collection
    or a checkpoint write does not decide it.
    """
    measured = [sample for sample in samples if sample.t_s >= baseline_s]
    if len(measured) < 6:
        return {"error": f"only {len(measured)} samples after the baseline minute: run longer"}
    head, tail = measured[:3], measured[-3:]
    growth = {}
    for name in sorted({name for sample in measured for name in sample.rss}):
        start, end = _median([s.rss.get(name) for s in head]), _median([s.rss.get(name) for s in tail])
        if start and end:
            growth[name] = {"start_mib": start / 2**20, "end_mib": end / 2**20, "growth": end / start - 1}
    third = max(1, len(measured) // 3)
    p99_first = _median([s.p99_ms for s in measured[:third]])
    p99_last = _median([s.p99_ms for s in measured[-third:]])
    actors = {name: row for name, row in growth.items() if name != "driver"}
    first, last = measured[:third], measured[-third:]
    cpu_first, cpu_last = per_record_ms(first[0], first[-1], "cpu_s"), per_record_ms(last[0], last[-1], "cpu_s")
    return {
        "rss": growth,
        "rss_ok": all(row["growth"] < RSS_GROWTH_TARGET for row in actors.values()),
        "p99_first_third_ms": p99_first,
        "p99_last_third_ms": p99_last,
        "p99_ok": p99_first is not None and p99_last is not None and p99_last <= P99_DRIFT_TARGET * p99_first,
        "cpu_ms_per_record_first_third": cpu_first,
        "cpu_ms_per_record_last_third": cpu_last,
        "cpu_per_record_ok": cpu_first is not None and cpu_last is not None and cpu_last <= CPU_PER_RECORD_TARGET * cpu_first,
        "cpu_wait_ms_per_record_first_third": per_record_ms(first[0], first[-1], "cpu_wait_s"),
        "cpu_wait_ms_per_record_last_third": per_record_ms(last[0], last[-1], "cpu_wait_s"),
        "cpu_pressure_first_third": pressure_share(first[0], first[-1]),
        "cpu_pressure_last_third": pressure_share(last[0], last[-1]),
    }


def plot(samples: list[Sample], baseline_s: float, path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [sample.t_s / 60 for sample in samples]
    fig, (rss_ax, lat_ax, cpu_ax, lag_ax, ckpt_ax) = plt.subplots(5, 1, figsize=(9, 13), sharex=True)
    for name in sorted({name for sample in samples for name in sample.rss}):
        rss_ax.plot(minutes, [s.rss.get(name, np.nan) / 2**20 for s in samples], label=name)
    rss_ax.set_ylabel("RSS (MiB)")
    rss_ax.legend(fontsize="small", ncol=3)
    lat_ax.plot(minutes, [np.nan if s.p50_ms is None else s.p50_ms for s in samples], label="p50")
    lat_ax.plot(minutes, [np.nan if s.p99_ms is None else s.p99_ms for s in samples], label="p99")
    lat_ax.set_ylabel("latency (ms)")
    lat_ax.set_yscale("log")
    lat_ax.legend(fontsize="small")
    pairs = list(zip(samples, samples[1:]))
    for field, label in (("cpu_s", "CPU ms per record"), ("cpu_wait_s", "waiting for a CPU, ms per record")):
        values = [per_record_ms(a, b, field) for a, b in pairs]
        cpu_ax.plot(minutes[1:], [np.nan if v is None else v for v in values], label=label)
    cpu_ax.set_ylabel("ms per record")
    cpu_ax.set_yscale("log")
    cpu_ax.legend(fontsize="small")
    lag_ax.plot(minutes, [np.nan if s.lag is None else s.lag for s in samples])
    lag_ax.set_ylabel("consumer lag (records)")
    for name in sorted({name for sample in samples for name in sample.checkpoint_bytes}):
        ckpt_ax.plot(minutes, [s.checkpoint_bytes.get(name, np.nan) / 1024 for s in samples], label=name)
    ckpt_ax.set_ylabel("newest checkpoint (KiB)")
    ckpt_ax.set_xlabel("minutes")
    ckpt_ax.legend(fontsize="small")
    for axis in (rss_ax, lat_ax, cpu_ax, lag_ax, ckpt_ax):
        axis.axvline(baseline_s / 60, color="grey", linestyle=":")
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def markdown(samples: list[Sample], result: dict, settings: dict) -> str:
    names = sorted({name for sample in samples for name in sample.rss})
    stages = sorted({name for sample in samples for name in sample.checkpoint_bytes})
    lines = [
        "# Soak benchmark (`benchmarks/soak.py`)",
        "",
        "Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()) + ".",
        "",
        "One sample per minute (RSS in MiB, newest checkpoint in KiB, latency of the records predicted in the "
        "10 s before the sample; since the sample before: CPU ms used and ms spent waiting for a CPU per record, "
        "all processes together, and the machine's CPU pressure):",
        "",
        "| min | records in | predictions | lag | p50 ms | p99 ms | CPU ms/rec | wait ms/rec | pressure | "
        + " | ".join(f"RSS {name}" for name in names)
        + " | "
        + " | ".join(f"ckpt {name}" for name in stages)
        + " |",
        "|" + "---|" * (9 + len(names) + len(stages)),
    ]
    shown, next_minute = [], 0.0
    for sample in samples:
        if sample.t_s / 60 >= next_minute:
            shown.append(sample)
            next_minute = int(sample.t_s / 60) + 1
    if samples and samples[-1] is not shown[-1]:
        shown.append(samples[-1])

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    for before, sample in zip([None, *shown], shown):
        cpu = wait = pressure = None
        if before is not None:
            cpu, wait = per_record_ms(before, sample, "cpu_s"), per_record_ms(before, sample, "cpu_wait_s")
            pressure = pressure_share(before, sample)
        lines.append(
            f"| {sample.t_s / 60:.1f} | {sample.records_in:,} | {sample.predictions_out:,} | {cell(sample.lag, '.0f')} | "
            f"{cell(sample.p50_ms, '.1f')} | {cell(sample.p99_ms, '.1f')} | {cell(cpu, '.2f')} | {cell(wait, '.2f')} | "
            f"{cell(None if pressure is None else 100 * pressure, '.0f')} % | "
            + " | ".join(cell(None if name not in sample.rss else sample.rss[name] / 2**20, ".1f") for name in names)
            + " | "
            + " | ".join(cell(None if name not in sample.checkpoint_bytes else sample.checkpoint_bytes[name] / 1024, ".1f") for name in stages)
            + " |"
        )
    lines += ["", "Verdict (each end the median of three samples):", ""]
    if "error" in result:
        lines.append(f"- {result['error']}")
        return "\n".join(lines) + "\n"
    lines += ["| process | RSS at baseline MiB | RSS at end MiB | growth |", "|---|---|---|---|"]
    for name, row in result["rss"].items():
        lines.append(f"| {name} | {row['start_mib']:.1f} | {row['end_mib']:.1f} | {row['growth'] * 100:+.1f} % |")
    lines += [
        "",
        f"- RSS growth of every actor under {RSS_GROWTH_TARGET:.0%}: **{'yes' if result['rss_ok'] else 'no'}**",
        f"- p99 of the first third {cell(result['p99_first_third_ms'], '.1f')} ms, of the last third "
        f"{cell(result['p99_last_third_ms'], '.1f')} ms; steady (last <= {P99_DRIFT_TARGET}x first): "
        f"**{'yes' if result['p99_ok'] else 'no'}**",
        f"- CPU per record (all processes) in the first third {cell(result['cpu_ms_per_record_first_third'], '.2f')} ms, "
        f"in the last third {cell(result['cpu_ms_per_record_last_third'], '.2f')} ms; steady (last <= "
        f"{CPU_PER_RECORD_TARGET}x first): **{'yes' if result['cpu_per_record_ok'] else 'no'}**",
        f"- Waiting for a CPU per record: {cell(result['cpu_wait_ms_per_record_first_third'], '.2f')} ms in the first third, "
        f"{cell(result['cpu_wait_ms_per_record_last_third'], '.2f')} ms in the last; the machine's CPU pressure "
        f"{cell(_percent(result['cpu_pressure_first_third']), '.0f')} % and "
        f"{cell(_percent(result['cpu_pressure_last_third']), '.0f')} %",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long records are sent")
    parser.add_argument("--rate", type=float, default=100.0, help="input records/s")
    parser.add_argument("--learners", default="cc", help="learners side by side (bounded ones for the RSS target)")
    parser.add_argument("--dataset", default="yeast")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--baseline-minute", type=float, default=10.0, help="RSS growth is measured from here")
    parser.add_argument("--checkpoint-every", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results/soak"))
    args = parser.parse_args()

    stop = threading.Event()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="soak-checkpoints-") as checkpoints:
        tag = uuid.uuid4().hex[:8]
        kafka = KafkaConfig(
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"soak-{tag}",
            topics=TopicNames(**{name: f"soak.{name}.{tag}" for name in TopicNames.model_fields}),
        )
        ensure_topics(kafka, partitions=1)
        config = JobConfig(
            kafka=kafka,
            learners=args.learners,
            seed=args.seed,
            follow=True,
            checkpoint_dir=checkpoints,
            checkpoint_every_s=args.checkpoint_every,
            ray_num_cpus=args.num_cpus,
            metrics_port=0,
            dashboard_port=0,
        )
        metrics = RecordingMetrics(config.window)
        failures: list[BaseException] = []

        def producer():
            try:
                produce(kafka, paced_records(args.dataset, stop), rate=args.rate)
            except BaseException as error:  # reported by the main thread
                failures.append(error)
                stop.set()

        def timer():
            if not stop.wait(args.minutes * 60):
                stop.set()

        init_ray(config)
        try:
            sampler = Sampler(config, metrics, pathlib.Path(checkpoints), args.sample_every, stop)
            threads = [threading.Thread(target=producer, name="soak-producer", daemon=True), threading.Thread(target=timer, daemon=True)]
            sampler.start()
            for thread in threads:
                thread.start()
            summary = run_pipeline(config, stop=stop, metrics=metrics)
            for thread in [*threads, sampler]:
                thread.join(timeout=60)
        finally:
            stop.set()
            ray.shutdown()
    if failures:
        raise failures[0]
    settings = {
        "minutes": args.minutes,
        "rate": f"{args.rate:g}/s",
        "learners": ",".join(config.learners),
        "dataset": args.dataset,
        "checkpoint every": f"{args.checkpoint_every:g} s",
        "Ray CPUs": args.num_cpus,
        "python": platform.python_version(),
        "records in": f"{summary.records_in:,}",
        "checkpoints": summary.checkpoints,
        "load average at the end": " ".join(f"{load:.1f}" for load in os.getloadavg()),
    }
    result = verdict(sampler.samples, args.baseline_minute * 60)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(
        json.dumps({"settings": settings, "verdict": result, "samples": [dataclasses.asdict(s) for s in sampler.samples]}, indent=1)
        + "\n",
        encoding="utf-8",
    )
    plot(sampler.samples, args.baseline_minute * 60, args.out / "soak.png", f"soak: {settings['learners']} at {settings['rate']}")
    report = markdown(sampler.samples, result, settings)
    (args.out / "soak.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
