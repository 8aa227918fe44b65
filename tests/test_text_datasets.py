"""Raw-text datasets: the JSON Lines reader, field mapping, generated ids, errors, the registry."""

from __future__ import annotations

import gzip
import json

import pytest

from stream.datasets import DATASETS, data_dir, open_dataset
from stream.errors import DatasetShapeError, StreamError
from stream.text import TextDataset, TextDatasetError, TextFields


def write_jsonl(path, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def test_reads_id_text_and_labels_in_order(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl.gz", [
        {"id": "x1", "text": "hello", "labels": ["greet"]},
        {"id": 7, "text": "bye now", "labels": []},
    ], gz=True)  # fmt: skip
    data = open_dataset(str(path))
    assert isinstance(data, TextDataset)
    assert [(i.id, i.text, i.labels) for i in data] == [("x1", "hello", ("greet",)), ("7", "bye now", ())]
    assert data.n_instances == 2 and data.label_names == ["greet"]


def test_field_mapping_and_generated_ids(tmp_path):
    path = write_jsonl(tmp_path / "posts.jsonl", [{"body": "a", "tags": ["t"]}, {"body": "b", "tags": ["u", "t"], "key": "k"}])
    data = open_dataset(str(path), text_fields=TextFields(text="body", labels="tags", id="key"))
    assert [(i.id, i.text, i.labels) for i in data] == [("posts-0", "a", ("t",)), ("k", "b", ("u", "t"))]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ('{"text": "  ", "labels": []}', "non-blank string"),
        ('{"text": "a", "labels": "x"}', "list of label strings"),
        ('{"text": "a", "labels": [], "id": true}', "non-empty string or an integer"),
    ],
)
def test_a_bad_line_names_the_file_the_line_and_the_reason(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "fine", "labels": []}, line])
    with pytest.raises(TextDatasetError, match=rf"bad.jsonl:2: .*{reason}"):
        list(open_dataset(str(path)))


def test_a_label_listed_twice_is_kept_once_with_a_warning(tmp_path, caplog):
    path = write_jsonl(tmp_path / "dup.jsonl", [{"text": "a", "labels": ["x", "y", "x"]}])
    assert [i.labels for i in open_dataset(str(path))] == [("x", "y")]
    assert "dup.jsonl:1" in caplog.text and "twice" in caplog.text


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(StreamError):
        TextDataset(tmp_path / "nope.jsonl")


def test_the_registered_shape_is_checked_after_a_full_pass(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "a", "labels": ["l"]}])
    data = TextDataset(path, n_instances=2, n_labels=1)
    with pytest.raises(DatasetShapeError, match="1 instances"):
        list(data)


@pytest.mark.parametrize("name", ["goemotions", "reuters"])
def test_registered_text_sets_open_and_yield_labelled_texts(name):
    info = DATASETS[name]
    if not (data_dir() / info.file).is_file():
        pytest.skip(f"{data_dir() / info.file} is not here")
    data = open_dataset(name)
    first = list(data.take(50))
    assert data.n_instances == info.n_instances and data.n_labels == info.n_labels
    assert all(i.text.strip() and i.id for i in first)
    assert all(i.labels for i in first)  # both sets: every text has at least one label


def test_dataset_records_turns_texts_into_text_records(tmp_path):
    from jobs.produce import dataset_records

    path = write_jsonl(tmp_path / "t.jsonl.gz", [{"body": "hello there", "tags": ["a"]}, {"body": "more", "tags": []}], gz=True)
    records = list(dataset_records(str(path), text_fields=TextFields(text="body", labels="tags")))
    assert [(r.id, r.text, r.features, r.labels) for r in records] == [
        ("t-0", "hello there", None, ("a",)),
        ("t-1", "more", None, ()),
    ]
    assert records[0].to_json()["text"] == "hello there"


# -- the streaming job: tagstream run / python -m jobs.ray_job ---------------------------------------


def test_run_replays_a_text_dataset_with_renamed_fields(tmp_path):
    from jobs.job import records_of
    from jobs.config import JobConfig

    path = tmp_path / "posts.jsonl"
    write_jsonl(path, [{"body": "hello there", "tags": ["greet"]}, {"body": "bye now", "tags": []}])
    config = JobConfig.load(overrides={"dataset": str(path), "dataset_fields": {"text": "body", "labels": "tags"}})
    records = list(records_of(config.dataset, config.dataset_fields))
    assert [(r.text, r.labels) for r in records] == [("hello there", ("greet",)), ("bye now", ())]
    assert len({r.id for r in records}) == 2  # generated, distinct
    with pytest.raises(TextDatasetError, match="field 'text' .*--text-field"):
        list(records_of(config.dataset, config.dataset_fields.model_copy(update={"text": "text"})))


def test_dataset_fields_come_from_variables_and_name_the_flag_when_bad(monkeypatch):
    from jobs.cli_run import FIELD_FLAGS
    from jobs.config import ConfigError, JobConfig

    monkeypatch.setenv("TAGSTREAM_DATASET_FIELDS__TEXT", "body")
    assert JobConfig.load().dataset_fields.text == "body"
    with pytest.raises(ConfigError, match="--labels-field"):
        JobConfig.load(overrides={"dataset_fields": {"labels": ""}}, flag_names=FIELD_FLAGS)
