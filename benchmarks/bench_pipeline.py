"""Pipeline benchmark: throughput next to the in-process learner, and latency at a fixed input rate.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--learners mlhat,majority] [--rate 1000]``.

1. **Throughput.** A backlog of ``--passes`` replays of yeast (ids made unique per pass) is in
   the input topic before the pipeline starts; the pipeline's records/s (from its first consumed
   message to its last commit, so the consumer group join is not counted) is printed next to the
   same learner run in process by :class:`learners.evaluate.Prequential` on the same records, in
   the same run (the mean of a run before and one after the pipeline), with the ratio
   (target >= 0.8).
2. **Latency.** A follow run of ``--latency-learner`` while a producer thread sends records at
   ``--rate`` records/s for ``--seconds`` seconds. The end-to-end latency of each record runs from
   its Kafka timestamp (set by the producer) to the broker's acknowledgement of its prediction;
   p50 / p99 / max are printed (target p99 <= 250 ms). A warm-up replay is sent and predicted first
   so that the group join and actor start are not measured.

Everything runs on one embedded broker and one local Ray (``--num-cpus``, default 2).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import platform
import threading
import time
import uuid

import numpy as np
import ray

from jobs.broker import EmbeddedBroker
from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.labels import LabelUniverse
from jobs.telemetry import PipelineMetrics
from learners import registry
from learners.evaluate import Prequential
from stream.kafka import KafkaConfig, TopicNames, ensure_topics


def fresh_kafka(bootstrap: str, prefix: str = "bench") -> KafkaConfig:
    """Kafka settings with topics and a group of their own, named ``<prefix>.<topic>.<tag>``."""
    tag = uuid.uuid4().hex[:8]
    return KafkaConfig(
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}-{tag}",
        topics=TopicNames(**{name: f"{prefix}.{name}.{tag}" for name in TopicNames.model_fields}),
    )


def replays(dataset: str, passes: int) -> list:
    return [record for p in range(passes) for record in dataset_records(dataset, id_prefix=f"{dataset}-{p}")]


def in_process_rate(learner: str, seed: int, records: list) -> float:
    universe = LabelUniverse()
    stream = [(record.features, universe.target(record.labels)) for record in records]
    start = time.perf_counter()
    Prequential({learner: registry.make(learner, seed)}, report_every=None).run(stream)
    return len(stream) / (time.perf_counter() - start)


def throughput(bootstrap: str, learner: str, records: list, args) -> dict:
    kafka = fresh_kafka(bootstrap)
    ensure_topics(kafka, partitions=1)
    produce(kafka, records)
    # The machine is shared: measure in process before and after the pipeline, and use the mean.
    local_before = in_process_rate(learner, args.seed, records)
    config = JobConfig(
        kafka=kafka,
        learners=[learner],
        seed=args.seed,
        batch_size=args.batch_size,
        max_in_flight=args.max_in_flight,
        poll_timeout_s=args.poll_timeout,
    )
    summary = run_pipeline(config, expected=len(records))
    assert summary.predictions_out == len(records), summary
    local = (local_before + in_process_rate(learner, args.seed, records)) / 2
    return {
        "learner": learner,
        "records": len(records),
        "pipeline_records_per_s": summary.records_per_s,
        "in_process_records_per_s": local,
        "ratio": summary.records_per_s / local,
        "batches": summary.batches,
    }


class RecordingMetrics(PipelineMetrics):
    """Pipeline metrics that also keep every end-to-end latency, for exact percentiles."""

    def __init__(self, window: int):
        super().__init__(window)
        self.latencies: list[float] = []

    def observe_published(self, predictions, latencies_s):
        self.latencies.extend(latencies_s)
        super().observe_published(predictions, latencies_s)


def latency(bootstrap: str, args) -> dict:
    kafka = fresh_kafka(bootstrap)
    ensure_topics(kafka, partitions=1)
    warmup = list(itertools.islice(dataset_records(args.dataset, id_prefix="warmup"), args.warmup))
    paced_count = int(args.rate * args.seconds)
    paced = list(itertools.islice(itertools.cycle(replays(args.dataset, 1)), paced_count))
    paced = [record.__class__(id=f"paced-{i}", features=record.features, labels=record.labels) for i, record in enumerate(paced)]
    total = len(warmup) + len(paced)
    config = JobConfig(
        kafka=kafka,
        learners=[args.latency_learner],
        seed=args.seed,
        follow=True,
        batch_size=args.batch_size,
        max_in_flight=args.max_in_flight,
        poll_timeout_s=args.poll_timeout,
    )
    metrics = RecordingMetrics(config.window)
    stop, warm = threading.Event(), threading.Event()
    cutoff: list[int] = []
    produced: list = []
    failures: list[BaseException] = []

    def on_progress(summary, window):
        if summary.predictions_out >= len(warmup):
            warm.set()
        if summary.predictions_out >= total:
            stop.set()

    def producer():
        try:
            produce(kafka, warmup)
            if not warm.wait(timeout=120):
                raise TimeoutError("the warm-up records were not predicted within 120 s")
            cutoff.append(len(metrics.latencies))
            produced.append(produce(kafka, paced, rate=args.rate))
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            stop.set()

    thread = threading.Thread(target=producer, name="paced-producer", daemon=True)
    thread.start()
    summary = run_pipeline(config, stop=stop, metrics=metrics, on_progress=on_progress)
    thread.join(timeout=30)
    if failures:
        raise failures[0]
    samples = np.array(metrics.latencies[cutoff[0] :]) * 1000
    return {
        "learner": args.latency_learner,
        "target_rate": args.rate,
        "achieved_input_rate": produced[0].rate,
        "records": len(samples),
        "p50_ms": float(np.percentile(samples, 50)),
        "p99_ms": float(np.percentile(samples, 99)),
        "max_ms": float(samples.max()),
        "batches": summary.batches,
        "mean_batch": summary.records_in / max(summary.batches, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="mlhat,majority", help="learners of the throughput part")
    parser.add_argument("--dataset", default="yeast")
    parser.add_argument("--passes", type=int, default=4, help="replays of the dataset in the backlog")
    parser.add_argument("--latency-learner", default="majority")
    parser.add_argument("--rate", type=float, default=1000.0, help="input records/s of the latency part")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the paced input")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=JobConfig().batch_size)
    parser.add_argument("--max-in-flight", type=int, default=JobConfig().max_in_flight)
    parser.add_argument("--poll-timeout", type=float, default=JobConfig().poll_timeout_s)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", type=pathlib.Path, help="write the results as JSON here")
    args = parser.parse_args()

    results: dict = {
        "machine": {"cpus_for_ray": args.num_cpus, "python": platform.python_version()},
        "settings": {"batch_size": args.batch_size, "max_in_flight": args.max_in_flight, "poll_timeout_s": args.poll_timeout},
        "throughput": [],
    }
    with EmbeddedBroker() as broker:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level="WARNING")
        try:
            if not args.skip_throughput:
                records = replays(args.dataset, args.passes)
                print(f"throughput: {len(records)} records of {args.dataset} already in the topic")
                print(f"{'learner':<12}{'pipeline/s':>12}{'in process/s':>14}{'ratio':>8}{'batches':>9}")
                for learner in registry.expand(args.learners):
                    row = throughput(broker.bootstrap_servers, learner, records, args)
                    results["throughput"].append(row)
                    print(
                        f"{learner:<12}{row['pipeline_records_per_s']:>12,.0f}{row['in_process_records_per_s']:>14,.0f}"
                        f"{row['ratio']:>8.2f}{row['batches']:>9}",
                        flush=True,
                    )
            if not args.skip_latency:
                row = latency(broker.bootstrap_servers, args)
                results["latency"] = row
                print(
                    f"latency of {row['learner']} at {row['target_rate']:,.0f} records/s "
                    f"(achieved {row['achieved_input_rate']:,.0f}/s, {row['records']} records, "
                    f"mean batch {row['mean_batch']:.1f}): p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                    f"max {row['max_ms']:.1f} ms"
                )
        finally:
            ray.shutdown()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
