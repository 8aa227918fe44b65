"""The ``hashing`` text extractor: hashed word counts, no model and no torch."""

from __future__ import annotations

import hashlib
import math
import re
import typing

from jobs.extractors.registry import register

_WORD = re.compile(r"\w+")


@register("hashing", "Hashed word counts (signed, L2-normalised), no model")
class HashingExtractor:
    """Each lower-cased word is hashed into one of ``buckets`` features with a sign from the same
    hash (so collisions cancel on average rather than add up); each text's vector is L2-normalised.

    The hash is BLAKE2b of the word, not Python's ``hash``: it must give the same features in every
    process and every run (the learners' checkpoints outlive the extractor actor).

    Parameters
    ----------
    config
        The extractor settings (none of them applies).
    buckets
        Features per text at most: the hash's range.

    Examples
    --------
    >>> extractor = HashingExtractor(config=None, buckets=16)
    >>> features = extractor.transform(["the cat and the hat", ""])
    >>> round(sum(v * v for v in features[0].values()), 6), features[1]
    (1.0, {})
    >>> features[0] == extractor.transform(["The CAT and the hat"])[0]
    True

    """

    def __init__(self, config=None, buckets: int = 1024):
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        self.buckets = buckets

    def _bucket(self, word: str) -> tuple[str, float]:
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return f"h{digest % self.buckets}", -1.0 if digest >> 63 else 1.0

    def transform(self, texts: typing.Sequence[str]) -> list[dict[str, float]]:
        rows = []
        for text in texts:
            row: dict[str, float] = {}
            for word in _WORD.findall(text.lower()):
                name, sign = self._bucket(word)
                row[name] = row.get(name, 0.0) + sign
            norm = math.sqrt(sum(value * value for value in row.values()))
            rows.append({name: value / norm for name, value in row.items() if value} if norm else {})
        return rows
