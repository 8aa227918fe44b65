"""The feature stage: text records embedded, numeric ones optionally standardised."""

from __future__ import annotations

import dataclasses
import time

from jobs.checkpoint import CheckpointError
from jobs import extractors
from jobs.config import ExtractorConfig
from jobs.features import FeatureError, NumericStandardizer
from jobs.stages.base import Restartable
from jobs.stages.messages import Batch


class FeatureStage(Restartable):
    """Turns every record into numeric features.

    Text records go through the text extractor named by ``config.text_extractor``
    (:mod:`jobs.extractors`; built at the first text record, so numeric streams never pay for
    torch); numeric records pass through, or are
    standardised online when ``config.standardize`` is set.

    Parameters
    ----------
    config
        Extractor settings.
    checkpoint_uri
        Folder (path or fsspec URI) of the stage's checkpoints, written with the learners'
        (:meth:`checkpoint`): the online standardisation's statistics, restored with the other
        stages (:meth:`restore`), so that a restarted job transforms records as before.
    checkpoint_keep
        Checkpoints kept in that folder.
    checkpoint_key
        HMAC key that signs the checkpoints, and without which none is read.
    holds_state
        Whether this replica holds the standardisation state. In a pool of extractors
        (:mod:`jobs.extractor_pool`) only replica 0 does; the others embed text and refuse to
        standardise (:class:`~jobs.features.FeatureError`), since moments split over replicas
        would scale the same record differently depending on where it went.

    """

    STAGE = "extractor"
    OWNER = ["extractor"]

    def __init__(
        self,
        config: ExtractorConfig,
        checkpoint_uri: str | None = None,
        checkpoint_keep: int = 3,
        checkpoint_key: bytes | None = None,
        holds_state: bool = True,
    ):
        super().__init__(checkpoint_uri, checkpoint_keep, checkpoint_key)
        self.config = config
        self.holds_state = holds_state
        self._embedder: extractors.TextExtractor | None = None
        self._scaler = NumericStandardizer() if config.standardize and holds_state else None
        self._transformed = 0

    def _owner(self) -> list[str]:
        return self.OWNER

    def _state(self) -> dict:
        """The online standardisation's statistics (``None`` without standardisation)."""
        return {"scaler": self._scaler}

    def _apply_state(self, state: dict) -> None:
        if (state["scaler"] is None) != (self._scaler is None):
            raise CheckpointError(
                f"the checkpoint in {self.checkpoint_uri} was written with standardize={state['scaler'] is not None}, "
                f"this job runs standardize={self.config.standardize}"
            )
        self._scaler = state["scaler"]

    def transform(self, batch: Batch) -> Batch:
        self._require_ready()
        started = time.perf_counter()
        self._transformed += 1
        texts = [i for i, record in enumerate(batch.records) if record.text is not None]
        if self.config.standardize and not self.holds_state and len(texts) < len(batch.records):
            raise FeatureError(
                "this extractor replica holds no standardisation state: numeric records are standardised "
                "by replica 0 only (jobs.extractor_pool)"
            )
        if not texts and self._scaler is None:
            return batch
        records = list(batch.records)
        if texts:
            embedded = self._text_embedder().transform([records[i].text for i in texts])
            for i, features in zip(texts, embedded):
                records[i] = dataclasses.replace(records[i], features=features, text=None)
        if self._scaler is not None:
            embedded_at = set(texts)
            for i, record in enumerate(records):
                if i not in embedded_at:
                    records[i] = dataclasses.replace(record, features=self._scaler.learn_transform_one(record.features))
        return dataclasses.replace(batch, records=records, extract_s=time.perf_counter() - started)

    def transformed(self) -> int:
        """Batches this incarnation has transformed."""
        return self._transformed

    def _text_embedder(self) -> extractors.TextExtractor:
        if self._embedder is None:
            self._embedder = extractors.make(self.config.text_extractor, self.config)
        return self._embedder


def extractor_gpus(device: str, cluster_gpus: float) -> int:
    """GPUs the extractor actor asks Ray for: one when it may use CUDA and the cluster has a GPU.

    The driver may have no GPU while the cluster's workers do, so this looks at the cluster's
    resources rather than at ``torch.cuda`` in the driver.

    Examples
    --------
    >>> extractor_gpus("auto", cluster_gpus=2), extractor_gpus("auto", cluster_gpus=0), extractor_gpus("cpu", 1)
    (1, 0, 0)

    """
    if device == "cpu":
        return 0
    if device == "cuda":
        if cluster_gpus <= 0:
            raise ValueError("extractor device 'cuda' was requested but the Ray cluster has no GPU")
        return 1
    return 1 if cluster_gpus > 0 else 0
