"""The ARFF reader on hand-made files: every label convention, every conversion, every error."""

from __future__ import annotations

import gzip
import math
import re
import tracemalloc
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.arff import iter_arff, iter_instances, read_header
from stream.errors import ArffError, StreamError

HEADER_4 = (
    "@relation {relation}\n"
    "@attribute f1 numeric\n"
    "@attribute f2 real\n"
    "@attribute a {{0,1}}\n"
    "@attribute b {{0,1}}\n"
    "@data\n"
)


def write(folder: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = folder / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def labels_xml(*names: str) -> str:
    body = "".join(f'<label name="{n}"></label>' for n in names)
    return f'<?xml version="1.0" encoding="utf-8"?><labels xmlns="http://mulan.sourceforge.net/labels">{body}</labels>'


def read(path, labels=None):
    return list(iter_arff(path, labels=labels))


# -- which attributes are labels ----------------------------------------------------------------


def test_mulan_xml_names_the_last_labels(tmp_path):
    path = write(tmp_path, "toy.arff", HEADER_4.format(relation="toy") + "0.5,-2,1,0\n")
    write(tmp_path, "toy.xml", labels_xml("a", "b"))
    assert read(path) == [({"f1": 0.5, "f2": -2.0}, {"a": True, "b": False})]
    assert read_header(path).label_source == "xml:toy.xml"


def test_xml_labels_may_sit_anywhere_and_keep_file_order(tmp_path):
    text = "@relation t\n@attribute a {0,1}\n@attribute f numeric\n@attribute b {0,1}\n@data\n1,3,0\n"
    path = write(tmp_path, "t.arff", text)
    write(tmp_path, "t.xml", labels_xml("b", "a"))
    header = read_header(path)
    assert header.label_names == ["a", "b"]
    assert header.feature_names == ["f"]
    assert read(path) == [({"f": 3.0}, {"a": True, "b": False})]


def test_xml_wins_over_a_stale_meka_option(tmp_path):
    # Like medical.arff: "-C 2" would make f1, f2 the labels; the XML says a, b.
    path = write(tmp_path, "med.arff", HEADER_4.format(relation="'med: -C 2 -weka.filters'") + "1,2,0,1\n")
    write(tmp_path, "med.xml", labels_xml("a", "b"))
    assert read(path) == [({"f1": 1.0, "f2": 2.0}, {"a": False, "b": True})]


@pytest.mark.parametrize(
    "arff_name, xml_name",
    [("scene-train.arff.gz", "scene.xml"), ("Corel5k-sparse.arff", "Corel5k.xml"), ("water_q-x.arff", "water_q.xml")],
)
def test_companion_xml_is_found_by_cutting_name_parts(tmp_path, arff_name, xml_name):
    path = write(tmp_path, arff_name, HEADER_4.format(relation="r") + "1,2,1,1\n")
    write(tmp_path, xml_name, labels_xml("a", "b"))
    assert read_header(path).label_source == f"xml:{xml_name}"


def test_another_files_xml_found_by_cutting_is_skipped(tmp_path):
    # run_2.arff is a MEKA file; run.xml belongs to something else in the same folder.
    path = write(tmp_path, "run_2.arff", HEADER_4.format(relation="'r: -C -2'") + "1,2,1,0\n")
    write(tmp_path, "run.xml", labels_xml("other", "labels"))
    assert read_header(path).label_source == "meka:-C -2"
    assert read(path) == [({"f1": 1.0, "f2": 2.0}, {"a": True, "b": False})]


def test_meka_positive_q_means_first_attributes(tmp_path):
    text = "@relation 'm: -C 2'\n@attribute a {0,1}\n@attribute b {0,1}\n@attribute f numeric\n@data\n0,1,4\n"
    path = write(tmp_path, "m.arff", text)
    assert read(path) == [({"f": 4.0}, {"a": False, "b": True})]
    assert read_header(path).label_source == "meka:-C 2"


def test_meka_negative_q_means_last_attributes(tmp_path):
    path = write(tmp_path, "m.arff", HEADER_4.format(relation='"m: -C -2"') + "1,2,1,0\n")
    assert read(path) == [({"f1": 1.0, "f2": 2.0}, {"a": True, "b": False})]


def test_meka_q_that_does_not_fit_is_an_error(tmp_path):
    path = write(tmp_path, "m.arff", HEADER_4.format(relation="'m: -C 9'") + "1,2,1,0\n")
    with pytest.raises(ArffError, match="-C 9"):
        read_header(path)


def test_explicit_labels_mean_the_last_q(tmp_path):
    path = write(tmp_path, "plain.arff", HEADER_4.format(relation="plain") + "1,2,1,0\n")
    assert read(path, labels=2) == [({"f1": 1.0, "f2": 2.0}, {"a": True, "b": False})]
    assert read(path, labels=1) == [({"f1": 1.0, "f2": 2.0, "a": 1.0}, {"b": False})]


def test_explicit_labels_must_agree_with_the_file(tmp_path):
    path = write(tmp_path, "m.arff", HEADER_4.format(relation="'m: -C -2'") + "1,2,1,0\n")
    assert read_header(path, labels=2).label_names == ["a", "b"]
    with pytest.raises(ArffError, match="labels=3 but the file declares 2"):
        read_header(path, labels=3)


@pytest.mark.parametrize("labels", [0, 4, -1])
def test_explicit_labels_out_of_range(tmp_path, labels):
    path = write(tmp_path, "plain.arff", HEADER_4.format(relation="plain") + "1,2,1,0\n")
    with pytest.raises(ArffError, match="must be between 1 and 3"):
        read_header(path, labels=labels)


def test_label_names_numbered_from_one_are_recognised(tmp_path):
    text = (
        "@relation 'g-weka.filters.unsupervised.attribute.Reorder'\n"
        "@attribute Label1 {0,1}\n@attribute LABEL2 {0,1}\n@attribute Att1 numeric\n@data\n{0 1,2 5.5}\n"
    )
    path = write(tmp_path, "g.arff", text)
    assert read(path) == [({"Att1": 5.5}, {"Label1": True, "LABEL2": False})]
    assert read_header(path).label_source == "names:Label1..Label2"


def test_no_label_information_is_a_clear_error(tmp_path):
    text = "@relation g\n@attribute Label1 {0,1}\n@attribute Label3 {0,1}\n@attribute f numeric\n@data\n1,0,2\n"
    path = write(tmp_path, "g.arff", text)
    with pytest.raises(ArffError, match="cannot tell which attributes are labels.*labels=q") as caught:
        read_header(path)
    assert caught.value.file == str(path)


def test_xml_naming_an_unknown_attribute_is_an_error(tmp_path):
    path = write(tmp_path, "t.arff", HEADER_4.format(relation="t") + "1,2,1,0\n")
    write(tmp_path, "t.xml", labels_xml("a", "zebra"))
    with pytest.raises(ArffError, match="zebra"):
        read_header(path)


def test_broken_xml_is_an_error_naming_the_xml(tmp_path):
    path = write(tmp_path, "t.arff", HEADER_4.format(relation="t") + "1,2,1,0\n")
    xml = write(tmp_path, "t.xml", "<labels><label name='a'></labels>")
    with pytest.raises(ArffError, match="not valid XML") as caught:
        read_header(path)
    assert caught.value.file == str(xml)


def test_label_with_other_values_than_0_1_is_an_error(tmp_path):
    text = "@relation 'x: -C 1'\n@attribute a {yes,no}\n@attribute f numeric\n@data\nyes,1\n"
    with pytest.raises(ArffError, match="label 'a' has values"):
        read_header(write(tmp_path, "x.arff", text))


# -- conversions -------------------------------------------------------------------------------


def test_every_label_is_bool_and_every_feature_float(tmp_path):
    text = (
        "@relation 'x: -C -2'\n@attribute i integer\n@attribute n {low,mid,high}\n@attribute r REAL\n"
        "@attribute a {0,1}\n@attribute b numeric\n@data\n3,high,1e-3,1,0\n{0 7,1 mid,3 1,4 1}\n"
    )
    rows = read(write(tmp_path, "x.arff", text))
    assert rows == [
        ({"i": 3.0, "n": 2.0, "r": 0.001}, {"a": True, "b": False}),
        ({"i": 7.0, "n": 1.0}, {"a": True, "b": True}),
    ]
    for x, y in rows:
        assert all(type(v) is float for v in x.values())
        assert all(type(v) is bool for v in y.values())


def test_sparse_rows_yield_only_non_zero_features(tmp_path):
    text = HEADER_4.format(relation="'s: -C -2'") + "{0 0,1 2.5}\n{}\n{3 1}\n"
    assert read(write(tmp_path, "s.arff", text)) == [
        ({"f2": 2.5}, {"a": False, "b": False}),
        ({}, {"a": False, "b": False}),
        ({}, {"a": False, "b": True}),
    ]


def test_sparse_omitted_label_takes_its_first_declared_value(tmp_path):
    text = "@relation 's: -C 1'\n@attribute a {1,0}\n@attribute f numeric\n@data\n{1 3}\n"
    assert read(write(tmp_path, "s.arff", text)) == [({"f": 3.0}, {"a": True})]


def test_sparse_nominal_features_use_the_value_index(tmp_path):
    # Text sets declare word-presence features as {0,1} nominals.
    text = "@relation 's: -C -1'\n@attribute w1 {0,1}\n@attribute w2 {0,1}\n@attribute y {0,1}\n@data\n{1 1,2 1}\n"
    assert read(write(tmp_path, "s.arff", text)) == [({"w2": 1.0}, {"y": True})]


def test_nominal_codes_other_than_0_1_never_leak_into_labels(tmp_path):
    # Features declared {1,0}: "1" is index 0. The labels' "1" must still be True.
    text = (
        "@relation 's: -C -1'\n@attribute w1 {1,0}\n@attribute w2 {1,0}\n@attribute y {0,1}\n"
        "@data\n{0 1,2 1}\n{1 0,2 1}\n{0 0,1 1}\n1,0,1\n"
    )
    assert read(write(tmp_path, "s.arff", text)) == [
        ({}, {"y": True}),
        ({"w2": 1.0}, {"y": True}),
        ({"w1": 1.0}, {"y": False}),
        ({"w1": 0.0, "w2": 1.0}, {"y": True}),
    ]


def test_binary_bag_of_words_rows(tmp_path):
    text = (
        "@relation 's: -C -2'\n@attribute w1 {0,1}\n@attribute w2 {0,1}\n@attribute w3 {0,1}\n"
        "@attribute y1 {0,1}\n@attribute y2 {0,1}\n@data\n{0 1,2 1,4 1}\n{1 1,2 0,3 1}\n{0 1,0 1}\n"
    )
    path = write(tmp_path, "b.arff", text)
    stream = iter_arff(path)
    assert next(stream) == ({"w1": 1.0, "w3": 1.0}, {"y1": False, "y2": True})
    assert next(stream) == ({"w2": 1.0}, {"y1": True, "y2": False})
    with pytest.raises(ArffError, match="sparse index 0 appears twice"):
        next(stream)


def test_dense_and_sparse_rows_may_mix(tmp_path):
    text = HEADER_4.format(relation="'s: -C -2'") + "1,0,0,1\n{1 4}\n"
    assert read(write(tmp_path, "s.arff", text)) == [
        ({"f1": 1.0, "f2": 0.0}, {"a": False, "b": True}),
        ({"f2": 4.0}, {"a": False, "b": False}),
    ]


def test_missing_features_are_left_out(tmp_path):
    text = HEADER_4.format(relation="'s: -C -2'") + "?,2,1,1\n{0 ?,1 3}\n"
    assert read(write(tmp_path, "s.arff", text)) == [
        ({"f2": 2.0}, {"a": True, "b": True}),
        ({"f2": 3.0}, {"a": False, "b": False}),
    ]


def test_missing_label_is_an_error(tmp_path):
    path = write(tmp_path, "s.arff", HEADER_4.format(relation="'s: -C -2'") + "1,2,1,0\n1,2,?,0\n")
    with pytest.raises(ArffError, match="missing value '\\?' in label 'a'") as caught:
        read(path)
    assert caught.value.line == 8


def test_quotes_comments_blank_lines_and_case(tmp_path):
    text = (
        "% a comment\n\n@RELATION \"q: -C -2\"\n"
        "@ATTRIBUTE 'Stellar\\'s Jay' NUMERIC\n"
        "@attribute\t\"two words\"\t{'a b', c}\n"
        "@attribute 'l 1' {0, 1}\n@attribute l2 {0,1}\n"
        "% between\n@DATA\n\n% a row comment\n"
        "1.5, 'a b', 1, 0\n"
        "2,c,0,'1'\n"
    )
    assert read(write(tmp_path, "q.arff", text)) == [
        ({"Stellar's Jay": 1.5, "two words": 0.0}, {"l 1": True, "l2": False}),
        ({"Stellar's Jay": 2.0, "two words": 1.0}, {"l 1": False, "l2": True}),
    ]


def test_numeric_label_attributes_hold_0_or_1(tmp_path):
    text = "@relation 'n: -C 1'\n@attribute a numeric\n@attribute f numeric\n@data\n1.0,2\n0,3\n"
    assert read(write(tmp_path, "n.arff", text)) == [({"f": 2.0}, {"a": True}), ({"f": 3.0}, {"a": False})]


def test_gzip_files_are_read_by_their_content(tmp_path):
    text = HEADER_4.format(relation="'z: -C -2'") + "1,2,1,1\n"
    plain = read(write(tmp_path, "z.arff", text))
    assert read(write(tmp_path, "z.arff.gz", text)) == plain
    (tmp_path / "renamed.arff").write_bytes((tmp_path / "z.arff.gz").read_bytes())
    assert read(tmp_path / "renamed.arff") == plain


def test_a_header_serves_many_passes(tmp_path):
    path = write(tmp_path, "p.arff", HEADER_4.format(relation="'p: -C -2'") + "1,2,1,1\n3,4,0,0\n")
    header = read_header(path)
    first = list(iter_instances(header))
    assert first == list(iter_instances(header))
    assert len(first) == 2


def test_reading_is_lazy(tmp_path):
    # The second row is broken; taking only the first one must not touch it.
    path = write(tmp_path, "lazy.arff", HEADER_4.format(relation="'l: -C -2'") + "1,2,1,1\n1,2\n")
    stream = iter_arff(path)
    assert next(stream) == ({"f1": 1.0, "f2": 2.0}, {"a": True, "b": True})
    with pytest.raises(ArffError):
        next(stream)


# -- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1,2,1", "row has 3 values, the header declares 4"),
        ("1,2,1,0,5", "row has 5 values"),
        ("1,x2,1,0", "bad number 'x2' for feature 'f2'"),
        ("1,2,2,0", "unknown value '2' for label 'a'"),
        ("1,2,1,yes", "unknown value 'yes' for label 'b'"),
        ("{0 1,x 2}", "bad sparse index 'x'"),
        ("{0 1,4 1}", "sparse index 4 out of range"),
        ("{0 1,-1 1}", "sparse index -1 out of range"),
        ("{1 1,1 2}", "sparse index 1 appears twice"),
        ("{0 1,3 7}", "unknown value '7' for label 'b'"),
        ("{0 1,1}", "not 'index value'"),
        ("{0 1,1 2", "does not end with '}'"),
        ("{0 x}", "bad number 'x' for feature 'f1'"),
        ("1,'2,1,0", "unterminated quote"),
    ],
)
def test_malformed_rows_name_file_line_and_reason(tmp_path, row, reason):
    path = write(tmp_path, "bad.arff", HEADER_4.format(relation="'b: -C -2'") + "1,2,1,1\n" + row + "\n")
    with pytest.raises(ArffError) as caught:
        read(path)
    error = caught.value
    assert (error.file, error.line) == (str(path), 8)
    assert reason in error.reason
    assert str(error).startswith(f"{path}:8: ")
    assert isinstance(error, StreamError) and isinstance(error, ValueError)


def test_unknown_nominal_feature_value(tmp_path):
    text = "@relation 'n: -C -1'\n@attribute c {red,blue}\n@attribute y {0,1}\n@data\nred,1\ngreen,0\n"
    with pytest.raises(ArffError, match="unknown value 'green' for nominal feature 'c'"):
        read(write(tmp_path, "n.arff", text))


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("@relation r\n@attribute f numeric\n@attribute y {0,1}\n", 3, "truncated header"),
        ("@relation r\n@attribute f numeric\n", 2, "truncated header"),
        ("@attribute f numeric\n@attribute y {0,1}\n@data\n", 3, "no @relation"),
        ("@relation r\n@data\n1\n", 2, "no @attribute"),
        ("@relation r\n@attribute f string\n@data\n", 2, "type 'string'"),
        ("@relation r\n@attribute d date 'yyyy'\n@data\n", 2, "type 'date'"),
        ("@relation r\n@attribute f numbr\n@data\n", 2, "no known type"),
        ("@relation r\n@attribute c {a,b\n@data\n", 2, "not closed"),
        ("@relation r\n@attribute c {a,a}\n@data\n", 2, "duplicates"),
        ("@relation r\nf numeric\n@data\n", 2, "expected @relation, @attribute or @data"),
        ("@relation r\n@attribute 'f numeric\n@data\n", 2, "unterminated quote"),
        ("@relation r\n@attribute\n@data\n", 2, "missing name"),
    ],
)
def test_malformed_headers(tmp_path, text, line, reason):
    path = write(tmp_path, "h.arff", text)
    with pytest.raises(ArffError) as caught:
        read_header(path, labels=1)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_duplicate_attribute_names(tmp_path):
    text = "@relation r\n@attribute f numeric\n@attribute f numeric\n@attribute y {0,1}\n@data\n"
    with pytest.raises(ArffError, match="not unique: \\['f'\\]"):
        read_header(write(tmp_path, "d.arff", text), labels=1)


def test_truncated_gzip_is_an_error_not_a_short_stream(tmp_path):
    rows = "".join(f"{i},{i},1,0\n" for i in range(5000))
    path = write(tmp_path, "cut.arff.gz", HEADER_4.format(relation="'c: -C -2'") + rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ArffError, match="compressed data is cut short"):
        read(path)


def test_non_utf8_text_is_an_error_naming_its_line(tmp_path):
    rows = "".join(f"{i},{i},1,0\n" for i in range(3000))  # far past the reader's first chunk
    path = tmp_path / "latin.arff"
    path.write_bytes((HEADER_4.format(relation="'l: -C -2'") + rows).encode() + b"\xe9\xff,2,1,0\n")
    with pytest.raises(ArffError, match="not UTF-8") as caught:
        read(path)
    assert caught.value.line == 6 + 3000 + 1


def test_damaged_gzip_is_an_error(tmp_path):
    path = write(tmp_path, "bad.arff.gz", HEADER_4.format(relation="'c: -C -2'") + "1,2,1,0\n" * 100)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC of the uncompressed data
    path.write_bytes(bytes(data))
    with pytest.raises(ArffError, match="compressed data is cut short or damaged.*CRC") as caught:
        read(path)
    assert caught.value.line == 6 + 100 + 1


def test_garbled_gzip_never_yields_silently(tmp_path):
    rows = "".join(f"{i},{i * 7 % 13},1,0\n" for i in range(20000))
    path = write(tmp_path, "bad.arff.gz", HEADER_4.format(relation="'c: -C -2'") + rows)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ArffError):
        read(path)


# -- property: conversions survive any values ---------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.lists(finite, min_size=3, max_size=3), st.lists(st.booleans(), min_size=2, max_size=2)),
        min_size=1,
        max_size=6,
    ),
    sparse=st.lists(st.booleans(), min_size=6, max_size=6),
    spaces=st.booleans(),
)
def test_property_round_trip_gives_floats_and_bools(tmp_path_factory, rows, sparse, spaces):
    sep = ", " if spaces else ","
    header = (
        "@relation 'p: -C 2'\n@attribute y0 {0,1}\n@attribute y1 {0,1}\n"
        "@attribute x0 numeric\n@attribute x1 real\n@attribute x2 integer\n@data\n"
    )
    lines = []
    for (features, labels), as_sparse in zip(rows, sparse):
        values = [str(int(v)) for v in labels] + [repr(v) for v in features]
        if as_sparse:
            lines.append("{" + sep.join(f"{i} {v}" for i, v in enumerate(values) if float(v) != 0) + "}")
        else:
            lines.append(sep.join(values))
    path = tmp_path_factory.mktemp("prop") / "p.arff"
    path.write_text(header + "\n".join(lines) + "\n")

    read_rows = read(path)
    assert len(read_rows) == len(rows)
    for (x, y), (features, labels), as_sparse in zip(read_rows, rows, sparse):
        assert all(type(v) is bool for v in y.values())
        assert all(type(v) is float and math.isfinite(v) for v in x.values())
        assert y == {"y0": labels[0], "y1": labels[1]}
        expected = {f"x{i}": v for i, v in enumerate(features) if not (as_sparse and v == 0)}
        assert x == expected


def test_label_values_may_be_spelled_as_any_number_equal_to_0_or_1(tmp_path):
    text = HEADER_4.format(relation="'n: -C -2'") + "1,2,1.0,0.0\n{2 1.0,3 1e0}\n3, 4 , 1 ,0\n"
    assert read(write(tmp_path, "n.arff", text)) == [
        ({"f1": 1.0, "f2": 2.0}, {"a": True, "b": False}),
        ({}, {"a": True, "b": True}),
        ({"f1": 3.0, "f2": 4.0}, {"a": True, "b": False}),
    ]


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1,2,true,0", "unknown value 'true' for label 'a'"),
        ("1,false,1,0", "bad number 'false' for feature 'f2'"),
        ("null,2,1,0", "bad number 'null' for feature 'f1'"),
        ("[1],2,1,0", "bad number '[1]' for feature 'f1'"),
        ("1,2,0.5,0", "unknown value '0.5' for label 'a'"),
        ("{2 true}", "unknown value 'true' for label 'a'"),
    ],
)
def test_words_a_json_parser_would_accept_are_still_errors(tmp_path, row, reason):
    path = write(tmp_path, "j.arff", HEADER_4.format(relation="'j: -C -2'") + row + "\n")
    with pytest.raises(ArffError, match=re.escape(reason)):
        read(path)


def test_number_spellings_outside_json_read_like_float(tmp_path):
    text = HEADER_4.format(relation="'s: -C -2'") + ".5,-1.,1,0\n+2,1E3,0,1\n-0,nan,0,0\n"
    rows = read(write(tmp_path, "s.arff", text))
    assert rows[0][0] == {"f1": 0.5, "f2": -1.0} and rows[1][0] == {"f1": 2.0, "f2": 1000.0}
    assert rows[2][0]["f1"] == 0.0 and math.isnan(rows[2][0]["f2"])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            finite,
            st.sampled_from(["a", "b", "c", None]),
            st.one_of(finite, st.none()),
            st.lists(st.booleans(), min_size=2, max_size=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    spaces=st.booleans(),
)
def test_property_quoted_and_unquoted_rows_read_alike(tmp_path_factory, rows, spaces):
    # Quoting every token sends a row down the careful path; unquoted rows take the fast one.
    sep = ", " if spaces else ","
    header = (
        "@relation 'q: -C -2'\n@attribute f0 numeric\n@attribute c {a,b,c}\n@attribute f1 numeric\n"
        "@attribute y0 {0,1}\n@attribute y1 {0,1}\n@data\n"
    )
    plain, quoted, expected = [], [], []
    for f0, c, f1, labels, as_sparse in rows:
        values = [repr(f0), c or "?", "?" if f1 is None else repr(f1), str(int(labels[0])), str(int(labels[1]))]
        quote = lambda v: v if v == "?" else f"'{v}'"
        if as_sparse:
            keep = [(i, v) for i, v in enumerate(values) if v not in ("0", "0.0", "-0.0", "a")]
            plain.append("{" + sep.join(f"{i} {v}" for i, v in keep) + "}")
            quoted.append("{" + sep.join(f"{i} {quote(v)}" for i, v in keep) + "}")
        else:
            plain.append(sep.join(values))
            quoted.append(sep.join(map(quote, values)))
        x = {"f0": f0, "c": None if c is None else "abc".index(c), "f1": f1}
        x = {k: float(v) for k, v in x.items() if v is not None and not (as_sparse and v == 0)}
        expected.append((x, {"y0": labels[0], "y1": labels[1]}))
    folder = tmp_path_factory.mktemp("quoted")
    (folder / "plain.arff").write_text(header + "\n".join(plain) + "\n")
    (folder / "quoted.arff").write_text(header + "\n".join(quoted) + "\n")
    assert read(folder / "plain.arff") == expected
    assert read(folder / "quoted.arff") == expected


@pytest.mark.parametrize("sparse", [False, True])
def test_memory_stays_flat_whatever_the_file_size(tmp_path, sparse):
    def peak_bytes(n_rows: int) -> int:
        row = "{0 %d.5,1 2,2 1}\n" if sparse else "%d.5,2,1,0\n"
        path = write(tmp_path, f"big{n_rows}.arff.gz", HEADER_4.format(relation="'m: -C -2'") + "".join(row % i for i in range(n_rows)))
        tracemalloc.start()
        try:
            for _ in iter_arff(path):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_bytes(2_000), peak_bytes(40_000)
    assert large < small * 1.5 + 64_000, (small, large)


def test_a_byte_order_mark_and_windows_line_ends_are_fine(tmp_path):
    text = HEADER_4.format(relation="'w: -C -2'") + "1,2,1,0\n{1 3}\n"
    path = tmp_path / "w.arff"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert read(path) == [({"f1": 1.0, "f2": 2.0}, {"a": True, "b": False}), ({"f2": 3.0}, {"a": False, "b": False})]
