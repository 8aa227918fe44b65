"""The on-disk embedding cache, and `tagstream evaluate` on a text dataset (second run embeds nothing)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import typer

from jobs import cli_offline
from jobs.embedding_cache import CachedEmbedder, EmbeddedTextDataset, EmbeddingCache
from jobs.features import TextEmbedder
from stream.text import TextDataset

TEXTS = [
    ("the team won the final", ["sport"]),
    ("rates rose again at the central bank", ["finance"]),
    ("the striker scored twice", ["sport"]),
    ("shares fell after the bank's results", ["finance"]),
    ("a goal in the last minute won the cup", ["sport"]),
    ("bond yields climbed as the bank raised rates", ["finance"]),
] * 5


@pytest.fixture(scope="module")
def embedder():
    return TextEmbedder(device="cpu")


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "news.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for i, (text, labels) in enumerate(TEXTS):
            out.write(json.dumps({"body": f"{text} ({i})", "topics": labels}) + "\n")
    return path


def test_cache_round_trip_and_duplicates(tmp_path):
    with EmbeddingCache(tmp_path, "model-a", dimensions=3) as cache:
        cache.put(["x", "y"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
        found = cache.get(["y", "z", "x", "y"])
        assert sorted(found) == [0, 2, 3] and found[2].tolist() == [1, 2, 3] and found[3].tolist() == [4, 5, 6]
        assert len(cache) == 2
    with EmbeddingCache(tmp_path, "model-b", dimensions=3) as other:
        assert other.get(["x"]) == {}  # another model identity, another file


def test_cached_embedder_embeds_each_text_once(tmp_path, embedder):
    texts = [text for text, _ in TEXTS[:6]]
    cached = CachedEmbedder(embedder, EmbeddingCache(tmp_path, embedder.identity, embedder.dimensions))
    first = cached.embed(texts)
    again = cached.embed(texts[::-1])
    assert (cached.embedded, cached.cached) == (6, 6)
    np.testing.assert_array_equal(again, first[::-1])
    np.testing.assert_allclose(first, embedder.embed(texts), atol=1e-6)


def test_identity_changes_with_what_changes_the_embeddings(embedder):
    assert embedder.identity == TextEmbedder(device="cpu").identity
    assert embedder.identity != TextEmbedder(device="cpu", max_length=32).identity


def test_embedded_dataset_yields_embeddings_and_every_label_seen(tmp_path, text_file, embedder):
    from stream.text import TextFields

    texts = TextDataset(text_file, fields=TextFields(text="body", labels="topics"))
    data = EmbeddedTextDataset(texts, CachedEmbedder(embedder, None), limit=4)
    rows = list(data)
    assert len(rows) == 4 and data.n_features == 384
    assert rows[0][1] == {"sport": True} and rows[1][1] == {"sport": False, "finance": True}
    assert set(rows[0][0]) == {f"emb{i}" for i in range(384)}


def offline_app() -> typer.Typer:
    app = typer.Typer()
    cli_offline.register(app)
    return app


def test_evaluate_a_text_file_twice_embeds_only_once(tmp_path, text_file):
    app = offline_app()
    runner = CliRunner()
    args = [
        "evaluate", "--dataset", str(text_file), "--learner", "logistic,majority", "--text-field", "body",
        "--labels-field", "topics", "--embedding-cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "logistic" in first.stdout and "majority" in first.stdout
    assert re.search(r"texts embedded: 30, from the embedding cache: 0", first.stdout)
    second = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert second.exit_code == 0, second.output
    assert re.search(r"texts embedded: 0, from the embedding cache: 30", second.stdout)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["dataset"] == {"name": "news", "instances": 30, "features": 384, "labels": 2}


def test_evaluate_reports_a_bad_text_line(tmp_path):
    app = offline_app()
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "labels": []}\n{"text": 3, "labels": []}\n')
    result = CliRunner().invoke(app, ["evaluate", "-d", str(path), "-l", "majority", "--no-embedding-cache", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output
