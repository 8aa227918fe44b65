"""Scaling: records/s of the whole job for 1, 2, 4, 8 extractors and shards, with CPU per record by stage.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_scaling.py --out benchmarks/results/scaling.json``.

Everything runs in one process, side by side, on an embedded broker and one local Ray whose
logical CPUs are enough for the largest configuration (``--cpus`` is the real CPU allotment):

1. **Embedder alone.** :class:`jobs.features.TextEmbedder` with ``--cpus`` torch threads embeds
   the GoEmotions texts in the job's micro-batches, before and after the pipeline runs (the
   machine is shared); the mean is the reference.
2. **Extractors.** The same texts through the whole job (``logistic``) with 1, 2, 4 and 8
   extractor replicas. The ``--cpus`` threads are divided among the replicas (at least one
   each): with more replicas than cores they share the cores. Records/s in steady state: a
   warm-up of one batch per replica is produced first (each replica loads its model on it), and
   the measured records only once it is published; from then to the last published batch. Ratio of 1 extractor with ``--cpus`` threads to the embedder alone: target >= 0.8.
3. **Shards** (when the job has ``learner_shards``): iHOMER on bibtex and delicious with 1, 2, 4
   and 8 shards, records/s in steady state.
4. **CPU per record by stage.** Over the same steady-state window, the CPU time (user + system,
   from ``/proc``) of every actor process of this benchmark's Ray, by actor class, and of the
   driver, divided by the records published in the window; "per actor" divides a class's time
   by its actors too (a shard's own share), "busiest" is the shard actor that spent the most.
5. **Standardiser alone.** :class:`jobs.features.NumericStandardizer` over the numeric records:
   records/s, to show one extractor replica keeps up with what cannot be split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import platform
import threading
import time

import ray

from bench_pipeline import fresh_kafka
from jobs.broker import EmbeddedBroker
from jobs.config import JobConfig
from jobs.features import NumericStandardizer, TextEmbedder
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from stream.kafka import ensure_topics

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COUNTS = (1, 2, 4, 8)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def actor_cpu_seconds() -> dict[str, dict[int, float]]:
    """CPU seconds of each Ray actor process under this process, by actor class and pid.

    Ray names a worker process ``ray::<Class>`` (``ray::<Class>.<method>`` while it runs one);
    only this process's descendants are looked at, so other Rays on the machine do not count.
    """
    tree = _children()
    found: dict[str, dict[int, float]] = {}
    todo = list(tree.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            title = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if not title.startswith("ray::"):
            continue
        actor_class = title[5:].split(".")[0].split(" ")[0]
        if not actor_class.endswith("Stage"):  # Ray's own agents and idle workers
            continue
        found.setdefault(actor_class, {})[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


class Probe:
    """Publication times, counts and CPU snapshots after every published batch (``on_batch``).

    ``warmed`` is set once ``warm_up`` predictions are out.
    """

    def __init__(self, warm_up: int):
        self.samples: list[tuple[float, int, float, dict]] = []
        self.warm_up = warm_up
        self.warmed = threading.Event()

    def __call__(self, summary, stats) -> None:
        self.samples.append((time.perf_counter(), summary.predictions_out, time.process_time(), actor_cpu_seconds()))
        if summary.predictions_out >= self.warm_up:
            self.warmed.set()

    def window(self, start_after: int) -> dict:
        """Rate and CPU per record from the first sample past ``start_after`` records to the last."""
        first = next((s for s in self.samples if s[1] >= start_after), self.samples[0])
        last = self.samples[-1]
        records = last[1] - first[1]
        if records <= 0:
            raise RuntimeError(f"nothing was published after the first {start_after} records: give the run more records")
        seconds = last[0] - first[0]
        cpu: dict[str, dict] = {"driver": {"ms_per_record": 1000 * (last[2] - first[2]) / records, "actors": 1}}
        for actor_class, pids in last[3].items():
            each = [seconds_now - first[3].get(actor_class, {}).get(pid, 0.0) for pid, seconds_now in pids.items()]
            spent = sum(each)
            cpu[actor_class] = {
                "ms_per_record": 1000 * spent / records,
                "actors": len(pids),
                "ms_per_record_per_actor": 1000 * spent / records / len(pids),
                "busiest_ms_per_record": 1000 * max(each) / records,
                "each_ms_per_record": sorted((1000 * seconds / records for seconds in each), reverse=True),
            }
        return {"records": records, "seconds": seconds, "records_per_s": records / seconds, "cpu": cpu}


def run_job(broker: str, records: list, config: JobConfig, warm_up: int) -> dict:
    """Run the job on ``records``; the measured ones are produced only once the first ``warm_up`` are published.

    Otherwise replicas that loaded their model early would embed the backlog while the first
    batch waits for its replica's model, and publish it all at once inside the window.
    """
    if warm_up >= len(records):
        raise ValueError(f"a warm-up of {warm_up} records leaves nothing to measure in {len(records)}")
    kafka = fresh_kafka(broker, "bench-scaling")
    ensure_topics(kafka, partitions=1)
    produce(kafka, records[:warm_up])
    probe = Probe(warm_up)

    def produce_measured():
        probe.warmed.wait()
        produce(kafka, records[warm_up:])

    producer = threading.Thread(target=produce_measured, daemon=True)
    producer.start()
    # The whole backlog is in the topic: input never idles, however long a batch takes.
    # A shared machine may take minutes to load eight text models at once: waits are long.
    config = config.model_copy(update={"kafka": kafka, "idle_timeout_s": 3600.0, "ray_timeout_s": 1800.0, "dataset": None})
    summary = run_pipeline(config, expected=len(records), on_batch=probe)
    producer.join()
    if summary.predictions_out != len(records):
        raise RuntimeError(f"{summary.predictions_out} predictions for {len(records)} records")
    return probe.window(warm_up) | {"whole_run_per_s": summary.records_per_s}


def embedder_alone(texts: list[str], threads: int, batch_size: int) -> float:
    embedder = TextEmbedder(device="cpu", num_threads=threads)
    embedder.embed(texts[:batch_size])  # warm-up: first calls allocate
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        embedder.embed(texts[i : i + batch_size])
    return len(texts) / (time.perf_counter() - start)


def standardiser_alone(records: list) -> float:
    scaler = NumericStandardizer()
    start = time.perf_counter()
    for record in records:
        scaler.learn_transform_one(record.features)
    return len(records) / (time.perf_counter() - start)


def cpu_line(cpu: dict) -> str:
    return ", ".join(f"{name} {v['ms_per_record']:.2f}" for name, v in sorted(cpu.items()))


def extractor_runs(broker: str, args, results: dict) -> None:
    records = list(itertools.islice(dataset_records("goemotions"), args.texts))
    texts = [record.text for record in records]
    before = embedder_alone(texts, args.cpus, args.batch_size)
    runs = []
    for count in COUNTS:
        threads = max(1, args.cpus // count)
        config = JobConfig(
            learners=["logistic"], batch_size=args.batch_size, max_in_flight=max(4, 2 * count), extractors=count,
            extractor={"device": "cpu", "num_cpus": threads},
        )  # fmt: skip
        # Steady state starts once every replica has had a batch (and so has loaded its model): the
        # first batches go to distinct replicas, and batches are published in order.
        run = run_job(broker, records, config, warm_up=count * args.batch_size)
        run |= {"extractors": count, "threads_each": threads}
        runs.append(run)
        print(f"extractors={count} ({threads} thread(s) each): {run['records_per_s']:.1f} records/s; CPU ms/record: {cpu_line(run['cpu'])}", flush=True)
    after = embedder_alone(texts, args.cpus, args.batch_size)
    alone = (before + after) / 2
    results["embedder_alone"] = {"per_s": alone, "before": before, "after": after, "threads": args.cpus}
    results["extractors"] = runs
    print(f"embedder alone, {args.cpus} threads: {alone:.1f} texts/s (before {before:.1f}, after {after:.1f}); "
          f"pipeline with 1 extractor / embedder alone: {runs[0]['records_per_s'] / alone:.2f} (target >= 0.8)", flush=True)  # fmt: skip


def shard_runs(broker: str, args, results: dict) -> None:
    if "learner_shards" not in JobConfig.model_fields:
        results["shards"] = "the job has no learner_shards setting yet"
        print("shards: skipped, the job has no learner_shards setting yet", flush=True)
        return
    results["shards"] = {}
    for dataset, limit in (("bibtex", args.bibtex), ("delicious", args.delicious)):
        records = list(itertools.islice(dataset_records(dataset), limit))
        results["standardiser_alone"][dataset] = standardiser_alone(records)
        runs = []
        for count in COUNTS:
            config = JobConfig(learners=["ihomer"], batch_size=args.batch_size, learner_shards=count, seed=1)
            run = run_job(broker, records, config, warm_up=2 * args.batch_size) | {"shards": count}
            runs.append(run)
            print(f"{dataset} shards={count}: {run['records_per_s']:.1f} records/s; CPU ms/record: {cpu_line(run['cpu'])}", flush=True)
        results["shards"][dataset] = runs


def tables(results: dict) -> str:
    """The results as markdown tables (what ``--render`` prints)."""
    lines = []
    stages = ("ConsumerStage", "FeatureStage", "LearnerStage", "ShardStage", "PublisherStage", "driver")

    def cpu_cells(cpu: dict) -> str:
        return " | ".join(f"{cpu[name]['ms_per_record']:.2f}" if name in cpu else "" for name in stages)

    header = " | ".join(stages)
    if "extractors" in results:
        alone = results["embedder_alone"]
        base = results["extractors"][0]["records_per_s"]
        lines += [
            f"Embedder alone, {alone['threads']} threads: {alone['per_s']:.1f} texts/s (before {alone['before']:.1f}, "
            f"after {alone['after']:.1f}); the job with 1 extractor of {alone['threads']} threads: "
            f"{base:.1f} records/s, **{base / alone['per_s']:.2f}x** (target >= 0.8).",
            "",
            f"| extractors | threads each | records/s | vs 1 | CPU ms/record: {header} |",
            "|---:|---:|---:|---:|" + "---:|" * len(stages),
        ]
        for run in results["extractors"]:
            lines.append(
                f"| {run['extractors']} | {run['threads_each']} | {run['records_per_s']:.1f} | "
                f"{run['records_per_s'] / base:.2f} | {cpu_cells(run['cpu'])} |"
            )
        lines.append("")
    for dataset, runs in (results.get("shards") or {}).items() if isinstance(results.get("shards"), dict) else ():
        base = runs[0]
        learner_cpu = base["cpu"]["LearnerStage"]["ms_per_record"]
        lines += [
            f"iHOMER on {dataset}:",
            "",
            f"| shards | records/s | vs 1 | CPU ms/record per shard actor | busiest shard actor | each shard actor | unsharded learner / N + 20 % | CPU ms/record: {header} |",
            "|---:|---:|---:|---:|---:|---|---:|" + "---:|" * len(stages),
        ]
        for run in runs:
            count = run["shards"]
            # Unsharded: the learner stage is the one shard. Runs of older versions have no busiest actor.
            shards = run["cpu"].get("ShardStage", {"ms_per_record_per_actor": learner_cpu, "busiest_ms_per_record": learner_cpu})
            busiest = shards.get("busiest_ms_per_record")
            each = ", ".join(f"{ms:.2f}" for ms in shards.get("each_ms_per_record", ()))
            lines.append(
                f"| {count} | {run['records_per_s']:.1f} | {run['records_per_s'] / base['records_per_s']:.2f} | "
                f"{shards['ms_per_record_per_actor']:.2f} | {'' if busiest is None else f'{busiest:.2f}'} | {each} | "
                f"{1.2 * learner_cpu / count:.2f} | {cpu_cells(run['cpu'])} |"
            )
        lines.append("")
    standardiser = ", ".join(f"{name} {rate:,.0f}" for name, rate in results.get("standardiser_alone", {}).items())
    lines.append(f"Standardiser alone, records/s: {standardiser}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="the real CPU allotment (threads of the embedder alone)")
    parser.add_argument("--texts", type=int, default=1200, help="GoEmotions texts per extractor run")
    parser.add_argument("--bibtex", type=int, default=1200, help="bibtex records per shard run")
    parser.add_argument("--delicious", type=int, default=400, help="delicious records per shard run")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--skip", choices=["extractors", "shards"], action="append", default=[])
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--render", type=pathlib.Path, help="print the tables of a results JSON and exit")
    args = parser.parse_args()
    if args.render:
        print(tables(json.loads(args.render.read_text())))
        return

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "cpu_allotment": args.cpus, "python": platform.python_version(),
                    "load_average_start": os.getloadavg()},
        "batch_size": args.batch_size,
        "standardiser_alone": {"yeast": standardiser_alone(list(dataset_records("yeast")))},
    }  # fmt: skip
    print(f"load average {os.getloadavg()}; standardiser alone on yeast: {results['standardiser_alone']['yeast']:.0f} records/s", flush=True)
    with EmbeddedBroker() as broker:
        # Logical CPUs for the largest pool; the real cores are --cpus whatever Ray is told.
        ray.init(num_cpus=max(COUNTS) * max(1, args.cpus), include_dashboard=False, logging_level="WARNING")
        try:
            if "extractors" not in args.skip:
                extractor_runs(broker.bootstrap_servers, args, results)
            if "shards" not in args.skip:
                shard_runs(broker.bootstrap_servers, args, results)
        finally:
            ray.shutdown()
    results["machine"]["load_average_end"] = os.getloadavg()
    print(tables(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
