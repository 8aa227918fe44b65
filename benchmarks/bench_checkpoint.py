"""Checkpoint overhead: pipeline throughput with and without checkpoints, side by side in one run.

Run: ``.venv/bin/python benchmarks/bench_checkpoint.py [--learner mlhat] [--passes 4] [--every 1.0]``.

A backlog of ``--passes`` replays of the dataset (ids unique per pass) is put in a fresh topic for
every run; the pipeline then runs once without checkpoints and once checkpointing every
``--every`` seconds (each checkpoint waits for the batches in flight, writes every learner's
model, metrics, label-join buffer and offsets, then commits), alternating, ``--repeats`` times.
Throughput is the pipeline's records/s from its first consumed message to its last commit; the
final checkpoint at the end of the run is included. The ratio with/without is printed (target:
overhead under 10%, i.e. ratio >= 0.9), with the mean checkpoint size.

Everything runs on one embedded broker and one local Ray (``--num-cpus``, default 2).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import tempfile

import ray

from jobs.broker import EmbeddedBroker
from jobs.config import JobConfig
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from stream.kafka import ensure_topics

from bench_pipeline import fresh_kafka


def one_run(bootstrap: str, records: list, args, checkpoint_dir: str | None) -> tuple[float, int]:
    kafka = fresh_kafka(bootstrap)
    ensure_topics(kafka, partitions=1)
    produce(kafka, records)
    config = JobConfig(
        kafka=kafka,
        learners=args.learner.split(","),
        seed=args.seed,
        batch_size=args.batch_size,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every_s=args.every,
    )
    summary = run_pipeline(config, expected=len(records))
    if summary.learners[config.learners[0]]["learned"] != len(records):
        raise RuntimeError(f"the run learned {summary.learners[config.learners[0]]['learned']} of {len(records)} records")
    return summary.records_per_s, summary.checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner", default="mlhat", help="learners side by side, comma-separated")
    parser.add_argument("--dataset", default="yeast")
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between checkpoints")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=JobConfig().batch_size)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--out", type=pathlib.Path, help="write the results as JSON here")
    args = parser.parse_args()
    records = [r for p in range(args.passes) for r in dataset_records(args.dataset, id_prefix=f"{args.dataset}-{p}")]
    rates: dict[str, list[float]] = {"without": [], "with": []}
    checkpoints, sizes = [], []
    with EmbeddedBroker() as broker:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level="WARNING")
        try:
            for repeat in range(args.repeats):
                order = ("without", "with") if repeat % 2 == 0 else ("with", "without")
                for mode in order:
                    with tempfile.TemporaryDirectory() as folder:
                        rate, count = one_run(broker.bootstrap_servers, records, args, folder if mode == "with" else None)
                        if mode == "with":
                            checkpoints.append(count)
                            sizes.extend(path.stat().st_size for path in pathlib.Path(folder).rglob("ckpt-*.bin"))
                    rates[mode].append(rate)
                    print(f"run {repeat + 1} {mode:>7} checkpoints: {rate:8.0f} records/s")
        finally:
            ray.shutdown()
    without, with_ = statistics.mean(rates["without"]), statistics.mean(rates["with"])
    result = {
        "learner": args.learner,
        "records": len(records),
        "every_s": args.every,
        "records_per_s_without": without,
        "records_per_s_with": with_,
        "ratio": with_ / without,
        "checkpoints_per_run": statistics.mean(checkpoints),
        "checkpoint_bytes": statistics.mean(sizes) if sizes else 0,
        "machine": f"{platform.machine()} {platform.processor() or ''} cpus={args.num_cpus}".strip(),
    }
    print(
        f"{args.learner} on {len(records):,} records: {without:,.0f} records/s without, {with_:,.0f} with checkpoints "
        f"every {args.every} s ({result['checkpoints_per_run']:.0f} per run, {result['checkpoint_bytes'] / 1024:,.0f} KiB each): "
        f"ratio {result['ratio']:.3f} (target >= 0.9)"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
