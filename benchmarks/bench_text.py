"""Text quality benchmark: online learners on sentence embeddings against the floor and an offline bound.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_text.py --dataset goemotions --limit 8000``.

For a text dataset (registered name or JSONL path), the first ``--limit`` texts are embedded with
the pipeline's extractor (through the embedding cache, so a rerun does not embed again) and:

1. every learner of ``--learners`` runs prequentially (test, then train) over the stream; its
   micro-F1 over the whole stream and over the last ``--tail`` fraction are reported, with the
   ratio of the first learner to ``majority`` over the whole stream (target >= 1.3);
2. the offline bound: scikit-learn one-vs-rest logistic regression fitted on the first
   ``1 - tail`` of the same embeddings, with one decision threshold tuned on that part by
   cross-validated predictions (5 folds, the threshold maximising micro-F1), scored on the tail;
   the first learner's tail micro-F1 over it is the second ratio (target >= 0.95);
3. per-label F1 (whole stream) of the 10 most frequent labels for every learner.

``--quantized`` also embeds the stream with int8 dynamic quantisation and reruns the first
learner on those embeddings: the quality cost of quantising, next to the cosine similarity of
the two embeddings.

Results are printed and, with ``--out FILE.json``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import numpy as np

from jobs.embedding_cache import CachedEmbedder, EmbeddedTextDataset, EmbeddingCache, default_cache_dir
from jobs.features import TextEmbedder
from learners import registry
from learners.evaluate import Prequential
from learners.metrics import MetricSuite
from stream.datasets import open_dataset
from stream.text import TextDataset


def embed_stream(texts: TextDataset, limit: int, quantize: bool) -> tuple[list, list[dict], dict]:
    embedder = TextEmbedder(device="cpu", quantize=quantize)
    cached = CachedEmbedder(embedder, EmbeddingCache(default_cache_dir(), embedder.identity, embedder.dimensions))
    data = EmbeddedTextDataset(texts, cached, limit=limit)
    start = time.perf_counter()
    stream = list(data)
    info = {"embedded": cached.embedded, "from_cache": cached.cached, "seconds": time.perf_counter() - start}
    return [x for x, _ in stream], [y for _, y in stream], info


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = float((truth & predicted).sum())
    denominator = float(truth.sum() + predicted.sum())
    return 2 * tp / denominator if denominator else 1.0


def as_matrix(rows: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([[bool(row.get(label, False)) for label in labels] for row in rows], dtype=bool)


def prequential(name: str, xs: list, ys: list[dict], labels: list[str], tail_start: int, seed: int) -> dict:
    learner = registry.make(name, seed=seed)
    predictions: list[dict] = []

    start = time.perf_counter()
    for x, y in zip(xs, ys):
        predictions.append(learner.predict_one(x))
        learner.learn_one(x, y)
    seconds = time.perf_counter() - start
    truth, predicted = as_matrix(ys, labels), as_matrix(predictions, labels)
    whole = MetricSuite()
    for y, p in zip(ys, predictions):
        whole.update(y, p)
    per_label = {}
    for j, label in enumerate(labels):
        tp = float((truth[:, j] & predicted[:, j]).sum())
        denominator = float(truth[:, j].sum() + predicted[:, j].sum())
        per_label[label] = 2 * tp / denominator if denominator else 0.0
    return {
        "whole": whole.get(),
        "tail_micro_f1": micro_f1(truth[tail_start:], predicted[tail_start:]),
        "empty_predictions": int((~predicted.any(axis=1)).sum()),
        "per_label_f1": per_label,
        "instances_per_s": len(xs) / seconds,
    }


def offline_bound(xs: list, ys: list[dict], labels: list[str], tail_start: int, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier

    names = list(xs[0])
    X = np.array([[x[name] for name in names] for x in xs])
    Y = as_matrix(ys, labels).astype(int)
    train, test = slice(0, tail_start), slice(tail_start, None)
    seen = Y[train].sum(axis=0) > 0  # a label never on in training cannot be fitted: predicted off
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000), n_jobs=1)
    folds = KFold(5, shuffle=True, random_state=seed)
    start = time.perf_counter()
    cv_scores = cross_val_predict(model, X[train], Y[train][:, seen], cv=folds, method="predict_proba")
    grid = np.linspace(0.05, 0.95, 91)
    cv_f1 = [micro_f1(Y[train][:, seen].astype(bool), cv_scores >= t) for t in grid]
    threshold = float(grid[int(np.argmax(cv_f1))])
    model.fit(X[train], Y[train][:, seen])
    predicted = np.zeros_like(Y[test], dtype=bool)
    predicted[:, seen] = model.predict_proba(X[test]) >= threshold
    return {
        "threshold": threshold,
        "cv_micro_f1": float(max(cv_f1)),
        "tail_micro_f1": micro_f1(Y[test].astype(bool), predicted),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="goemotions")
    parser.add_argument("--limit", type=int, default=8000, help="texts from the start of the stream")
    parser.add_argument("--learners", default="logistic,logistic-cc,majority", help="the first is the one checked")
    parser.add_argument("--tail", type=float, default=0.2, help="fraction of the stream scored against the offline bound")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quantized", action="store_true", help="also measure the first learner on int8 embeddings")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()

    texts = open_dataset(args.dataset)
    if not isinstance(texts, TextDataset):
        parser.error(f"{args.dataset} is not a text dataset")
    xs, ys, embedding = embed_stream(texts, args.limit, quantize=False)
    labels = list(ys[-1])
    counts = as_matrix(ys, labels).sum(axis=0)
    frequent = [labels[j] for j in np.argsort(-counts, kind="stable")[:10]]
    tail_start = int(round(len(xs) * (1 - args.tail)))
    print(f"{args.dataset}: {len(xs)} texts, {len(labels)} labels; embeddings {embedding}")

    results: dict = {
        "dataset": args.dataset, "instances": len(xs), "labels": len(labels), "tail_start": tail_start,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "learners": {}, "frequent_labels": {label: int(counts[labels.index(label)]) for label in frequent},
    }  # fmt: skip
    names = registry.expand(args.learners)
    for name in names:
        row = prequential(name, xs, ys, labels, tail_start, args.seed)
        results["learners"][name] = row
        print(
            f"{name:<14} micro-F1 {row['whole']['micro_f1']:.4f}  macro-F1 {row['whole']['macro_f1']:.4f}  "
            f"example-F1 {row['whole']['example_f1']:.4f}  subset {row['whole']['subset_accuracy']:.4f}  "
            f"tail micro-F1 {row['tail_micro_f1']:.4f}  empty {row['empty_predictions']}  {row['instances_per_s']:.0f}/s"
        )
    bound = offline_bound(xs, ys, labels, tail_start, args.seed)
    results["offline_bound"] = bound
    print(f"offline bound (one-vs-rest LR, CV threshold {bound['threshold']:.2f}): tail micro-F1 {bound['tail_micro_f1']:.4f}")
    first = results["learners"][names[0]]
    if "majority" in results["learners"]:
        ratio = first["whole"]["micro_f1"] / results["learners"]["majority"]["whole"]["micro_f1"]
        results["ratio_to_majority"] = ratio
        print(f"{names[0]} / majority micro-F1 (whole stream): {ratio:.2f}  (target >= 1.3)")
    results["ratio_to_offline_bound"] = first["tail_micro_f1"] / bound["tail_micro_f1"]
    print(f"{names[0]} / offline bound micro-F1 (last {args.tail:.0%}): {results['ratio_to_offline_bound']:.2f}  (target >= 0.95)")
    print("per-label F1 of the 10 most frequent labels:")
    print(f"{'label':<16}{'count':>7}" + "".join(f"{name:>14}" for name in names))
    for label in frequent:
        row = "".join(f"{results['learners'][name]['per_label_f1'][label]:>14.3f}" for name in names)
        print(f"{label:<16}{results['frequent_labels'][label]:>7}{row}")

    if args.quantized:
        qxs, _, qembedding = embed_stream(texts, args.limit, quantize=True)
        a = np.array([[x[k] for k in xs[0]] for x in xs])
        b = np.array([[x[k] for k in xs[0]] for x in qxs])
        cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        quantized = prequential(names[0], qxs, ys, labels, tail_start, args.seed)
        results["quantized"] = {
            "embedding": qembedding, "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
            "micro_f1": quantized["whole"]["micro_f1"], "tail_micro_f1": quantized["tail_micro_f1"],
        }  # fmt: skip
        print(
            f"int8 embeddings: cosine to float32 mean {cosine.mean():.3f} (min {cosine.min():.3f}); {names[0]} micro-F1 "
            f"{quantized['whole']['micro_f1']:.4f} (float32 {first['whole']['micro_f1']:.4f}), tail {quantized['tail_micro_f1']:.4f}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
