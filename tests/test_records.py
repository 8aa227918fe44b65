"""Message schemas: round trips, one test per kind of malformed input, agreement with the JSON Schemas."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners.base import DriftEvent
from stream.kafka import TopicNames
from stream.records import (
    REASONS,
    LabelUpdate,
    ModelEvent,
    Prediction,
    Record,
    RecordError,
    RecordLimits,
    dead_letter_headers,
    encode_json,
    json_schema,
    parse_dead_letter,
    parse_label_update,
    parse_model_event,
    parse_prediction,
    parse_record,
)

names = st.text(min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
label_lists = st.lists(names, max_size=6, unique=True).map(tuple)


@st.composite
def records(draw) -> Record:
    has_features = draw(st.booleans())
    return Record(
        id=draw(names),
        features=draw(st.dictionaries(names, finite, max_size=8)) if has_features else None,
        text=None if has_features else draw(st.text(min_size=1).filter(str.strip)),
        labels=draw(st.none() | label_lists),
        ts=draw(st.none() | finite),
    )


@given(records())
def test_record_round_trip(record):
    assert parse_record(encode_json(record.to_json()), key=record.key) == record


@given(records())
@settings(max_examples=50)
def test_encoded_records_follow_the_json_schema(record):
    jsonschema.validate(json.loads(encode_json(record.to_json())), json_schema("tagstream.records"))


@given(st.lists(finite, max_size=10))
def test_feature_lists_are_named_by_position(values):
    record = parse_record(encode_json({"id": "r", "features": values}))
    assert record.features == {f"f{i}": value for i, value in enumerate(values)}
    assert all(type(value) is float for value in record.features.values())


def test_integers_become_floats_and_labels_keep_their_order():
    record = parse_record(b'{"id": "r", "features": {"a": 3, "b": -0.5}, "labels": ["z", "a"]}')
    assert record.features == {"a": 3.0, "b": -0.5} and type(record.features["a"]) is float
    assert record.labels == ("z", "a")


def test_absent_labels_mean_predict_only_and_empty_labels_mean_none_on():
    assert parse_record(b'{"id": "r", "text": "x"}').labels is None
    assert parse_record(b'{"id": "r", "text": "x", "labels": []}').labels == ()


@pytest.mark.parametrize(
    "ts, expected",
    [
        (1767225600, 1767225600.0),
        (1767225600.25, 1767225600.25),
        ('"2026-01-01T00:00:00Z"', 1767225600.0),
        ('"2026-01-01T02:00:00+02:00"', 1767225600.0),
        ('"2026-01-01T00:00:00.500+00:00"', 1767225600.5),
    ],
)
def test_ts_is_epoch_seconds_or_iso_8601_with_an_offset(ts, expected):
    assert parse_record(f'{{"id": "r", "text": "x", "ts": {ts}}}'.encode()).ts == expected


def test_a_keyless_message_is_accepted():
    assert parse_record(b'{"id": "r", "text": "x"}', key=None).id == "r"


MALFORMED = [
    ("tombstone", None, None),
    ("encoding", b'{"id": "r", "text": "\xff"}', None),
    ("json", b'{"id": "r", "text": "x"', None),
    ("json", b"", None),
    ("non_finite", b'{"id": "r", "features": {"a": NaN}}', None),
    ("non_finite", b'{"id": "r", "features": [Infinity]}', None),
    ("non_finite", b'{"id": "r", "features": [-Infinity]}', None),
    ("non_finite", b'{"id": "r", "features": [1e999]}', None),
    ("non_finite", b'{"id": "r", "features": {"a": 1' + b"0" * 400 + b"}}", None),
    ("non_finite", b'{"id": "r", "text": "x", "ts": NaN}', None),
    ("not_object", b'["r"]', None),
    ("not_object", b'"r"', None),
    ("not_object", b"null", None),
    ("unknown_field", b'{"id": "r", "text": "x", "label": ["a"]}', None),
    ("id", b'{"text": "x"}', None),
    ("id", b'{"id": "", "text": "x"}', None),
    ("id", b'{"id": 7, "text": "x"}', None),
    ("id", b'{"id": null, "text": "x"}', None),
    ("key_mismatch", b'{"id": "r", "text": "x"}', b"s"),
    ("key_mismatch", b'{"id": "r", "text": "x"}', b""),
    ("payload", b'{"id": "r"}', None),
    ("payload", b'{"id": "r", "features": {}, "text": "x"}', None),
    ("features", b'{"id": "r", "features": {"a": "1"}}', None),
    ("features", b'{"id": "r", "features": {"a": true}}', None),
    ("features", b'{"id": "r", "features": [false]}', None),
    ("features", b'{"id": "r", "features": {"a": {"b": 1}}}', None),
    ("features", b'{"id": "r", "features": [[1]]}', None),
    ("features", b'{"id": "r", "features": {"a": null}}', None),
    ("features", b'{"id": "r", "features": 3}', None),
    ("features", b'{"id": "r", "features": "a"}', None),
    ("text", b'{"id": "r", "text": ""}', None),
    ("text", b'{"id": "r", "text": " \\n\\t"}', None),
    ("text", b'{"id": "r", "text": 5}', None),
    ("labels", b'{"id": "r", "text": "x", "labels": "a"}', None),
    ("labels", b'{"id": "r", "text": "x", "labels": [1]}', None),
    ("labels", b'{"id": "r", "text": "x", "labels": [""]}', None),
    ("labels", b'{"id": "r", "text": "x", "labels": ["a", "b", "a"]}', None),
    ("labels", b'{"id": "r", "text": "x", "labels": [null]}', None),
    ("ts", b'{"id": "r", "text": "x", "ts": "yesterday"}', None),
    ("ts", b'{"id": "r", "text": "x", "ts": "2026-01-01T00:00:00"}', None),
    ("ts", b'{"id": "r", "text": "x", "ts": true}', None),
    ("ts", b'{"id": "r", "text": "x", "ts": [1]}', None),
]


@pytest.mark.parametrize("reason, value, key", MALFORMED)
def test_malformed_records_are_rejected_with_their_reason(reason, value, key):
    with pytest.raises(RecordError) as caught:
        parse_record(value, key)
    assert caught.value.reason == reason
    assert caught.value.reason in REASONS
    assert str(caught.value).startswith(f"{reason}: ")


NOT_JSON = ("tombstone", "encoding", "json", "non_finite")


@pytest.mark.parametrize(
    "reason, value",
    [
        (reason, value)
        for reason, value, key in MALFORMED
        # Dates are checked beyond what the schema's "format" states (an offset is required).
        if key is None and reason not in NOT_JSON and b'"ts": "' not in value
    ],
)
def test_the_json_schema_rejects_what_parse_record_rejects(reason, value):
    validator = jsonschema.Draft202012Validator(json_schema("tagstream.records"))
    assert not validator.is_valid(json.loads(value)), f"schema accepts {value!r}; parse_record rejects it ({reason})"


def test_error_messages_name_the_record_and_the_field():
    with pytest.raises(RecordError, match=r"record 'r7': feature 'width' must be a number, got string"):
        parse_record(b'{"id": "r7", "features": {"width": "3"}}')
    with pytest.raises(RecordError, match=r"repeats \['a'\]"):
        parse_record(b'{"id": "r7", "text": "x", "labels": ["a", "a"]}')


def test_size_and_feature_count_limits_are_configurable():
    value = encode_json({"id": "r", "features": [1.0] * 50})
    assert len(parse_record(value, max_features=50).features) == 50
    with pytest.raises(RecordError) as caught:
        parse_record(value, max_features=49)
    assert caught.value.reason == "too_many_features"
    with pytest.raises(RecordError) as caught:
        parse_record(value, max_bytes=len(value) - 1)
    assert caught.value.reason == "oversize"
    assert parse_record(value, max_bytes=len(value)).id == "r"


@given(st.text(min_size=1), label_lists)
def test_label_update_round_trip(record_id, labels):
    update = LabelUpdate(record_id, labels)
    assert parse_label_update(encode_json(update.to_json()), key=record_id.encode()) == update
    jsonschema.validate(update.to_json(), json_schema("tagstream.labels"))


@pytest.mark.parametrize(
    "reason, value, key",
    [
        ("labels", b'{"id": "r"}', None),
        ("labels", b'{"id": "r", "labels": ["a", "a"]}', None),
        ("id", b'{"labels": []}', None),
        ("key_mismatch", b'{"id": "r", "labels": []}', b"q"),
        ("unknown_field", b'{"id": "r", "labels": [], "text": "x"}', None),
        ("tombstone", None, None),
    ],
)
def test_malformed_label_updates(reason, value, key):
    with pytest.raises(RecordError) as caught:
        parse_label_update(value, key)
    assert caught.value.reason == reason


@given(
    st.text(min_size=1),
    st.dictionaries(names, st.floats(0, 1), max_size=6),
    st.integers(0, 2**40),
    finite,
    finite,
)
def test_prediction_round_trip(record_id, scores, version, latency, ts):
    labels = tuple(label for label, score in scores.items() if score >= 0.5)
    prediction = Prediction(record_id, labels, scores, "br-ht", version, latency, ts)
    assert parse_prediction(encode_json(prediction.to_json())) == prediction
    jsonschema.validate(prediction.to_json(), json_schema("tagstream.predictions"))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"model_version": "3"}, "schema"),
        ({"scores": {"a": "high"}}, "schema"),
        ({"labels": ["a", "a"]}, "schema"),
        ({"ts": None}, "schema"),
        ({"extra": 1}, "unknown_field"),
    ],
)
def test_malformed_predictions(change, reason):
    obj = Prediction("r", ("a",), {"a": 0.9}, "br-ht", 3, 1.0, 2.0).to_json() | change
    with pytest.raises(RecordError) as caught:
        parse_prediction(encode_json(obj))
    assert caught.value.reason == reason
    assert not jsonschema.Draft202012Validator(json_schema("tagstream.predictions")).is_valid(obj)


def test_model_event_from_a_learner_event():
    event = DriftEvent("mlhat", "local", "drift", 120, labels=("a", "b"), node="root/0", detail={"delta": 0.002})
    model_event = ModelEvent.from_event(event.to_dict(), ts=1767225600.0)
    assert model_event.labels == ("a", "b") and model_event.node == "root/0" and model_event.instance == 120
    assert parse_model_event(encode_json(model_event.to_json())) == model_event
    jsonschema.validate(model_event.to_json(), json_schema("tagstream.model-events"))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"level": "everywhere"}, "schema"),
        ({"instance": 1.5}, "schema"),
        ({"detail": {"x": math.nan}}, "schema"),
        ({"labels": [3]}, "schema"),
        ({"oops": 1}, "unknown_field"),
    ],
)
def test_malformed_model_events_are_refused(change, reason):
    event = DriftEvent("mlhat", "global", "restructure", 5).to_dict() | change
    with pytest.raises(RecordError) as caught:
        ModelEvent.from_event(event, ts=1.0)
    assert caught.value.reason == reason


def test_model_event_lacking_a_field_is_refused():
    event = DriftEvent("mlhat", "global", "reset", 5).to_dict()
    del event["node"]
    with pytest.raises(RecordError, match=r"lacks field\(s\) \['node'\]"):
        ModelEvent.from_event(event, ts=1.0)


def test_dead_letter_headers_round_trip_and_follow_the_schema():
    headers = dead_letter_headers(
        reason="json",
        error_class="RecordError",
        error_message="x" * 5000,
        topic="tagstream.records",
        partition=3,
        offset=12345,
        ts=1767225600.5,
        source_headers=[("trace", b"abc"), ("empty", None)],
    )
    letter = parse_dead_letter(b"\xff{", b"k1", headers)
    assert (letter.reason, letter.error_class, letter.source_topic) == ("json", "RecordError", "tagstream.records")
    assert (letter.source_partition, letter.source_offset, letter.ts) == (3, 12345, 1767225600.5)
    assert letter.value == b"\xff{" and letter.key == b"k1"
    assert letter.source_headers == (("trace", b"abc"), ("empty", b""))
    assert len(letter.error_message) == 1000
    as_object = {name: value.decode() for name, value in headers}
    jsonschema.validate(as_object, json_schema("tagstream.deadletter"))


def test_dead_letter_without_its_headers_is_refused():
    with pytest.raises(RecordError, match="lacks header"):
        parse_dead_letter(b"x", None, [("reason", b"json")])


def test_every_topic_has_a_valid_schema():
    for topic in TopicNames().all():
        jsonschema.Draft202012Validator.check_schema(json_schema(topic))
    with pytest.raises(KeyError):
        json_schema("tagstream.nothing")


def test_encode_json_refuses_non_finite_numbers():
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError):
            encode_json({"a": [1.0, {"b": bad}]})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_encode_json_reads_back_as_the_standard_encoding(value):
    assert json.loads(encode_json(value)) == json.loads(json.dumps(value, ensure_ascii=False))


def test_encode_json_keeps_what_only_the_standard_encoder_takes():
    assert json.loads(encode_json({1: 2**80, "none": None})) == {"1": 2**80, "none": None}


def test_deeply_nested_json_is_refused_as_too_deep_not_a_crash():
    with pytest.raises(RecordError) as caught:
        parse_record(b'{"id": "r", "features": ' + b"[" * 100_000 + b"}")
    assert caught.value.reason == "too_deep"
    with pytest.raises(RecordError) as caught:  # valid JSON, within the parser's limit, beyond ours
        parse_record(b'{"id": "r", "features": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}")
    assert caught.value.reason == "too_deep"
    shallow = RecordLimits(max_json_depth=2)
    assert parse_record(b'{"id": "r", "text": "[[[[[[[[[[[[ not nesting", "labels": ["a"]}', limits=shallow).id == "r"
    with pytest.raises(RecordError) as caught:
        parse_record(b'{"id": "r", "features": [[1]]}', limits=shallow)
    assert caught.value.reason == "too_deep"


@pytest.mark.parametrize(
    "reason, value, limits",
    [
        ("too_many_labels", encode_json({"id": "r", "text": "x", "labels": [f"l{i}" for i in range(1500)]}), RecordLimits()),
        ("too_many_labels", b'{"id": "r", "text": "x", "labels": ["a", "b", "c"]}', RecordLimits(max_labels_per_record=2)),
        ("label_too_long", encode_json({"id": "r", "text": "x", "labels": ["a" * 201]}), RecordLimits()),
        ("label_too_long", b'{"id": "r", "text": "x", "labels": ["abcd"]}', RecordLimits(max_label_chars=3)),
        ("too_many_features", encode_json({"id": "r", "features": {f"f{i}": 1.0 for i in range(10_001)}}), RecordLimits()),
        ("too_many_features", b'{"id": "r", "features": [1, 2, 3]}', RecordLimits(max_features=2)),
        ("text_too_long", encode_json({"id": "r", "text": "x" * 100_001}), RecordLimits()),
        ("text_too_long", b'{"id": "r", "text": "abcd"}', RecordLimits(max_text_chars=3)),
        ("oversize", b'{"id": "r", "text": "abcd"}', RecordLimits(max_record_bytes=10)),
    ],
)
def test_every_limit_of_a_record_refuses_with_its_own_reason(reason, value, limits):
    with pytest.raises(RecordError) as caught:
        parse_record(value, limits=limits)
    assert caught.value.reason == reason
    assert reason in REASONS


def test_records_at_the_limits_are_accepted():
    limits = RecordLimits(max_labels_per_record=2, max_label_chars=3, max_features=2, max_text_chars=4)
    assert parse_record(b'{"id": "r", "text": "abcd", "labels": ["abc", "b"]}', limits=limits).labels == ("abc", "b")
    assert len(parse_record(b'{"id": "r", "features": [1, 2]}', limits=limits).features) == 2


def test_label_updates_follow_the_label_limits():
    with pytest.raises(RecordError) as caught:
        parse_label_update(b'{"id": "r", "labels": ["a", "b", "c"]}', limits=RecordLimits(max_labels_per_record=2))
    assert caught.value.reason == "too_many_labels"
    with pytest.raises(RecordError) as caught:
        parse_label_update(b'{"id": "r", "labels": ["abcd"]}', limits=RecordLimits(max_label_chars=3))
    assert caught.value.reason == "label_too_long"


def test_a_dead_letter_head_must_fit_what_the_dead_letter_topic_takes():
    with pytest.raises(ValueError, match="dead_letter_head_bytes"):
        RecordLimits(dead_letter_max_bytes=65_536, dead_letter_head_bytes=65_536)
    limits = RecordLimits(max_record_bytes=2_000_000)
    assert limits.producer_request_bytes() > 2_000_000


def test_lone_surrogates_are_refused():
    with pytest.raises(RecordError) as caught:
        parse_record(b'{"id": "r", "text": "\\ud800"}')
    assert caught.value.reason == "json"


@given(st.lists(st.one_of(finite, st.integers(-(2**70), 2**70)), max_size=20))
def test_feature_values_of_any_finite_size_are_accepted_as_floats(values):
    record = parse_record(encode_json({"id": "r", "features": values}))
    assert list(record.features.values()) == [float(value) for value in values]


@pytest.mark.parametrize("parse, head", [(parse_record, '"id": "r", "features": [1]'), (parse_label_update, '"id": "r"')])
def test_partial_feedback_names_the_labels_judged_or_those_not_judged(parse, head):
    known = parse(('{' + head + ', "labels": ["a"], "known": ["a", "b"]}').encode())
    assert (known.labels, known.known, known.unknown) == (("a",), ("a", "b"), None)
    unknown = parse(('{' + head + ', "labels": ["a"], "unknown": ["c"]}').encode())
    assert (unknown.labels, unknown.known, unknown.unknown) == (("a",), None, ("c",))
    for message in (known, unknown):
        assert parse(encode_json(message.to_json())) == message
    schema = json_schema("tagstream.records" if parse is parse_record else "tagstream.labels")
    jsonschema.validate(known.to_json(), schema)
    jsonschema.validate(unknown.to_json(), schema)


@pytest.mark.parametrize(
    "fields, complaint",
    [
        ('"labels": ["a"], "known": ["a"], "unknown": ["b"]', "both 'known' and 'unknown'"),
        ('"labels": ["a"], "known": ["b"]', "on but not in 'known'"),
        ('"labels": ["a"], "unknown": ["a"]', "both on and 'unknown'"),
        ('"labels": ["a"], "unknown": "b"', "must be a list"),
        ('"labels": ["a"], "known": ["b", "b"]', "repeats"),
    ],
)
@pytest.mark.parametrize("parse, head", [(parse_record, '"id": "r", "features": [1]'), (parse_label_update, '"id": "r"')])
def test_malformed_partial_feedback_is_refused(parse, head, fields, complaint):
    with pytest.raises(RecordError, match=complaint) as caught:
        parse(("{" + head + ", " + fields + "}").encode())
    assert caught.value.reason == "labels"
    if "both 'known'" in complaint:
        schema = json_schema("tagstream.records" if parse is parse_record else "tagstream.labels")
        assert not jsonschema.Draft202012Validator(schema).is_valid(json.loads("{" + head + ", " + fields + "}"))


def test_partial_feedback_needs_labels():
    with pytest.raises(RecordError, match="'unknown' without 'labels'"):
        parse_record(b'{"id": "r", "features": [1], "unknown": ["a"]}')
    assert not jsonschema.Draft202012Validator(json_schema("tagstream.records")).is_valid(
        {"id": "r", "features": [1], "unknown": ["a"]}
    )
