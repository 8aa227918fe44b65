"""The ``minilm`` text extractor (the default): sentence embeddings of ``text_model`` (see :class:`~jobs.features.TextEmbedder`)."""

from __future__ import annotations

from jobs.extractors.registry import register
from jobs.features import TextEmbedder


@register("minilm", "Sentence embeddings of text_model (packaged MiniLM by default), torch")
class MiniLMExtractor(TextEmbedder):
    """:class:`~jobs.features.TextEmbedder` built from the extractor settings: its model, device,
    chunk size, token limit and quantisation, with one torch thread per CPU the actor reserved."""

    def __init__(self, config):
        super().__init__(
            model=config.text_model,
            device=config.device,
            batch_size=config.batch_size,
            max_length=config.max_length,
            num_threads=config.num_cpus,
            quantize=config.quantize,
        )
