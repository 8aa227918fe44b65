"""Cost of tagstream's record parsing and Kafka wrappers, next to the bare libraries, in one run.

1. Parsing: ``stream.records.parse_record`` (decode + full check) against ``orjson.loads`` and
   ``json.loads`` alone, on the same messages: rows of 10 and 103 numeric features and short texts.
2. Kafka, on a fresh embedded broker: producing with :class:`~stream.kafka.RecordSink` against a
   bare ``kafka.KafkaProducer``, and consuming with :meth:`~stream.kafka.RecordSource.poll_batch`
   against bare ``KafkaConsumer.poll``, each to its own single-partition topic.

Rates are the best of ``--repeats`` (parsing) by wall clock and by process CPU time; on a shared
machine the CPU-time rate and the ratios are the numbers to compare.

Usage::

    .venv/bin/python benchmarks/bench_kafka_io.py
    .venv/bin/python benchmarks/bench_kafka_io.py --records 50000 --repeats 5

"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

import kafka
import orjson

from jobs.broker import EmbeddedBroker
from stream.kafka import KafkaConfig, RecordSink, RecordSource, ensure_topics
from stream.records import encode_json, parse_record


def messages(kind: str, n: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        record_id = f"r{i}"
        if kind == "text":
            body = {"id": record_id, "text": " ".join(rng.choice(["rain", "sun", "wind", "snow"]) for _ in range(12))}
        else:
            width = int(kind)
            body = {"id": record_id, "features": {f"Att{j}": rng.uniform(-1, 1) for j in range(width)}}
        body["labels"] = rng.sample(["a", "b", "c", "d", "e"], 2)
        out.append((encode_json(body), record_id.encode()))
    return out


def best_rate(repeats: int, n: int, run) -> tuple[float, float]:
    wall = cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return n / wall, n / max(cpu, 1e-9)


def bench_parsing(n: int, repeats: int) -> None:
    print(f"parsing {n} messages, best of {repeats} (records/s, wall | cpu)")
    for kind in ("10", "103", "text"):
        batch = messages(kind, n, seed=0)
        ours = best_rate(repeats, n, lambda: [parse_record(value, key) for value, key in batch])
        fast = best_rate(repeats, n, lambda: [orjson.loads(value) for value, _ in batch])
        std = best_rate(repeats, n, lambda: [json.loads(value) for value, _ in batch])
        label = f"{kind} features" if kind != "text" else "text"
        print(
            f"  {label:>13}: parse_record {ours[0]:>9,.0f} | {ours[1]:>9,.0f}   orjson.loads {fast[0]:>9,.0f} | "
            f"{fast[1]:>9,.0f}   json.loads {std[0]:>9,.0f} | {std[1]:>9,.0f}   "
            f"parse_record / json.loads (cpu) = {ours[1] / std[1]:.2f}"
        )


def consume_raw(config: KafkaConfig, topic: str, n: int) -> None:
    consumer = kafka.KafkaConsumer(**config.client_kwargs("consumer"))
    consumer.assign([kafka.TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = 0
    while got < n:
        got += sum(len(batch) for batch in consumer.poll(timeout_ms=1000, max_records=500).values())
    consumer.close()


def consume_ours(config: KafkaConfig, topic: str, n: int) -> None:
    with RecordSource(config, partitions=[(topic, 0)]) as source:
        source.seek_to_beginning()
        got = 0
        while got < n:
            got += len(source.poll_batch(max_records=500, timeout_s=1.0))


def bench_kafka(n: int) -> None:
    batch = messages("10", n, seed=1)
    bodies = [json.loads(value) for value, _ in batch]
    with EmbeddedBroker() as broker:
        config = KafkaConfig(bootstrap_servers=broker.bootstrap_servers, group_id=None)
        ensure_topics(config, ["raw", "ours"])

        def produce_raw():
            producer = kafka.KafkaProducer(**config.client_kwargs("producer"))
            for value, key in batch:
                producer.send("raw", value=value, key=key)
            producer.flush()
            producer.close()

        def produce_ours():
            with RecordSink(config) as sink:
                for body, (_, key) in zip(bodies, batch):
                    sink.send("ours", body, key=key)
                sink.flush()

        print(f"kafka, {n} records of 10 features on {broker.bootstrap_servers} (records/s, wall | cpu)")
        raw, ours = best_rate(1, n, produce_raw), best_rate(1, n, produce_ours)
        print(
            f"  produce: KafkaProducer (bytes) {raw[0]:>8,.0f} | {raw[1]:>8,.0f}   "
            f"RecordSink (dict -> JSON) {ours[0]:>8,.0f} | {ours[1]:>8,.0f}   ratio (wall) {ours[0] / raw[0]:.2f}"
        )
        raw = best_rate(1, n, lambda: consume_raw(config, "raw", n))
        ours = best_rate(1, n, lambda: consume_ours(config, "ours", n))
        print(
            f"  consume: KafkaConsumer.poll    {raw[0]:>8,.0f} | {raw[1]:>8,.0f}   "
            f"RecordSource.poll_batch   {ours[0]:>8,.0f} | {ours[1]:>8,.0f}   ratio (wall) {ours[0] / raw[0]:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, orjson {orjson.__version__}")
    bench_parsing(args.records, args.repeats)
    bench_kafka(args.records)


if __name__ == "__main__":
    main()
