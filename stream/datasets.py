"""The multi-label benchmark datasets, by short name, as re-iterable streams.

:data:`DATASETS` maps a lower-case name to the file and its expected shape. :func:`open_dataset`
takes such a name, or the path of any multi-label ARFF file, and returns a :class:`Dataset` that
yields ``(x, y)`` pairs lazily: ``x`` a ``dict[str, float]``, ``y`` a ``dict[str, bool]`` with
every label. Rows of sparse files yield only their non-zero features: absent means 0 (see
:mod:`stream.arff` for all conversions).

Where the files are:

* ``yeast``, ``emotions`` and ``flags`` ship inside the package (``stream/data/``), so a plain
  clone works without anything else;
* the others live in the shared datasets folder, ``<repo>/../shared/datasets`` unless the
  ``TAGSTREAM_DATA_DIR`` environment variable names another folder with the same layout.

The shapes and label cardinalities come from the shared folder's README, where each was
obtained by reading every row. The first complete pass over a registered dataset checks that
its number of rows matches; the feature and label counts are checked when it is opened.

Examples
--------
>>> flags = open_dataset("flags")
>>> flags.n_instances, flags.n_features, flags.n_labels
(194, 19, 7)
>>> x, y = next(iter(flags))
>>> x["area"], y["red"]
(648.0, True)

"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import pathlib
import typing

from stream.arff import Instance, iter_instances, read_header
from stream.errors import DatasetMissingError, DatasetShapeError, UnknownDatasetError
from stream.synthetic import is_synthetic, open_synthetic
from stream.text import TextDataset, TextFields, is_text_path

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "bundled_dir", "data_dir", "is_text_dataset", "open_dataset"]

logger = logging.getLogger(__name__)

#: Environment variable naming the folder that holds the shared (non-bundled) dataset files.
DATA_DIR_VARIABLE = "TAGSTREAM_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset file.

    Parameters
    ----------
    file
        Path of the ARFF file relative to the datasets folder.
    n_instances
        Number of data rows.
    n_features
        Number of feature attributes.
    n_labels
        Number of label attributes.
    cardinality
        Mean number of positive labels per row.
    sparse
        Whether the rows are Weka sparse rows.
    citation
        Where the data comes from; cite it when you use the set.
    bundled
        Whether the file ships inside the package rather than in the shared folder.
    kind
        ``"arff"``, or ``"text"`` for a JSON Lines file of ``{id, text, labels}`` (read by
        :class:`stream.text.TextDataset`; it has no features until a model embeds the text, so
        ``n_features`` is 0).

    """

    file: str
    n_instances: int
    n_features: int
    n_labels: int
    cardinality: float
    sparse: bool
    citation: str
    bundled: bool = False
    kind: typing.Literal["arff", "text"] = "arff"


_PSEAAC = (
    "Xu, Liu, Yin & Sun, \"A multi-label feature extraction algorithm via maximizing feature "
    "variance and feature-label dependence simultaneously\", Knowledge-Based Systems 98, 2016 "
    "(packaged set)"
)
_MEKA = "; MEKA packaging by J. Read"
_CHAINS = (
    "Read, Pfahringer, Holmes & Frank, \"Classifier chains for multi-label classification\", "
    "ECML PKDD 2009 / Machine Learning 85, 2011"
)
_BIRDS = (
    "Briggs et al., \"The 9th annual MLSP competition: new methods for acoustic classification of "
    "multiple simultaneous bird species in a noisy environment\", MLSP 2013"
)
_SCENE = (
    "Boutell, Luo, Shen & Brown, \"Learning multi-label scene classification\", "
    "Pattern Recognition 37(9), 2004"
)
_ENRON = (
    "Klimt & Yang, \"The Enron corpus: a new dataset for email classification research\", "
    "ECML 2004 (labels: UC Berkeley Enron Email Analysis Project)"
)
_YEAST = "Elisseeff & Weston, \"A kernel method for multi-labelled classification\", NIPS 2001"
_EMOTIONS = (
    "Trohidis, Tsoumakas, Kalliris & Vlahavas, \"Multi-label classification of music into "
    "emotions\", ISMIR 2008"
)

#: Short lower-case name -> dataset file and expected shape.
DATASETS: dict[str, DatasetInfo] = {
    "yeast": DatasetInfo("yeast.arff.gz", 2417, 103, 14, 4.237, False, _YEAST, bundled=True),
    "emotions": DatasetInfo("emotions.arff", 593, 72, 6, 1.868, False, _EMOTIONS, bundled=True),
    "flags": DatasetInfo(
        "flags.arff", 194, 19, 7, 3.392, False,
        "Goncalves, Plastino & Freitas, \"A genetic algorithm for optimizing the label ordering in "
        "multi-label classifier chains\", ICTAI 2013 (from the UCI Flags data)",
        bundled=True,
    ),
    "scene": DatasetInfo("meka/Scene.arff.gz", 2407, 294, 6, 1.074, False, _SCENE),
    "scene-train": DatasetInfo("scene-train.arff.gz", 1211, 294, 6, 1.062, False, _SCENE),
    "scene-test": DatasetInfo("scene-test.arff.gz", 1196, 294, 6, 1.086, False, _SCENE),
    "birds": DatasetInfo("meka/Birds.arff", 645, 260, 19, 1.014, False, _BIRDS),
    "birds-train": DatasetInfo("birds-train.arff", 322, 260, 19, 1.059, False, _BIRDS),
    "birds-test": DatasetInfo("birds-test.arff", 323, 260, 19, 0.969, False, _BIRDS),
    "enron": DatasetInfo("enron.arff", 1702, 1001, 53, 3.378, True, _ENRON),
    "enron-meka": DatasetInfo("meka/Enron.arff", 1702, 1001, 53, 3.378, True, _ENRON),
    "yeast-meka": DatasetInfo("meka/Yeast.arff.gz", 2417, 103, 14, 4.237, False, _YEAST),
    "music": DatasetInfo(
        "meka/Music.arff", 592, 71, 6, 1.870, False, _EMOTIONS + " (MEKA's normalised version)"
    ),
    "imdb": DatasetInfo("meka/Imdb.arff.gz", 120919, 1001, 28, 2.000, True, _CHAINS),
    "bibtex": DatasetInfo(
        "bibtex.arff.gz", 7395, 1836, 159, 2.402, True,
        "Katakis, Tsoumakas & Vlahavas, \"Multilabel text classification for automated tag "
        "suggestion\", ECML PKDD Discovery Challenge 2008",
    ),
    "medical": DatasetInfo(
        "medical.arff", 978, 1449, 45, 1.245, True,
        "Pestian et al., \"A shared task involving multi-label classification of clinical free "
        "text\", BioNLP 2007",
    ),
    "cal500": DatasetInfo(
        "cal500.arff", 502, 68, 174, 26.044, False,
        "Turnbull, Barrington, Torres & Lanckriet, \"Semantic annotation and retrieval of music and "
        "sound effects\", IEEE TASLP 16(2), 2008",
    ),
    "corel5k": DatasetInfo(
        "Corel5k-sparse.arff", 5000, 499, 374, 3.522, True,
        "Duygulu, Barnard, de Freitas & Forsyth, \"Object recognition as machine translation: "
        "learning a lexicon for a fixed image vocabulary\", ECCV 2002",
    ),
    "delicious": DatasetInfo(
        "delicious.arff.gz", 16105, 500, 983, 19.020, True,
        "Tsoumakas, Katakis & Vlahavas, \"Effective and efficient multilabel classification in "
        "domains with large number of labels\", ECML PKDD 2008 MMD workshop",
    ),
    "genbase": DatasetInfo(
        "genbase.arff.gz", 662, 1186, 27, 1.252, False,
        "Diplaris, Tsoumakas, Mitkas & Vlahavas, \"Protein classification with multiple "
        "algorithms\", PCI 2005",
    ),
    "tmc2007": DatasetInfo(
        "tmc2007-500.arff.gz", 28596, 500, 22, 2.158, True,
        "Srivastava & Zane-Ulman, \"Discovering recurring anomalies in text reports regarding "
        "complex space systems\", IEEE Aerospace Conference 2005",
    ),
    "20ng": DatasetInfo(
        "20NG.arff.gz", 19300, 1006, 20, 1.029, True,
        "K. Lang, \"NewsWeeder: learning to filter netnews\", ICML 1995 (20 Newsgroups)" + _MEKA,
    ),
    "ohsumed": DatasetInfo(
        "OHSUMED-F.arff.gz", 13929, 1002, 23, 1.663, True,
        "Hersh, Buckley, Leone & Hickam, \"OHSUMED: an interactive retrieval evaluation and new "
        "large test collection for research\", SIGIR 1994" + _MEKA,
    ),
    "slashdot": DatasetInfo("Slashdot.arff", 3782, 1079, 22, 1.181, True, _CHAINS),
    "langlog": DatasetInfo(
        "Langlog.arff", 1460, 1004, 75, 1.180, True,
        "J. Read, \"Scalable multi-label classification\", PhD thesis, University of Waikato, 2010",
    ),
    "stackex-chess": DatasetInfo(
        "Stackex_chess.arff.gz", 1675, 585, 227, 2.411, False,
        "Charte, Rivera, del Jesus & Herrera, \"QUINTA: a question tagging assistant to improve the "
        "answering ratio in electronic forums\", EUROCON 2015",
    ),
    "virusgo": DatasetInfo(
        "VirusGO.arff", 207, 749, 6, 1.217, True,
        _PSEAAC + "; original protein data: Xiao, Wu, Lin & Chou, iLoc-Virus, J. Theor. Biol. 2011",
    ),
    "water-quality": DatasetInfo(
        "Water_quality.arff", 1060, 16, 14, 5.073, False,
        "Blockeel, Dzeroski & Grbovic, \"Simultaneous prediction of multiple chemical parameters of "
        "river water quality with TILDE\", PKDD 1999",
    ),
    "chd49": DatasetInfo(
        "CHD_49.arff", 555, 49, 6, 2.580, False,
        "Shao, Li, Liu & Wang, \"Symptom selection for multi-label data of inquiry diagnosis in "
        "traditional Chinese medicine\", Science China Information Sciences 56, 2013",
    ),
    "gnegative-go": DatasetInfo(
        "GnegativeGO.arff", 1392, 1717, 8, 1.046, True,
        _PSEAAC + "; original protein data: Xiao, Wu & Chou, iLoc-Gneg, 2011",
    ),
    "gnegative-pseaac": DatasetInfo(
        "GnegativePseAAC.arff.gz", 1392, 440, 8, 1.046, True,
        _PSEAAC + "; original protein data: Xiao, Wu & Chou, iLoc-Gneg, 2011",
    ),
    "plant-pseaac": DatasetInfo(
        "PlantPseAAC.arff.gz", 978, 440, 12, 1.079, True,
        _PSEAAC + "; original protein data: Chou & Shen, Plant-mPLoc, PLoS ONE 2010",
    ),
    "human": DatasetInfo(
        "human3106.arff.gz", 3106, 440, 14, 1.185, False,
        _PSEAAC + " (HumanPseAAC); original protein data: Shen & Chou, Hum-mPLoc 2.0, 2009",
    ),
    # Raw text (JSON Lines): shapes from text/README.md of the shared folder.
    "goemotions": DatasetInfo(
        "text/goemotions.jsonl.gz", 54263, 0, 28, 1.176, False,
        "Demszky, Movshovitz-Attias, Ko, Cowen, Nemade & Ravi, \"GoEmotions: a dataset of fine-grained "
        "emotions\", ACL 2020 (CC BY 4.0)",
        kind="text",
    ),
    "reuters": DatasetInfo(
        "text/reuters21578_modapte90.jsonl.gz", 10789, 0, 90, 1.236, False,
        "D. D. Lewis, Reuters-21578 Text Categorization Test Collection, Distribution 1.0 (1997), ModApte "
        "split with the 90 categories that have training and test stories; research use only",
        kind="text",
    ),
}


def bundled_dir() -> pathlib.Path:
    """The folder of the dataset files shipped inside the package."""
    return pathlib.Path(__file__).resolve().parent / "data"


def data_dir() -> pathlib.Path:
    """The shared datasets folder: ``$TAGSTREAM_DATA_DIR``, else ``<repo>/../shared/datasets``."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return pathlib.Path(override)
    return pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"


class Dataset:
    """A multi-label ARFF file as a re-iterable stream of ``(x, y)`` pairs.

    Every iteration opens the file again and reads it lazily. Build one with
    :func:`open_dataset`.

    Parameters
    ----------
    path
        The ARFF file.
    labels
        Number of labels, for files that do not declare them (see :func:`stream.arff.read_header`).
    name
        Short name; the registry name, or the file name without extensions.
    info
        The registry entry when the dataset is registered; its shape is then checked.

    """

    def __init__(
        self,
        path: str | os.PathLike,
        labels: int | None = None,
        name: str | None = None,
        info: DatasetInfo | None = None,
    ):
        self.path = pathlib.Path(path)
        self.labels = labels
        self.name = name if name is not None else self.path.name.split(".")[0]
        self.info = info
        self._header = read_header(self.path, labels)
        self._counted: int | None = None
        logger.debug("dataset %s: %s, labels from %s", self.name, self.path, self._header.label_source)
        if info is not None:
            self._check_shape("features", info.n_features, self.n_features)
            self._check_shape("labels", info.n_labels, self.n_labels)

    @property
    def label_names(self) -> list[str]:
        return self._header.label_names

    @property
    def feature_names(self) -> list[str]:
        return self._header.feature_names

    @property
    def n_features(self) -> int:
        return len(self._header.attributes) - len(self._header.label_indices)

    @property
    def n_labels(self) -> int:
        return len(self._header.label_indices)

    @property
    def n_instances(self) -> int | None:
        """Number of rows: from the registry, else known once a full pass has counted them."""
        if self.info is not None:
            return self.info.n_instances
        return self._counted

    @property
    def citation(self) -> str | None:
        return self.info.citation if self.info is not None else None

    def _check_shape(self, what: str, expected: int, actual: int) -> None:
        if expected != actual:
            raise DatasetShapeError(
                f"dataset {self.name!r} ({self.path}) has {actual} {what}, the registry expects "
                f"{expected}; the file is not the registered one"
            )

    def __iter__(self) -> typing.Iterator[Instance]:
        count = 0
        for count, instance in enumerate(iter_instances(self._header), start=1):
            yield instance
        if self._counted is None:
            if self.info is not None:
                self._check_shape("instances", self.info.n_instances, count)
            self._counted = count

    def take(self, n: int) -> typing.Iterator[Instance]:
        """The first ``n`` instances, lazily (the file is closed once they are read)."""
        instances = iter(self)
        try:
            yield from itertools.islice(instances, n)
        finally:
            instances.close()

    def __repr__(self) -> str:
        rows = "?" if self.n_instances is None else self.n_instances
        return (
            f"Dataset({self.name!r}, instances={rows}, features={self.n_features}, "
            f"labels={self.n_labels}, path='{self.path}')"
        )


def _resolve(name: str, info: DatasetInfo) -> pathlib.Path:
    folder = bundled_dir() if info.bundled else data_dir()
    path = folder / info.file
    if not path.is_file():
        raise DatasetMissingError(
            f"dataset {name!r} expects the file {path}, which does not exist; point "
            f"{DATA_DIR_VARIABLE} at the folder holding the shared multi-label datasets"
        )
    return path


def is_text_dataset(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is a registered text dataset or the path of a JSON Lines file.

    >>> is_text_dataset("goemotions"), is_text_dataset("yeast"), is_text_dataset("my/posts.jsonl.gz")
    (True, False, True)

    """
    info = DATASETS.get(str(name_or_path).lower())
    return info.kind == "text" if info is not None else is_text_path(name_or_path)


def open_dataset(
    name_or_path: str, labels: int | None = None, text_fields: TextFields | None = None
) -> Dataset | TextDataset:
    """Open a registered dataset by name, or any multi-label ARFF or JSON Lines text file by path.

    Parameters
    ----------
    name_or_path
        A key of :data:`DATASETS` (any case), or the path of an ``.arff``/``.arff.gz`` file or of
        a ``.jsonl``/``.jsonl.gz`` file of labelled texts.
    labels
        Number of labels, for ARFF files that do not declare them; checked against the
        declaration otherwise.
    text_fields
        Field names of a text dataset (default ``text``, ``labels``, ``id``).

    Returns
    -------
    A :class:`Dataset` of ``(x, y)`` pairs, or for text a :class:`stream.text.TextDataset` of
    :class:`stream.text.TextInstance`.

    """
    if is_synthetic(str(name_or_path)):
        return open_synthetic(str(name_or_path))  # see stream.synthetic: 'synthetic:kind=...,at=...,seed=...'
    key = str(name_or_path).lower()
    fields = text_fields if text_fields is not None else TextFields()
    if key in DATASETS:
        info = DATASETS[key]
        if info.kind == "text":
            return TextDataset(
                _resolve(key, info), name=key, fields=fields, n_instances=info.n_instances,
                n_labels=info.n_labels, citation=info.citation,
            )
        return Dataset(_resolve(key, info), labels=labels, name=key, info=info)
    if os.path.isfile(name_or_path):
        if is_text_path(name_or_path):
            return TextDataset(name_or_path, fields=fields)
        return Dataset(name_or_path, labels=labels)
    raise UnknownDatasetError(
        f"unknown dataset {name_or_path!r}: not a registered name nor an existing file; "
        f"registered names: {', '.join(sorted(DATASETS))}"
    )
