"""Text throughput: the whole pipeline next to the embedder alone, measured side by side in one run.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_text_speed.py --limit 1000``.

1. **Embedder alone.** :class:`jobs.features.TextEmbedder` with the extractor's settings
   (``extractor.num_cpus`` torch threads, ``extractor.batch_size``) embeds the first ``--limit``
   texts of ``--dataset`` in micro-batches of the job's ``batch_size``: texts/s. Measured before
   and after the pipeline (the machine is shared), the mean is the reference.
2. **Pipeline.** The same texts are in the input topic of an embedded broker before a bounded
   job starts on a local Ray with ``--num-cpus`` CPUs, in micro-batches of ``--batch-size``:
   records/s in steady state, from the first published batch to the last (the first batch
   also pays the one-off load of the text model in the extractor actor), and the ratio to the
   embedder alone (target >= 0.8). The rate over the whole run (``Summary.records_per_s``) is
   printed too.
3. **Stage profile.** The stages' plain objects, without Ray, on the same micro-batches: seconds
   spent in the extractor (embedding), the learner stage (predict then learn) and record
   handling, to show where time goes.

``--quantize`` runs everything with int8 dynamic quantisation as well.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import ray

from bench_pipeline import fresh_kafka
from jobs.broker import EmbeddedBroker
from jobs.config import ExtractorConfig, JobConfig
from jobs.features import TextEmbedder
from jobs.pipeline.driver import run_pipeline
from jobs.produce import dataset_records, produce
from jobs.stages.extractor import FeatureStage
from jobs.stages.learner import LearnerStage
from jobs.stages.messages import Batch
from stream.kafka import ensure_topics


def embedder_alone(texts: list[str], extractor: ExtractorConfig, batch_size: int) -> float:
    embedder = TextEmbedder(
        model=extractor.text_model, device="cpu", batch_size=extractor.batch_size, max_length=extractor.max_length,
        num_threads=extractor.num_cpus, quantize=extractor.quantize,
    )  # fmt: skip
    embedder.embed(texts[:batch_size])  # warm-up: first calls allocate
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        embedder.embed(texts[i : i + batch_size])
    return len(texts) / (time.perf_counter() - start)


def stage_profile(records: list, extractor: ExtractorConfig, learner: str, batch_size: int) -> dict:
    features = FeatureStage(extractor)
    learners = LearnerStage([learner], seed=1, window=1000, model_size_every=10**9)
    seconds = {"extractor": 0.0, "learner": 0.0}
    features.transform(Batch(records[:8], [time.time()] * 8, time.time()))  # load the model outside the clock
    for i in range(0, len(records), batch_size):
        part = records[i : i + batch_size]
        batch = Batch(part, [time.time()] * len(part), time.time())
        start = time.perf_counter()
        embedded = features.transform(batch)
        seconds["extractor"] += time.perf_counter() - start
        start = time.perf_counter()
        learners.process(embedded)
        seconds["learner"] += time.perf_counter() - start
    return {stage: {"seconds": s, "records_per_s": len(records) / s} for stage, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="goemotions")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--batch-size", type=int, default=100, help="records per micro-batch of the job")
    parser.add_argument("--quantize", action="store_true", help="also measure with int8 dynamic quantisation")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()

    records = []
    for record in dataset_records(args.dataset):
        records.append(record)
        if len(records) == args.limit:
            break
    texts = [record.text for record in records]
    base = JobConfig(dataset=args.dataset, batch_size=args.batch_size, extractor={"device": "cpu"})
    learner = base.learners[0]
    results: dict = {
        "dataset": args.dataset, "records": len(records), "learner": learner,
        "machine": {"cpus": os.cpu_count(), "ray_cpus": args.num_cpus, "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "runs": [],
    }  # fmt: skip
    print(f"{len(records)} texts of {args.dataset}; learner {learner}; load average {os.getloadavg()}")
    with EmbeddedBroker() as broker:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level="WARNING")
        try:
            for quantize in [False, True] if args.quantize else [False]:
                extractor = base.extractor.model_copy(update={"quantize": quantize})
                before = embedder_alone(texts, extractor, base.batch_size)
                kafka = fresh_kafka(broker.bootstrap_servers, "bench-text")
                ensure_topics(kafka, partitions=1)
                produce(kafka, records)
                # The whole backlog is in the topic: input never idles, however long a batch takes.
                config = base.model_copy(update={"kafka": kafka, "dataset": None, "extractor": extractor, "idle_timeout_s": 3600.0})
                published: list[tuple[float, int]] = []
                summary = run_pipeline(
                    config, expected=len(records), on_batch=lambda s, _: published.append((time.perf_counter(), s.predictions_out))
                )
                assert summary.predictions_out == len(records), summary
                (t0, n0), (t1, n1) = published[0], published[-1]
                steady = (n1 - n0) / (t1 - t0)
                after = embedder_alone(texts, extractor, base.batch_size)
                alone = (before + after) / 2
                run = {
                    "quantize": quantize, "embedder_alone_per_s": alone, "embedder_before": before, "embedder_after": after,
                    "pipeline_per_s": steady, "pipeline_whole_run_per_s": summary.records_per_s, "ratio": steady / alone,
                    "batches": len(published),
                    "micro_f1": summary.learners[learner]["cumulative"]["micro_f1"],
                }  # fmt: skip
                if not args.skip_profile:
                    run["profile"] = stage_profile(records, extractor, learner, base.batch_size)
                results["runs"].append(run)
                print(
                    f"int8={quantize}: embedder alone {alone:.1f} texts/s (before {before:.1f}, after {after:.1f}); "
                    f"pipeline {steady:.1f} records/s in steady state ({summary.records_per_s:.1f} over the whole run, "
                    f"model load included); ratio {run['ratio']:.2f} (target >= 0.8)"
                )
                if "profile" in run:
                    print("  in-process stages: " + ", ".join(f"{k} {v['seconds']:.1f} s ({v['records_per_s']:.0f}/s)" for k, v in run["profile"].items()))
        finally:
            ray.shutdown()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
