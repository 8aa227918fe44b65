"""Message schemas of tagstream's Kafka topics: parse and check at the edge, encode on the way out.

Six topics, one JSON Schema each in ``stream/schemas/`` (version 1 unless said):

* ``tagstream.records`` (input): key = record id, value ``{id, features | text, labels?, ts?}``.
  ``features`` is an object name -> number or a list of numbers (named ``f0`` .. ``f{n-1}``);
  ``text`` a non-blank string; ``labels`` the list of labels that are on (absent: predict only;
  ``[]``: no label is on); ``ts`` the event time, epoch seconds (number) or an ISO 8601 string with
  a UTC offset, always normalised to epoch seconds. Unknown fields are rejected. When the message
  has a key it must equal the UTF-8 bytes of ``id`` (a keyless message is accepted).
* ``tagstream.predictions``: ``{id, labels, scores, learner, model_version, latency_ms, ts}``.
* ``tagstream.drift`` (version 2): the drift monitor's alerts, ``{event_id, level, kind, severity,
  labels, learner, clusters, window, model_version, detector, statistic, job, detail, ts}``.
* ``tagstream.model-events``: the learners' own events (splits, merges, serving changes,
  alternate trees, champion switches), ``{learner, level, kind, labels, node, instance, ts, detail}``.
* ``tagstream.labels`` (delayed labels): key = record id, value ``{id, labels}``.
* ``tagstream.deadletter``: the original bytes and key of a rejected message, with the headers
  listed in :func:`dead_letter_headers`.

Every rejection raises :class:`RecordError` with one of the reason codes in :data:`REASONS`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import importlib.resources
import json
import math
import typing

import orjson
import pydantic

from stream.errors import RecordError

__all__ = [
    "REASONS",
    "DeadLetter",
    "DriftAlert",
    "LabelUpdate",
    "ModelEvent",
    "Prediction",
    "Record",
    "RecordError",
    "RecordLimits",
    "dead_letter_headers",
    "encode_json",
    "truncation_headers",
    "json_schema",
    "parse_dead_letter",
    "parse_drift_alert",
    "parse_label_update",
    "parse_model_event",
    "parse_prediction",
    "parse_record",
]

#: Why a message was rejected. A fixed, small set: each code is a Prometheus label value.
REASONS = (
    "tombstone",  # the value is null
    "oversize",  # more bytes than allowed
    "encoding",  # not UTF-8
    "json",  # not JSON
    "non_finite",  # NaN or an infinity, as a JSON token or an overflowing number
    "not_object",  # JSON, but not an object
    "unknown_field",  # a field the schema does not define
    "id",  # id missing, empty or not a string
    "key_mismatch",  # the message key is not the id
    "payload",  # neither or both of features and text
    "features",  # features of the wrong shape or a value that is not a number
    "too_many_features",
    "too_deep",  # JSON nested deeper than allowed
    "text",  # text empty or not a string
    "text_too_long",
    "labels",  # labels not a list of distinct non-empty strings
    "too_many_labels",
    "label_too_long",
    "ts",  # ts neither epoch seconds nor ISO 8601 with an offset
    "schema",  # an output topic's message (prediction, drift alert) breaks its schema
    # Refused by the learners, not by the parser:
    "label_space_full",  # the record brings a new label while the label space is full
    "feature_space_full",  # the record brings a new feature while the feature space is full
    "crashed_learner",  # a learner actor died on this record twice in a row
)

#: Defaults of :func:`parse_record`'s limits. 1 MiB is also Kafka's default maximum message size.
MAX_RECORD_BYTES = 1 << 20
MAX_FEATURES = 10_000
MAX_LABELS = 100
MAX_LABEL_CHARS = 200
MAX_TEXT_CHARS = 100_000
MAX_JSON_DEPTH = 32


class RecordLimits(pydantic.BaseModel):
    """How much one message, and the stream as a whole, may bring; anything beyond is dead-lettered.

    Parsing (:func:`parse_record`, :func:`parse_label_update`) checks the per-message limits; the
    learner actors check the two space limits; the dead-letter sink uses the last three.

    Parameters
    ----------
    max_record_bytes
        Largest message value accepted (reason ``oversize``). The producers' request size
        follows it (see :meth:`producer_request_bytes`).
    max_labels_per_record
        Most labels one record or late-label update may turn on (``too_many_labels``).
    max_label_chars
        Longest label name, in characters (``label_too_long``).
    max_features
        Most features one record may carry (``too_many_features``).
    max_text_chars
        Longest text, in characters (``text_too_long``).
    max_json_depth
        Deepest nesting of JSON arrays and objects (``too_deep``).
    max_label_space
        Most distinct labels a learner actor takes in over the stream; a record that would add
        one more is refused (``label_space_full``).
    max_feature_space
        Most distinct feature names a learner actor learns from over the stream; a record that
        would add more is refused (``feature_space_full``).
    dead_letter_max_bytes
        Largest dead letter (value, key and headers) the dead-letter topic takes; Kafka's default
        ``max.message.bytes`` is about 1 MiB. A bigger one keeps only the head of its value.
    dead_letter_head_bytes
        How much of a value such a dead letter keeps.
    dead_letter_scan
        Dead letters read back per partition of the dead-letter topic, when a restarted job sends
        its first one, to publish no message twice.

    Examples
    --------
    >>> limits = RecordLimits(max_labels_per_record=2)
    >>> parse_record(b'{"id": "r", "text": "x", "labels": ["a", "b", "c"]}', limits=limits)
    Traceback (most recent call last):
    ...
    stream.errors.RecordError: too_many_labels: record 'r': labels has 3 labels, more than the limit of 2

    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    max_record_bytes: int = pydantic.Field(MAX_RECORD_BYTES, gt=0)
    max_labels_per_record: int = pydantic.Field(MAX_LABELS, gt=0)
    max_label_chars: int = pydantic.Field(MAX_LABEL_CHARS, gt=0)
    max_features: int = pydantic.Field(MAX_FEATURES, gt=0)
    max_text_chars: int = pydantic.Field(MAX_TEXT_CHARS, gt=0)
    max_json_depth: int = pydantic.Field(MAX_JSON_DEPTH, ge=2)
    max_label_space: int = pydantic.Field(10_000, gt=0)
    max_feature_space: int = pydantic.Field(100_000, gt=0)
    dead_letter_max_bytes: int = pydantic.Field(1_000_000, ge=4096)
    dead_letter_head_bytes: int = pydantic.Field(65_536, ge=0)
    dead_letter_scan: int = pydantic.Field(10_000, ge=0)

    @pydantic.model_validator(mode="after")
    def _head_fits(self) -> RecordLimits:
        if self.dead_letter_head_bytes + _DEAD_LETTER_HEADROOM > self.dead_letter_max_bytes:
            raise ValueError(
                f"dead_letter_head_bytes ({self.dead_letter_head_bytes}) plus {_DEAD_LETTER_HEADROOM} bytes of "
                f"headers must fit in dead_letter_max_bytes ({self.dead_letter_max_bytes})"
            )
        return self

    def producer_request_bytes(self) -> int:
        """The request size a job's producers need: the biggest record or dead letter, with headers."""
        return max(self.max_record_bytes, self.dead_letter_max_bytes) + _DEAD_LETTER_HEADROOM


#: Room left for a dead letter's key and headers beside a value's head (the error message is cut
#: at 1000 characters; a key or source headers beyond the rest of this room are cut as well).
_DEAD_LETTER_HEADROOM = 16_384

DEFAULT_LIMITS = RecordLimits()

_RECORD_FIELDS = frozenset({"id", "features", "text", "labels", "known", "unknown", "ts"})
_LABEL_UPDATE_FIELDS = frozenset({"id", "labels", "known", "unknown"})


def _check_judged(
    obj: dict, labels: tuple[str, ...] | None, where: str, limits: RecordLimits
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """``(known, unknown)`` of a message: which labels were judged, for partial feedback.

    ``known`` lists the labels judged (it must include every label that is on), ``unknown`` the
    labels not judged (none of them on); at most one of the two, and only beside ``labels``.
    """
    known, unknown = obj.get("known"), obj.get("unknown")
    if known is None and unknown is None:
        return None, None
    if known is not None and unknown is not None:
        raise RecordError(
            "labels", f"{where} has both 'known' and 'unknown'; give the labels judged or those not judged"
        )
    if labels is None:
        raise RecordError("labels", f"{where} has '{'known' if known is not None else 'unknown'}' without 'labels'")
    if known is not None:
        known = _check_labels(known, f"{where}: known", limits.max_labels_per_record, limits.max_label_chars)
        missing = [label for label in labels if label not in known]
        if missing:
            raise RecordError("labels", f"{where}: labels {missing} are on but not in 'known'")
        return known, None
    unknown = _check_labels(unknown, f"{where}: unknown", limits.max_labels_per_record, limits.max_label_chars)
    both = [label for label in labels if label in unknown]
    if both:
        raise RecordError("labels", f"{where}: labels {both} are both on and 'unknown'")
    return None, unknown


class _NonFiniteToken(ValueError):
    pass


def _reject_constant(token: str) -> typing.NoReturn:
    raise _NonFiniteToken(token)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFiniteToken(literal)
    return value


def _float_sized_int(literal: str) -> int:
    value = int(literal)
    try:
        float(value)
    except OverflowError:
        raise _NonFiniteToken(literal) from None
    return value


def _load_object(value: bytes | None, max_bytes: int | None = None, max_depth: int = MAX_JSON_DEPTH) -> dict:
    if value is None:
        raise RecordError("tombstone", "the message value is null")
    if max_bytes is not None and len(value) > max_bytes:
        raise RecordError("oversize", f"{len(value)} bytes, more than the limit of {max_bytes}")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        if error.msg.startswith("depth limit"):
            raise RecordError("too_deep", f"JSON nested beyond the parser's limit at column {error.colno}") from None
        _explain_bad_json(value, error)
    # Nesting needs an opening bracket per level: most values are ruled out without a walk.
    if value.count(b"[") + value.count(b"{") > max_depth and _depth(obj) > max_depth:
        raise RecordError("too_deep", f"JSON nested more than {max_depth} levels deep")
    if type(obj) is not dict:
        raise RecordError("not_object", f"expected a JSON object, got {_json_type(obj)}")
    return obj


def _depth(obj) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest = 0
    pending = [(obj, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if type(item) is dict else item if type(item) is list else None
        if children is None:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children if type(child) in (dict, list))
    return deepest


def _explain_bad_json(value: bytes, error: orjson.JSONDecodeError) -> typing.NoReturn:
    """Find the reason code of a value orjson refused (rare, so the slower standard parser is fine)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise RecordError("encoding", f"not UTF-8 at byte {bad.start}") from None
    try:
        json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_float_sized_int)
    except _NonFiniteToken as token:
        raise RecordError("non_finite", f"JSON number {str(token)[:32]} is not finite") from None
    except (ValueError, RecursionError):
        pass
    raise RecordError("json", f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_fields(obj: dict, allowed: frozenset[str], what: str) -> None:
    if not allowed.issuperset(obj):
        unknown = sorted(set(obj) - allowed)
        raise RecordError("unknown_field", f"{what} has unknown field(s) {unknown}; allowed: {sorted(allowed)}")


def _check_id(obj: dict, key: bytes | None) -> str:
    record_id = obj.get("id")
    if type(record_id) is not str or not record_id:
        shown = "missing" if "id" not in obj else f"a {_json_type(record_id)} {record_id!r}"
        raise RecordError("id", f"id must be a non-empty string, got {shown}")
    if key is not None and key != record_id.encode("utf-8"):
        raise RecordError("key_mismatch", f"message key {key[:64]!r} differs from id {record_id[:64]!r}")
    return record_id


def _finite(value, reason: str, where: str) -> float:
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise RecordError("non_finite", f"{where} is {value}")
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            raise RecordError("non_finite", f"{where} overflows a float") from None
    raise RecordError(reason, f"{where} must be a number, got {_json_type(value)}")


def _check_labels(labels, where: str, max_labels: int | None = None, max_chars: int | None = None) -> tuple[str, ...]:
    if type(labels) is not list:
        raise RecordError("labels", f"{where} must be a list of label names, got {_json_type(labels)}")
    if max_labels is not None and len(labels) > max_labels:
        raise RecordError("too_many_labels", f"{where} has {len(labels)} labels, more than the limit of {max_labels}")
    for label in labels:
        if type(label) is not str or not label:
            raise RecordError("labels", f"{where} must hold non-empty strings, got {_json_type(label)} {label!r}")
        if max_chars is not None and len(label) > max_chars:
            raise RecordError(
                "label_too_long", f"{where} holds a label of {len(label)} characters, more than the limit of {max_chars}"
            )
    if len(set(labels)) != len(labels):
        seen: set[str] = set()
        repeated = sorted({label for label in labels if label in seen or seen.add(label)})
        raise RecordError("labels", f"{where} repeats {repeated}")
    return tuple(labels)


_FLOAT = frozenset({float})
_NUMBER = frozenset({float, int})


def _check_features(raw: dict | list, max_features: int) -> dict[str, float]:
    if len(raw) > max_features:
        raise RecordError("too_many_features", f"{len(raw)} features, more than the limit of {max_features}")
    names = raw.keys() if type(raw) is dict else _positional_names(len(raw))
    values = raw.values() if type(raw) is dict else raw
    # Fast path for the usual all-number row: one pass over the types, one finite sum (a sum that
    # overflows sends a finite row down the exact path below, which accepts it). A parsed object
    # of floats only is already the answer (it is ours: fresh from the decoder).
    kinds = set(map(type, values))
    if kinds <= _NUMBER:
        try:
            floats = values if kinds <= _FLOAT else list(map(float, values))
            if math.isfinite(sum(floats)):
                return raw if floats is values and type(raw) is dict else dict(zip(names, floats))
        except OverflowError:
            pass
    return {name: _finite(value, "features", f"feature {name!r}") for name, value in zip(names, values)}


@functools.lru_cache(maxsize=64)
def _positional_names(count: int) -> tuple[str, ...]:
    """``f0 .. f{count-1}``: the names of a feature list's entries (rows of a stream share one length)."""
    return tuple(f"f{i}" for i in range(count))


def _check_ts(ts) -> float:
    if type(ts) is str:
        try:
            moment = datetime.datetime.fromisoformat(ts)
        except ValueError:
            raise RecordError("ts", f"ts {ts[:64]!r} is not ISO 8601") from None
        if moment.tzinfo is None:
            raise RecordError("ts", f"ts {ts[:64]!r} has no UTC offset (add 'Z' or '+00:00')")
        return moment.timestamp()
    return _finite(ts, "ts", "ts")


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One input record of ``tagstream.records``.

    Parameters
    ----------
    id
        Record identifier; also the message key.
    features
        Feature name -> value (``None`` for a text record).
    text
        Raw text to embed (``None`` for a feature record).
    labels
        The labels that are on, or ``None`` when the record is to be predicted only.
    ts
        Event time in epoch seconds, if the producer gave one.
    known, unknown
        Partial feedback: the labels judged, or the labels not judged (at most one of the two;
        ``None`` when every label was judged). A judged label not in ``labels`` is off.

    Examples
    --------
    >>> record = parse_record(b'{"id": "r1", "features": [0.5, 2], "labels": ["a"]}', key=b"r1")
    >>> record
    Record(id='r1', features={'f0': 0.5, 'f1': 2.0}, text=None, labels=('a',), ts=None, known=None, unknown=None)
    >>> encode_json(record.to_json())
    b'{"id":"r1","features":{"f0":0.5,"f1":2.0},"labels":["a"]}'

    """

    id: str
    features: dict[str, float] | None = None
    text: str | None = None
    labels: tuple[str, ...] | None = None
    ts: float | None = None
    known: tuple[str, ...] | None = None
    unknown: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        out: dict = {"id": self.id}
        if self.features is not None:
            out["features"] = self.features
        if self.text is not None:
            out["text"] = self.text
        if self.labels is not None:
            out["labels"] = list(self.labels)
        if self.known is not None:
            out["known"] = list(self.known)
        if self.unknown is not None:
            out["unknown"] = list(self.unknown)
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    @property
    def key(self) -> bytes:
        return self.id.encode("utf-8")


def parse_record(
    value: bytes | None,
    key: bytes | None = None,
    *,
    max_bytes: int | None = None,
    max_features: int | None = None,
    limits: RecordLimits | None = None,
) -> Record:
    """Parse and check one message of ``tagstream.records``.

    Parameters
    ----------
    value
        The message value; ``None`` is a tombstone and rejected.
    key
        The message key; when given it must be the UTF-8 bytes of the record's id.
    max_bytes
        Largest accepted value size (default: ``limits.max_record_bytes``).
    max_features
        Largest accepted number of features (default: ``limits.max_features``).
    limits
        Every limit of a message (default: :class:`RecordLimits`' defaults).

    Raises
    ------
    RecordError
        With a reason code from :data:`REASONS`.

    Examples
    --------
    >>> parse_record(b'{"id": "7", "text": "rain again", "ts": "2026-01-01T00:00:00Z"}')
    Record(id='7', features=None, text='rain again', labels=None, ts=1767225600.0, known=None, unknown=None)
    >>> parse_record(b'{"id": "7", "features": {"x": NaN}}')
    Traceback (most recent call last):
    ...
    stream.errors.RecordError: non_finite: JSON number NaN is not finite

    """
    limits = DEFAULT_LIMITS if limits is None else limits
    obj = _load_object(value, limits.max_record_bytes if max_bytes is None else max_bytes, limits.max_json_depth)
    _check_fields(obj, _RECORD_FIELDS, "record")
    record_id = _check_id(obj, key)

    raw_features = obj.get("features")
    text = obj.get("text")
    if (raw_features is None) == (text is None):
        which = "both" if raw_features is not None else "neither"
        raise RecordError("payload", f"record {record_id!r} has {which} of 'features' and 'text'; exactly one is needed")

    features = None
    if raw_features is not None:
        if type(raw_features) is not dict and type(raw_features) is not list:
            raise RecordError(
                "features",
                f"record {record_id!r}: features must be an object or a list, got {_json_type(raw_features)}",
            )
        try:
            features = _check_features(raw_features, limits.max_features if max_features is None else max_features)
        except RecordError as error:
            raise RecordError(error.reason, f"record {record_id!r}: {error.message}") from None
    elif type(text) is not str or not text.strip():
        shown = _json_type(text) if type(text) is not str else "blank string"
        raise RecordError("text", f"record {record_id!r}: text must be a non-blank string, got {shown}")
    elif len(text) > limits.max_text_chars:
        raise RecordError(
            "text_too_long", f"record {record_id!r}: text of {len(text)} characters, more than the limit of {limits.max_text_chars}"
        )

    labels = obj.get("labels")
    if labels is not None:
        labels = _check_labels(
            labels, f"record {record_id!r}: labels", limits.max_labels_per_record, limits.max_label_chars
        )

    known, unknown = _check_judged(obj, labels, f"record {record_id!r}", limits)

    ts = obj.get("ts")
    if ts is not None:
        try:
            ts = _check_ts(ts)
        except RecordError as error:
            raise RecordError("ts", f"record {record_id!r}: {error.message}") from None
    return Record(id=record_id, features=features, text=text, labels=labels, ts=ts, known=known, unknown=unknown)


def encode_json(obj) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities raise ``ValueError`` rather than produce invalid JSON.

    Examples
    --------
    >>> encode_json({"id": "é", "scores": {"a": 0.25}})
    b'{"id":"\\xc3\\xa9","scores":{"a":0.25}}'
    >>> encode_json({"scores": {"a": float("nan")}})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant...

    """
    # orjson encodes a prediction several times faster than the standard library (floats above
    # all), but writes NaN and infinities as null: output with a null goes through the standard
    # encoder, which refuses them (and keeps a null that was one). So does anything orjson refuses
    # (integers beyond 64 bits, non-string keys), which the standard encoder accepts or names.
    try:
        encoded = orjson.dumps(obj)
    except orjson.JSONEncodeError:
        encoded = b"null"
    if b"null" not in encoded:
        return encoded
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclasses.dataclass(frozen=True, slots=True)
class LabelUpdate:
    """The labels of an earlier record, arriving late on ``tagstream.labels``.

    ``known`` / ``unknown`` say which labels were judged, as in :class:`Record`. A second update
    for a record already learned is a correction.

    Examples
    --------
    >>> parse_label_update(b'{"id": "r1", "labels": ["a", "b"]}', key=b"r1")
    LabelUpdate(id='r1', labels=('a', 'b'), known=None, unknown=None)
    >>> parse_label_update(b'{"id": "r1", "labels": ["a"], "unknown": ["c"]}').unknown
    ('c',)

    """

    id: str
    labels: tuple[str, ...]
    known: tuple[str, ...] | None = None
    unknown: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "labels": list(self.labels)}
        if self.known is not None:
            out["known"] = list(self.known)
        if self.unknown is not None:
            out["unknown"] = list(self.unknown)
        return out


def parse_label_update(
    value: bytes | None, key: bytes | None = None, *, limits: RecordLimits | None = None
) -> LabelUpdate:
    """Parse and check one message of ``tagstream.labels`` (same key rule and limits as :func:`parse_record`)."""
    limits = DEFAULT_LIMITS if limits is None else limits
    obj = _load_object(value, limits.max_record_bytes, limits.max_json_depth)
    _check_fields(obj, _LABEL_UPDATE_FIELDS, "label update")
    record_id = _check_id(obj, key)
    if "labels" not in obj:
        raise RecordError("labels", f"label update {record_id!r} has no labels")
    labels = _check_labels(
        obj["labels"], f"label update {record_id!r}: labels", limits.max_labels_per_record, limits.max_label_chars
    )
    known, unknown = _check_judged(obj, labels, f"label update {record_id!r}", limits)
    return LabelUpdate(id=record_id, labels=labels, known=known, unknown=unknown)


def _require(obj: dict, fields: dict[str, tuple[type, ...]], what: str) -> None:
    missing = [name for name in fields if name not in obj]
    if missing:
        raise RecordError("schema", f"{what} lacks field(s) {missing}")
    _check_fields(obj, frozenset(fields), what)
    for name, types in fields.items():
        value = obj[name]
        if type(value) not in types:
            raise RecordError("schema", f"{what}: {name} must be {'/'.join(t.__name__ for t in types)}, got {_json_type(value)}")


@dataclasses.dataclass(frozen=True, slots=True)
class Prediction:
    """One message of ``tagstream.predictions``.

    Parameters
    ----------
    id
        Id of the predicted record.
    labels
        The labels predicted on.
    scores
        Label -> probability that it is on, for every label the model knows.
    learner
        Name of the learner that predicted.
    model_version
        Number of records the model had learned from when it predicted.
    latency_ms
        Time from consuming the record to producing the prediction.
    ts
        Epoch seconds when the prediction was made.

    Examples
    --------
    >>> p = Prediction("r1", ("a",), {"a": 0.9, "b": 0.1}, "br-ht", 42, 3.5, 1767225600.0)
    >>> parse_prediction(encode_json(p.to_json())) == p
    True

    """

    id: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    learner: str
    model_version: int
    latency_ms: float
    ts: float

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "labels": list(self.labels),
            "scores": self.scores,
            "learner": self.learner,
            "model_version": self.model_version,
            "latency_ms": self.latency_ms,
            "ts": self.ts,
        }


_PREDICTION_FIELDS = {
    "id": (str,),
    "labels": (list,),
    "scores": (dict,),
    "learner": (str,),
    "model_version": (int,),
    "latency_ms": (int, float),
    "ts": (int, float),
}


def parse_prediction(value: bytes | None) -> Prediction:
    """Parse and check one message of ``tagstream.predictions``."""
    obj = _load_object(value)
    _require(obj, _PREDICTION_FIELDS, "prediction")
    try:
        scores = {str(label): _finite(score, "schema", f"score of {label!r}") for label, score in obj["scores"].items()}
        labels = _check_labels(obj["labels"], "prediction labels")
    except RecordError as error:
        raise RecordError("schema", f"prediction {obj['id']!r}: {error.message}") from None
    return Prediction(
        id=obj["id"],
        labels=labels,
        scores=scores,
        learner=obj["learner"],
        model_version=obj["model_version"],
        latency_ms=float(obj["latency_ms"]),
        ts=float(obj["ts"]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ModelEvent:
    """One message of ``tagstream.model-events``: a learner's own event plus the time it was published.

    Built from the plain dict of ``learners.base.DriftEvent.to_dict()`` (``stream`` does not import
    ``learners``): a split, a merge, a serving change, an alternate tree, a champion switch, the
    learner's own drift detector firing. Structural bookkeeping, apart from the drift monitor's
    alerts on ``tagstream.drift`` (:class:`DriftAlert`).

    Examples
    --------
    >>> event = {"learner": "mlhat", "level": "local", "kind": "split", "instance": 120,
    ...          "labels": ["a"], "node": "root/0", "detail": {"feature": "f3"}}
    >>> model_event = ModelEvent.from_event(event, ts=1767225600.0)
    >>> parse_model_event(encode_json(model_event.to_json())) == model_event
    True

    """

    learner: str
    level: str
    kind: str
    labels: tuple[str, ...]
    node: str | None
    instance: int
    ts: float
    detail: dict

    @classmethod
    def from_event(cls, event: typing.Mapping, ts: float) -> ModelEvent:
        obj = dict(event)
        obj["ts"] = ts
        return _model_event_from_object(obj)

    def to_json(self) -> dict:
        return {
            "learner": self.learner,
            "level": self.level,
            "kind": self.kind,
            "labels": list(self.labels),
            "node": self.node,
            "instance": self.instance,
            "ts": self.ts,
            "detail": self.detail,
        }


_MODEL_EVENT_FIELDS = {
    "learner": (str,),
    "level": (str,),
    "kind": (str,),
    "labels": (list, tuple),
    "node": (str, type(None)),
    "instance": (int,),
    "ts": (int, float),
    "detail": (dict,),
}
_MODEL_EVENT_LEVELS = ("global", "local")


def _finite_detail(obj: dict, what: str) -> tuple[tuple[str, ...], float]:
    """The checked labels and ts of a model event or drift alert; its detail must encode as finite JSON."""
    try:
        labels = _check_labels(list(obj["labels"]), f"{what} labels")
        ts = _finite(obj["ts"], "schema", f"{what} ts")
        encode_json(obj["detail"])
    except RecordError as error:
        raise RecordError("schema", error.message) from None
    except (TypeError, ValueError) as error:
        raise RecordError("schema", f"{what} detail is not finite JSON: {error}") from None
    return labels, ts


def _model_event_from_object(obj: dict) -> ModelEvent:
    _require(obj, _MODEL_EVENT_FIELDS, "model event")
    if obj["level"] not in _MODEL_EVENT_LEVELS:
        raise RecordError("schema", f"model event: level must be one of {_MODEL_EVENT_LEVELS}, got {obj['level']!r}")
    labels, ts = _finite_detail(obj, "model event")
    return ModelEvent(
        learner=obj["learner"],
        level=obj["level"],
        kind=obj["kind"],
        labels=labels,
        node=obj["node"],
        instance=obj["instance"],
        ts=ts,
        detail=obj["detail"],
    )


def parse_model_event(value: bytes | None) -> ModelEvent:
    """Parse and check one message of ``tagstream.model-events``."""
    return _model_event_from_object(_load_object(value))


@dataclasses.dataclass(frozen=True, slots=True)
class DriftAlert:
    """One message of ``tagstream.drift`` (version 2): an alert of the drift monitor beside the learners.

    The value is ``learners.drift.Alert.to_dict()`` plus the publication time ``ts``; this class
    keeps what a reader shows (the full record stays in ``raw``).

    Examples
    --------
    >>> where = {"index": 7, "topic": None, "partition": None, "offset": None, "record_id": None, "ts": None}
    >>> alert = {"event_id": "ab12", "level": "drift", "kind": "prior", "severity": "medium", "labels": ["y3"],
    ...          "learner": None, "clusters": [], "window": {"first": where, "last": where}, "model_version": None,
    ...          "detector": "prior.y3", "statistic": {"name": "chi2", "value": 9.1, "threshold": 6.6},
    ...          "job": "tagstream", "detail": {}, "ts": 1767225600.0}
    >>> parsed = parse_drift_alert(encode_json(alert))
    >>> (parsed.kind, parsed.labels, parsed.first_index, parsed.last_index)
    ('prior', ('y3',), 7, 7)

    """

    event_id: str
    level: str
    kind: str
    severity: str
    labels: tuple[str, ...]
    learner: str | None
    detector: str
    first_index: int
    last_index: int
    ts: float
    raw: dict


_DRIFT_ALERT_FIELDS = {
    "event_id": (str,),
    "level": (str,),
    "kind": (str,),
    "severity": (str,),
    "labels": (list,),
    "learner": (str, type(None)),
    "clusters": (list,),
    "window": (dict,),
    "model_version": (int, type(None)),
    "detector": (str,),
    "statistic": (dict,),
    "job": (str,),
    "detail": (dict,),
    "ts": (int, float),
}
#: The closed vocabularies of a version 2 drift alert (``stream/schemas/tagstream.drift.json``).
DRIFT_ALERT_LEVELS = ("warning", "drift")
DRIFT_ALERT_KINDS = ("concept", "prior", "feature", "label_born", "label_dormant", "label_revived")
DRIFT_ALERT_SEVERITIES = ("low", "medium", "high")


def parse_drift_alert(value: bytes | None) -> DriftAlert:
    """Parse and check one message of ``tagstream.drift``: a drift monitor alert, nothing else."""
    obj = _load_object(value)
    _require(obj, _DRIFT_ALERT_FIELDS, "drift alert")
    for name, allowed in (("level", DRIFT_ALERT_LEVELS), ("kind", DRIFT_ALERT_KINDS), ("severity", DRIFT_ALERT_SEVERITIES)):
        if obj[name] not in allowed:
            raise RecordError("schema", f"drift alert: {name} must be one of {allowed}, got {obj[name]!r}")
    labels, ts = _finite_detail(obj, "drift alert")
    try:
        first, last = obj["window"]["first"]["index"], obj["window"]["last"]["index"]
    except (KeyError, TypeError):
        raise RecordError("schema", "drift alert: window must hold first and last positions with an index") from None
    if type(first) is not int or type(last) is not int:
        raise RecordError("schema", "drift alert: window positions must have integer indexes")
    return DriftAlert(
        event_id=obj["event_id"],
        level=obj["level"],
        kind=obj["kind"],
        severity=obj["severity"],
        labels=labels,
        learner=obj["learner"],
        detector=obj["detector"],
        first_index=first,
        last_index=last,
        ts=ts,
        raw=obj,
    )


#: Prefix under which a dead letter keeps the headers of the message it replaces.
SOURCE_HEADER_PREFIX = "source.header."


def dead_letter_headers(
    *,
    reason: str,
    error_class: str,
    error_message: str,
    topic: str,
    partition: int,
    offset: int,
    ts: float,
    source_headers: typing.Sequence[tuple[str, bytes | None]] = (),
    group: str | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of a dead letter; its value and key are the rejected message's own bytes.

    ``reason`` (a code from :data:`REASONS`, or the name of the failing step for errors that are
    not schema errors), ``error.class``, ``error.message`` (cut at 1000 characters),
    ``source.topic``, ``source.partition``, ``source.offset``, ``ts`` (epoch seconds when it was
    dead-lettered), ``source.group`` (the consumer group that read it, when known) and the
    rejected message's own headers renamed ``source.header.<name>``. A dead letter that keeps only
    the head of the value adds :func:`truncation_headers`.

    Examples
    --------
    >>> dead_letter_headers(reason="json", error_class="RecordError", error_message="bad",
    ...                     topic="t", partition=0, offset=5, ts=1.5)[:2]
    [('reason', b'json'), ('error.class', b'RecordError')]

    """
    headers = [
        ("reason", reason.encode("utf-8")),
        ("error.class", error_class.encode("utf-8")),
        ("error.message", error_message[:1000].encode("utf-8")),
        ("source.topic", topic.encode("utf-8")),
        ("source.partition", str(partition).encode("ascii")),
        ("source.offset", str(offset).encode("ascii")),
        ("ts", repr(float(ts)).encode("ascii")),
    ]
    if group is not None:
        headers.append(("source.group", group.encode("utf-8")))
    headers.extend((SOURCE_HEADER_PREFIX + name, value if value is not None else b"") for name, value in source_headers)
    return headers


#: A dead letter cut to its head keeps at most this much of the key and of each source header.
DEAD_LETTER_KEY_BYTES = 1024
DEAD_LETTER_SOURCE_HEADER_BYTES = 1024


def truncation_headers(value: bytes) -> list[tuple[str, bytes]]:
    """Headers of a dead letter that keeps only the head of ``value``: its size and SHA-256.

    Examples
    --------
    >>> truncation_headers(b"abc")[:2]
    [('value.truncated', b'1'), ('value.bytes', b'3')]

    """
    return [
        ("value.truncated", b"1"),
        ("value.bytes", str(len(value)).encode("ascii")),
        ("value.sha256", hashlib.sha256(value).hexdigest().encode("ascii")),
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message of ``tagstream.deadletter``, decoded.

    ``group`` is the consumer group that read the rejected message (``None`` when not recorded).
    ``original_bytes`` and ``sha256`` are set when ``value`` is only the head of the original.
    """

    reason: str
    error_class: str
    error_message: str
    source_topic: str
    source_partition: int
    source_offset: int
    ts: float
    value: bytes | None
    key: bytes | None
    source_headers: tuple[tuple[str, bytes], ...]
    group: str | None = None
    original_bytes: int | None = None
    sha256: str | None = None

    @property
    def truncated(self) -> bool:
        return self.original_bytes is not None


def parse_dead_letter(
    value: bytes | None, key: bytes | None, headers: typing.Sequence[tuple[str, bytes | None]]
) -> DeadLetter:
    """Decode a dead letter written with :func:`dead_letter_headers`.

    Examples
    --------
    >>> headers = dead_letter_headers(reason="json", error_class="RecordError", error_message="bad",
    ...                               topic="t", partition=0, offset=5, ts=1.5, source_headers=[("trace", b"x")])
    >>> letter = parse_dead_letter(b"{oops", b"k", headers)
    >>> letter.reason, letter.source_offset, letter.value, letter.source_headers
    ('json', 5, b'{oops', (('trace', b'x'),))

    """
    own = {}
    source_headers = []
    for name, raw in headers:
        if name.startswith(SOURCE_HEADER_PREFIX):
            source_headers.append((name[len(SOURCE_HEADER_PREFIX) :], raw or b""))
        else:
            own[name] = (raw or b"").decode("utf-8", errors="replace")
    needed = ("reason", "error.class", "error.message", "source.topic", "source.partition", "source.offset", "ts")
    missing = [name for name in needed if name not in own]
    if missing:
        raise RecordError("schema", f"dead letter lacks header(s) {missing}")
    try:
        partition, offset, ts = int(own["source.partition"]), int(own["source.offset"]), float(own["ts"])
        original_bytes = int(own["value.bytes"]) if own.get("value.truncated") == "1" else None
    except (ValueError, KeyError):
        raise RecordError("schema", "dead letter headers source.partition/source.offset/ts/value.bytes are not numbers") from None
    return DeadLetter(
        reason=own["reason"],
        error_class=own["error.class"],
        error_message=own["error.message"],
        source_topic=own["source.topic"],
        source_partition=partition,
        source_offset=offset,
        ts=ts,
        value=value,
        key=key,
        source_headers=tuple(source_headers),
        group=own.get("source.group"),
        original_bytes=original_bytes,
        sha256=own.get("value.sha256") if original_bytes is not None else None,
    )


def json_schema(topic: str) -> dict:
    """The JSON Schema (draft 2020-12) of one of the six default topics, from ``stream/schemas``.

    Examples
    --------
    >>> json_schema("tagstream.labels")["required"]
    ['id', 'labels']

    """
    resource = importlib.resources.files("stream") / "schemas" / f"{topic}.json"
    if not resource.is_file():
        raise KeyError(f"no schema for topic {topic!r}")
    return json.loads(resource.read_text(encoding="utf-8"))
