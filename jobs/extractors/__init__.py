"""How text records become features: text extractors chosen by name (:mod:`jobs.extractors.registry`), one module each.

Built in: ``minilm`` (the default, sentence embeddings) and ``hashing`` (hashed word counts).
Numeric records need no extractor: the extractor stage passes them on, standardised when
``ExtractorConfig.standardize`` is set.
"""

from jobs.extractors import minilm, hashing  # noqa: F401, I001  (they register themselves, the default first)
from jobs.extractors.registry import EXTRACTORS, TextExtractor, UnknownExtractorError, lookup, make, register

__all__ = ["EXTRACTORS", "TextExtractor", "UnknownExtractorError", "lookup", "make", "register"]
