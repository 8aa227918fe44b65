"""The dataset registry, and every shared dataset file read in full against the folder's README."""

from __future__ import annotations

import pathlib
import re

import pytest

from stream import datasets
from stream.datasets import DATASETS, Dataset, DatasetInfo, open_dataset
from stream.errors import DatasetMissingError, DatasetShapeError, StreamError, UnknownDatasetError

SHARED = datasets.data_dir()
README = SHARED / "README.md"
needs_shared = pytest.mark.skipif(not README.is_file(), reason=f"no shared datasets folder at {SHARED}")


def readme_rows() -> dict[str, dict]:
    """The README's file table: file -> shape, label position and cardinality."""
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| (\d+) \| (\d+) \| (\d+) \| (first|last) (\d+) \|[^|]*\| (\w+) \| ([\d.]+) \|", line)
        if match:
            file, n, f, q, where, q_again, fmt, card = match.groups()
            rows[file] = {
                "n_instances": int(n), "n_features": int(f), "n_labels": int(q), "where": where,
                "q": int(q_again), "sparse": fmt == "sparse", "cardinality": float(card),
            }
    return rows


def shared_files() -> list[str]:
    if not SHARED.is_dir():
        return []
    files = [p for p in SHARED.glob("*.arff*")] + [p for p in SHARED.glob("meka/*.arff*")]
    return sorted(str(p.relative_to(SHARED)) for p in files)


REGISTERED_BY_FILE = {info.file: name for name, info in DATASETS.items()}
LARGE = 10_000


def file_param(file: str):
    rows = readme_rows() if README.is_file() else {}
    slow = rows.get(file, {}).get("n_instances", 0) > LARGE
    return pytest.param(file, id=file, marks=[pytest.mark.slow] if slow else [])


@needs_shared
@pytest.mark.parametrize("file", [file_param(f) for f in shared_files()])
def test_every_shared_file_matches_the_readme(file):
    expected = readme_rows()[file]  # a KeyError here is a file the README does not describe
    dataset = open_dataset(str(SHARED / file))
    n_attributes = dataset.n_features + dataset.n_labels
    assert (dataset.n_features, dataset.n_labels) == (expected["n_features"], expected["n_labels"])
    positions = list(dataset._header.label_indices)
    q = expected["q"]
    assert positions == (list(range(q)) if expected["where"] == "first" else list(range(n_attributes - q, n_attributes)))

    n = positives = 0
    for x, y in dataset:
        n += 1
        positives += sum(y.values())
        assert len(y) == expected["n_labels"]
        assert set(map(type, y.values())) == {bool}
        assert set(map(type, x.values())) <= {float}
        if expected["sparse"]:
            assert all(x.values()), "sparse rows yield only non-zero features"
        else:
            assert len(x) == expected["n_features"], "dense rows without '?' yield every feature"
    assert n == expected["n_instances"]
    assert dataset.n_instances == n
    assert abs(positives / n - expected["cardinality"]) <= 0.001


@needs_shared
def test_every_shared_file_is_registered_with_the_readme_shape():
    rows = readme_rows()
    assert sorted(rows) == shared_files()
    for file, expected in rows.items():
        name = REGISTERED_BY_FILE.get(file)
        assert name is not None, f"{file} has no registry entry"
        info = DATASETS[name]
        assert (info.n_instances, info.n_features, info.n_labels) == (
            expected["n_instances"], expected["n_features"], expected["n_labels"]
        ), name
        assert (info.cardinality, info.sparse) == (expected["cardinality"], expected["sparse"]), name


@needs_shared
@pytest.mark.parametrize("name", [n for n, info in DATASETS.items() if info.bundled])
def test_bundled_copies_equal_the_shared_files(name):
    info = DATASETS[name]
    bundled = datasets.bundled_dir() / info.file
    assert bundled.read_bytes() == (SHARED / info.file).read_bytes()
    xml = info.file.split(".")[0] + ".xml"
    assert (datasets.bundled_dir() / xml).read_bytes() == (SHARED / xml).read_bytes()


def test_bundled_datasets_need_no_shared_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(tmp_path))
    for name in ("yeast", "emotions", "flags"):
        dataset = open_dataset(name)
        assert dataset.path.parent == datasets.bundled_dir()
        assert dataset.citation
    yeast = open_dataset("YEAST")
    assert (yeast.name, yeast.n_instances, yeast.n_features, yeast.n_labels) == ("yeast", 2417, 103, 14)
    assert yeast.label_names[:3] == ["Class1", "Class2", "Class3"]
    assert yeast.feature_names[0] == "Att1"


def test_registry_names_are_short_lower_case_and_complete():
    for name in ("yeast", "emotions", "scene", "scene-train", "scene-test", "enron", "bibtex", "medical",
                 "flags", "birds", "cal500", "corel5k", "delicious", "genbase", "tmc2007", "20ng", "ohsumed",
                 "slashdot", "langlog", "stackex-chess", "virusgo", "water-quality", "chd49", "gnegative-go",
                 "gnegative-pseaac", "plant-pseaac", "human", "imdb", "music"):
        assert name in DATASETS
    assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in DATASETS)
    assert DATASETS["scene"].n_instances == 2407 and DATASETS["birds"].n_instances == 645


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv(datasets.DATA_DIR_VARIABLE, raising=False)
    repo = pathlib.Path(datasets.__file__).resolve().parents[1]
    assert datasets.data_dir() == repo.parent / "shared" / "datasets"
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(tmp_path))
    assert datasets.data_dir() == tmp_path


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownDatasetError) as caught:
        open_dataset("yeats")
    message = str(caught.value)
    assert "'yeats'" in message and "emotions" in message and "water-quality" in message
    assert isinstance(caught.value, StreamError) and isinstance(caught.value, KeyError)


def test_missing_shared_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(DatasetMissingError, match="TAGSTREAM_DATA_DIR") as caught:
        open_dataset("bibtex")
    assert str(tmp_path / "bibtex.arff.gz") in str(caught.value)


TOY = "@relation 'toy: -C -2'\n@attribute f numeric\n@attribute a {0,1}\n@attribute b {0,1}\n@data\n"


def register_toy(monkeypatch, folder, **shape):
    (folder / "toy.arff").write_text(TOY + "".join(f"{i},1,0\n" for i in range(5)))
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(folder))
    fields = {"n_instances": 5, "n_features": 1, "n_labels": 2} | shape
    monkeypatch.setitem(DATASETS, "toy", DatasetInfo("toy.arff", cardinality=1.0, sparse=False, citation="me", **fields))


def test_first_full_read_checks_the_instance_count(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path, n_instances=6)
    dataset = open_dataset("toy")
    assert len(list(dataset.take(5))) == 5  # a partial read checks nothing
    with pytest.raises(DatasetShapeError, match="'toy' .* has 5 instances, the registry expects 6"):
        list(dataset)


@pytest.mark.parametrize("shape", [{"n_features": 2}, {"n_labels": 3}])
def test_opening_checks_features_and_labels(tmp_path, monkeypatch, shape):
    register_toy(monkeypatch, tmp_path, **shape)
    with pytest.raises(DatasetShapeError, match="the registry expects"):
        open_dataset("toy")


def test_registered_dataset_passes_its_check(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path)
    dataset = open_dataset("toy")
    assert len(list(dataset)) == 5 and len(list(dataset)) == 5
    assert (dataset.name, dataset.citation, dataset.n_instances) == ("toy", "me", 5)


def test_unregistered_file_counts_its_rows_on_the_first_full_pass(tmp_path):
    path = tmp_path / "plain.arff.gz"
    import gzip

    with gzip.open(path, "wt") as f:
        f.write("@relation p\n@attribute f numeric\n@attribute g numeric\n@attribute y {0,1}\n@data\n1,2,1\n3,4,0\n")
    dataset = open_dataset(str(path), labels=1)
    assert (dataset.name, dataset.citation, dataset.n_instances) == ("plain", None, None)
    assert (dataset.label_names, dataset.feature_names) == (["y"], ["f", "g"])
    assert list(dataset.take(1)) == [({"f": 1.0, "g": 2.0}, {"y": True})]
    assert dataset.n_instances is None
    rows = list(dataset)
    assert dataset.n_instances == 2
    assert rows == list(dataset)  # re-iterable: each pass reopens the file
    assert "instances=2" in repr(dataset)


def test_take_is_lazy_and_closes_the_file(tmp_path):
    path = tmp_path / "t.arff"
    path.write_text(TOY + "1,1,0\n2,0,1\nbroken\n")
    dataset = Dataset(path)
    taken = dataset.take(2)
    assert next(taken) == ({"f": 1.0}, {"a": True, "b": False})
    assert [x["f"] for x, _ in dataset.take(2)] == [1.0, 2.0]
    taken.close()


def test_iteration_yields_plain_floats_and_bools():
    for x, y in open_dataset("flags").take(50):
        assert all(type(v) is float for v in x.values())
        assert all(type(v) is bool for v in y.values())
