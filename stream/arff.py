"""Lazy reader for multi-label ARFF files in MULAN and MEKA layout.

:func:`iter_arff` yields one ``(x, y)`` pair per data row, reading the file line by line (plain or
gzip-compressed), so memory stays constant whatever the file size. ``x`` is a ``dict[str, float]``
and ``y`` a ``dict[str, bool]`` holding every label.

Which attributes are labels is decided in this order:

1. the companion MULAN XML next to the file: ``<stem>.xml``, where ``<stem>`` is the file name
   without ``.gz``/``.arff``; else the same with its last ``-part`` or ``_part`` cut off,
   repeatedly (``scene.xml`` serves ``scene-train.arff.gz``, ``Corel5k.xml`` serves
   ``Corel5k-sparse.arff``). ``<stem>.xml`` must name attributes of the file; an XML found by
   cutting is used only if it does (another file's XML is skipped, with a warning in the log).
   The XML names the label attributes wherever they are, and wins over a ``-C`` in the relation
   name (Weka filters leave stale ones behind);
2. MEKA's ``-C q`` in the ``@relation`` name: the first ``q`` attributes when ``q > 0``, the last
   ``|q|`` when ``q < 0``;
3. the ``labels=q`` argument: the last ``q`` attributes (MULAN's usual place);
4. attributes named ``Label1`` .. ``Labelq`` (any case), numbered from 1 without gaps, wherever
   they are.

When the file declares its labels (1 or 2) and ``labels=q`` is given too, ``q`` must match their
number. When none of the rules applies, :class:`~stream.errors.ArffError` says so. Labels and
features keep the file's attribute order (not the XML's).

Values are converted as follows:

* labels: nominal attributes whose declared values are among ``0``/``1``, or numeric ones; a
  value is 0 or 1 in any numeric spelling (``1``, ``1.0``) and becomes ``bool``; anything else,
  including a missing ``?``, is an error;
* numeric, real and integer features become ``float``;
* nominal features become the ``float`` index of the value in the attribute's declaration
  (``{a, b, c}``: ``a`` -> 0.0, ``b`` -> 1.0, ``c`` -> 2.0). This is Weka's own internal coding,
  which is also what makes an omitted nominal value in a sparse row mean the first value;
* a missing ``?`` feature is left out of ``x``;
* sparse rows (``{index value, ...}``, 0-based indices) yield only their non-zero features:
  **absent means 0**. Omitted labels take the label's first declared value (``0``, so ``False``, in
  every usual file).

String, date and relational attributes are rejected. Malformed input raises
:class:`~stream.errors.ArffError` naming the file, the line and the reason; no row is ever
skipped silently.

Examples
--------
>>> import pathlib, tempfile
>>> folder = tempfile.TemporaryDirectory()
>>> path = pathlib.Path(folder.name) / "toy.arff"
>>> _ = path.write_text(
...     "@relation 'toy: -C 2'\\n"
...     "@attribute sports {0,1}\\n@attribute music {0,1}\\n"
...     "@attribute tempo numeric\\n@attribute words numeric\\n"
...     "@data\\n1,0,120,0\\n{1 1,3 7}\\n"
... )
>>> for x, y in iter_arff(path):
...     print(x, y)
{'tempo': 120.0, 'words': 0.0} {'sports': True, 'music': False}
{'words': 7.0} {'sports': False, 'music': True}
>>> folder.cleanup()

"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import itertools
import logging
import operator
import os
import pathlib
import re
import typing
import xml.etree.ElementTree as ElementTree
import zlib

import orjson

from stream.errors import ArffError

__all__ = ["Attribute", "ArffHeader", "iter_arff", "iter_instances", "read_header"]

logger = logging.getLogger(__name__)

_MEKA_LABELS = re.compile(r"(?:^|\s)-C\s+(-?\d+)")
_LABEL_NAME = re.compile(r"label(\d+)", re.IGNORECASE)
_NUMERIC_TYPES = {"numeric", "real", "integer"}
_UNSUPPORTED_TYPES = {"string", "date", "relational"}
_LABEL_TOKENS = {"0": False, "1": True}
# Float keys: 1.0 and 1 hash alike, so this also takes the ints JSON parsing gives.
_LABEL_NUMBERS = {0.0: False, 1.0: True}
_QUOTES = ("'", '"')

Instance = tuple[dict[str, float], dict[str, bool]]


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One ``@attribute`` declaration: its name, ``"numeric"`` or ``"nominal"``, nominal values."""

    name: str
    kind: str
    values: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ArffHeader:
    """Everything :func:`read_header` learned from the part of the file before the data.

    Parameters
    ----------
    path
        The ARFF file.
    relation
        The ``@relation`` name, unquoted.
    attributes
        Every attribute, in file order.
    label_indices
        Positions (0-based) of the label attributes, in file order.
    label_source
        Which rule designated the labels, for messages and logs (``"xml:scene.xml"``,
        ``"meka:-C -6"``, ``"labels=6"`` or ``"names:Label1..Label6"``).
    data_line
        Line number of the ``@data`` line; data rows start after it.

    """

    path: pathlib.Path
    relation: str
    attributes: tuple[Attribute, ...]
    label_indices: tuple[int, ...]
    label_source: str
    data_line: int

    @property
    def label_names(self) -> list[str]:
        return [self.attributes[i].name for i in self.label_indices]

    @property
    def feature_names(self) -> list[str]:
        labels = set(self.label_indices)
        return [a.name for i, a in enumerate(self.attributes) if i not in labels]


def _is_gzip(path: pathlib.Path) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def _undecodable_line(path: pathlib.Path) -> int | None:
    """Number of the first line that is not UTF-8 (the text reader decodes in chunks, so its
    error does not say which line)."""
    with gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb") as lines:
        for lineno, raw in enumerate(lines, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return None


def _lines(path: pathlib.Path, skip: int = 0) -> typing.Iterator[tuple[int, str]]:
    """Yield ``(line number, stripped line)`` after the first ``skip`` lines, gunzipping if needed.

    Undecodable text and damaged gzip data become :class:`ArffError` naming the line.
    """
    lineno = skip
    try:
        if _is_gzip(path):
            lines = io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
        else:
            lines = open(path, encoding="utf-8-sig")
        with lines:
            for _ in itertools.islice(lines, skip):
                pass
            for lineno, raw in enumerate(lines, start=skip + 1):
                yield lineno, raw.strip()
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1]
        raise ArffError(path, _undecodable_line(path), f"not UTF-8 text (byte {byte!r})") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArffError(path, lineno + 1, f"compressed data is cut short or damaged: {error}") from None


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted string opening at ``text[start]``; return it and the index after it."""
    quote = text[start]
    chars = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif c == quote:
            return "".join(chars), i + 1
        else:
            chars.append(c)
            i += 1
    raise ValueError(f"unterminated quote in {text!r}")


def _split_name(text: str) -> tuple[str, str]:
    """Split ``"name rest"`` (the name possibly quoted) into the name and the stripped rest."""
    text = text.strip()
    if not text:
        raise ValueError("missing name")
    if text[0] in _QUOTES:
        name, end = _read_quoted(text, 0)
        return name, text[end:].strip()
    end = 0
    while end < len(text) and not text[end].isspace() and text[end] != "{":
        end += 1
    return text[:end], text[end:].strip()


def _split_values(text: str) -> list[str | None]:
    """Split a comma-separated list honouring quotes; an unquoted ``?`` becomes ``None``."""
    values: list[str | None] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in _QUOTES:
            value, i = _read_quoted(text, i)
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] != ",":
                raise ValueError(f"unexpected {text[i]!r} after quoted value {value!r}")
            values.append(value)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            token = text[i:end].strip()
            values.append(None if token == "?" else token)
            i = end
        if i >= n:
            return values
        i += 1  # the comma


def _parse_attribute(text: str) -> Attribute:
    name, rest = _split_name(text)
    if rest.startswith("{"):
        if not rest.endswith("}"):
            raise ValueError(f"nominal values of {name!r} are not closed by '}}'")
        values = _split_values(rest[1:-1])
        if any(v is None for v in values) or len(set(values)) != len(values):
            raise ValueError(f"nominal values of {name!r} contain '?' or duplicates")
        return Attribute(name, "nominal", tuple(values))
    kind = rest.split(None, 1)[0].lower() if rest else ""
    if kind in _NUMERIC_TYPES:
        return Attribute(name, "numeric")
    if kind in _UNSUPPORTED_TYPES:
        raise ValueError(f"attribute {name!r} has type {kind!r}, which cannot become a float feature")
    raise ValueError(f"attribute {name!r} has no known type (got {rest!r})")


def _stem(path: pathlib.Path) -> str:
    """The file name without ``.gz`` and ``.arff``."""
    stem = path.name
    for suffix in (".gz", ".arff"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _companion_xmls(path: pathlib.Path) -> typing.Iterator[pathlib.Path]:
    """Existing XML files that may name the labels of ``path``, the exact stem's first."""
    stem = _stem(path)
    while stem:
        candidate = path.with_name(stem + ".xml")
        if candidate.is_file():
            yield candidate
        cut = max(stem.rfind("-"), stem.rfind("_"))
        stem = stem[:cut] if cut > 0 else ""


def _xml_label_names(xml_path: pathlib.Path) -> list[str]:
    try:
        root = ElementTree.parse(xml_path).getroot()
    except ElementTree.ParseError as error:
        raise ArffError(xml_path, error.position[0], f"not valid XML: {error}") from None
    # MULAN's label elements are namespaced and may nest (label hierarchies): take them all.
    names = [e.get("name") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "label"]
    if not names or any(not n for n in names):
        raise ArffError(xml_path, None, "no <label name=...> elements (or one without a name)")
    if len(set(names)) != len(names):
        raise ArffError(xml_path, None, "a label is named twice")
    return names


def _find_labels(
    path: pathlib.Path, relation: str, attributes: list[Attribute], labels: int | None
) -> tuple[tuple[int, ...], str]:
    n = len(attributes)
    declared: tuple[tuple[int, ...], str] | None = None
    meka = _MEKA_LABELS.search(relation)
    position = {a.name: i for i, a in enumerate(attributes)}
    for xml_path in _companion_xmls(path):
        names = _xml_label_names(xml_path)
        missing = [name for name in names if name not in position]
        if not missing:
            declared = tuple(sorted(position[name] for name in names)), f"xml:{xml_path.name}"
            if meka is not None and int(meka.group(1)) != len(names):
                logger.info("%s: ignoring '-C %s' in the relation name, %s wins", path, meka.group(1), xml_path.name)
            break
        if xml_path.stem == _stem(path):
            raise ArffError(path, None, f"{xml_path.name} names labels that are not attributes here: {missing[:5]}")
        logger.warning("%s: skipping %s, whose labels are not attributes here (%s, ...)", path, xml_path.name, missing[0])
    if declared is None and meka is not None:
        q = int(meka.group(1))
        if q == 0 or abs(q) >= n:
            raise ArffError(path, None, f"'-C {q}' in the relation name does not fit {n} attributes")
        declared = (tuple(range(q)) if q > 0 else tuple(range(n + q, n))), f"meka:-C {q}"
    if declared is not None:
        if labels is not None and labels != len(declared[0]):
            raise ArffError(
                path, None, f"labels={labels} but the file declares {len(declared[0])} labels ({declared[1]})"
            )
        return declared
    if labels is not None:
        if not 0 < labels < n:
            raise ArffError(path, None, f"labels={labels} must be between 1 and {n - 1} (the file has {n} attributes)")
        return tuple(range(n - labels, n)), f"labels={labels}"
    numbered = {}
    for i, attribute in enumerate(attributes):
        match = _LABEL_NAME.fullmatch(attribute.name)
        if match:
            numbered[int(match.group(1))] = i
    if numbered and sorted(numbered) == list(range(1, len(numbered) + 1)) and len(numbered) < n:
        return tuple(sorted(numbered.values())), f"names:Label1..Label{len(numbered)}"
    raise ArffError(
        path,
        None,
        "cannot tell which attributes are labels: no companion .xml, no '-C q' in the relation "
        "name and no attributes named Label1..Labelq; pass labels=q (the last q attributes)",
    )


def read_header(path: str | os.PathLike, labels: int | None = None) -> ArffHeader:
    """Read the header of an ARFF file and work out which attributes are labels.

    Parameters
    ----------
    path
        An ``.arff`` file, gzip-compressed or not.
    labels
        Number of labels. Needed only for files that declare neither a companion XML, a
        ``-C q`` nor ``Label1..Labelq`` names; then the labels are the last ``labels``
        attributes. Otherwise it is checked against the file's own declaration.

    """
    path = pathlib.Path(path)
    relation: str | None = None
    attributes: list[Attribute] = []
    lineno = 0
    for lineno, line in _lines(path):
        if not line or line[0] == "%":
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.split("\t", 1)[0].lower()
        rest = line[len(keyword) :]
        try:
            if keyword == "@relation":
                relation, _ = _split_name(rest)
            elif keyword == "@attribute":
                attributes.append(_parse_attribute(rest))
            elif keyword == "@data":
                break
            else:
                raise ValueError(f"expected @relation, @attribute or @data, got {line[:40]!r}")
        except ValueError as error:
            raise ArffError(path, lineno, str(error)) from None
    else:
        raise ArffError(path, lineno, "truncated header: the file ends before its @data line")
    if relation is None:
        raise ArffError(path, lineno, "no @relation line before @data")
    if not attributes:
        raise ArffError(path, lineno, "no @attribute lines before @data")
    names = [a.name for a in attributes]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ArffError(path, None, f"attribute names are not unique: {duplicates[:5]}")
    label_indices, source = _find_labels(path, relation, attributes, labels)
    for i in label_indices:
        attribute = attributes[i]
        if attribute.kind == "nominal" and not set(attribute.values) <= set(_LABEL_TOKENS):
            raise ArffError(
                path, None, f"label {attribute.name!r} has values {list(attribute.values)}, expected 0 and 1"
            )
    return ArffHeader(path, relation, tuple(attributes), label_indices, source, lineno)


def _picker(indices: list[int]) -> typing.Callable[[list[str]], typing.Sequence[str]]:
    """A fast function taking the items at ``indices`` out of a list (a slice when contiguous)."""
    if indices and indices == list(range(indices[0], indices[-1] + 1)):
        return operator.itemgetter(slice(indices[0], indices[-1] + 1))
    if len(indices) == 1:
        (only,) = indices
        return lambda items: (items[only],)
    if not indices:
        return lambda items: ()
    return operator.itemgetter(*indices)


class _RowParser:
    """Turns the data lines of one file into instances.

    The fast methods handle unquoted rows with C-level building blocks. On any surprise (a quote,
    a '?', a bad token) they hand the line to the careful methods, which handle everything and
    raise the precise error.
    """

    def __init__(self, header: ArffHeader):
        self.path = header.path
        attributes = header.attributes
        self.n_attributes = len(attributes)
        label_set = set(header.label_indices)
        self.feature_indices = [i for i in range(len(attributes)) if i not in label_set]
        self.label_names = [attributes[i].name for i in header.label_indices]
        self.feature_names = [attributes[i].name for i in self.feature_indices]
        self.is_label = [i in label_set for i in range(len(attributes))]
        self.names = [a.name for a in attributes]
        # Per feature: the nominal value -> float index mapping, or None for numeric ones.
        self.codes = [
            {v: float(k) for k, v in enumerate(a.values)} if a.kind == "nominal" and not self.is_label[i] else None
            for i, a in enumerate(attributes)
        ]
        self.label_defaults = {attributes[i].name: _sparse_default(attributes[i]) for i in header.label_indices}
        self.label_name_set = set(self.label_names)
        self.sparse_names = {str(i): name for i, name in enumerate(self.names)}
        self.pick_features = _picker(self.feature_indices)
        self.pick_labels = _picker(list(header.label_indices))
        # Converting a feature token: float, or the nominal code's lookup. When every feature
        # converts alike (all numeric, or the {0,1} word-presence nominals of text sets) one map
        # does it; mixed files pair each token with its column's converter.
        feature_codes = [self.codes[i] for i in self.feature_indices]
        self.numeric = all(code is None for code in feature_codes)
        # Sparse label values go through the same converter, so a shared nominal code must read
        # "0" and "1" as float() does.
        shared = feature_codes[0]
        self.uniform = self.numeric or (
            all(code == shared for code in feature_codes) and shared.get("0") == 0.0 and shared.get("1") == 1.0
        )
        if self.uniform:
            convert = float if self.numeric else shared.__getitem__
            self.convert_dense = functools.partial(map, convert)
            self.convert_sparse = lambda indices, tokens: map(convert, tokens)
        else:
            converters = [float if code is None else code.__getitem__ for code in feature_codes]
            by_index = {str(i): c for i, c in zip(self.feature_indices, converters)}
            by_index.update((str(i), float) for i in header.label_indices)
            self.convert_dense = functools.partial(map, operator.call, converters)
            self.convert_sparse = lambda indices, tokens: map(operator.call, map(by_index.__getitem__, indices), tokens)

    def parse(self, line: str, lineno: int) -> Instance:
        if "'" not in line and '"' not in line:
            try:
                if line[0] == "{":
                    return self._sparse_fast(line)
                return self._dense_fast(line)
            except (ValueError, KeyError, IndexError, TypeError):
                pass  # the careful path below finds the exact reason, or handles '?'
        try:
            if line[0] == "{":
                return self._sparse(line, lineno)
            return self._dense(line, lineno)
        except ArffError:
            raise
        except ValueError as error:  # from splitting quoted text
            raise ArffError(self.path, lineno, str(error)) from None

    def _dense_fast(self, line: str) -> Instance:
        # JSON's true/false would pass for numbers; no number contains a 't' or an 'l'.
        if self.numeric and "t" not in line and "l" not in line:
            return self._dense_numbers(line)
        tokens = line.split(",")
        if len(tokens) != self.n_attributes:
            raise ValueError
        if " " in line or "\t" in line:
            tokens = list(map(str.strip, tokens))
        x = dict(zip(self.feature_names, self.convert_dense(self.pick_features(tokens))))
        y = dict(zip(self.label_names, map(_LABEL_TOKENS.__getitem__, self.pick_labels(tokens))))
        return x, y

    def _dense_numbers(self, line: str) -> Instance:
        # A dense row of numbers is a JSON array without its brackets, and orjson parses numbers
        # several times faster than float() on each token: parsing is most of a dense row's cost.
        values = orjson.loads("[" + line + "]")
        if len(values) != self.n_attributes:
            raise ValueError
        x = dict(zip(self.feature_names, map(float, self.pick_features(values))))
        y = dict(zip(self.label_names, map(_LABEL_NUMBERS.__getitem__, self.pick_labels(values))))
        return x, y

    def _sparse_fast(self, line: str) -> Instance:
        if line[-1] != "}":
            raise ValueError
        tokens = line[1:-1].replace(",", " ").split()
        indices, values = tokens[0::2], tokens[1::2]
        names = map(self.sparse_names.__getitem__, indices)
        # Labels go through the feature converter too, then leave x; their 0.0/1.0 become bools.
        # Binary rows (bag-of-words: every value 1) need no conversion.
        all_ones = self.uniform and values.count("1") == len(values)
        x = dict.fromkeys(names, 1.0) if all_ones else dict(zip(names, self.convert_sparse(indices, values)))
        if len(tokens) % 2 or len(x) != len(indices):
            raise ValueError  # a dangling token or a repeated index
        y = self.label_defaults.copy()
        for name in self.label_name_set.intersection(x):
            y[name] = _LABEL_NUMBERS[x.pop(name)]
        if not all_ones and 0.0 in x.values():
            x = {name: value for name, value in x.items() if value}
        return x, y

    def _value(self, index: int, token: str | None, lineno: int) -> typing.Any:
        """The converted value of one token (``None`` for a missing feature)."""
        name = self.names[index]
        if self.is_label[index]:
            if token is None:
                raise ArffError(self.path, lineno, f"missing value '?' in label {name!r}")
            return _label_value(token, name, self.path, lineno)
        if token is None:
            return None
        code = self.codes[index]
        if code is None:
            try:
                return float(token)
            except ValueError:
                raise ArffError(self.path, lineno, f"bad number {token!r} for feature {name!r}") from None
        if token not in code:
            raise ArffError(
                self.path, lineno, f"unknown value {token!r} for nominal feature {name!r}, expected one of {list(code)}"
            )
        return code[token]

    def _dense(self, line: str, lineno: int) -> Instance:
        if "'" in line or '"' in line:
            tokens = _split_values(line)
        else:
            tokens = [None if t == "?" else t for t in map(str.strip, line.split(","))]
        if len(tokens) != self.n_attributes:
            raise ArffError(
                self.path, lineno, f"row has {len(tokens)} values, the header declares {self.n_attributes} attributes"
            )
        x: dict[str, float] = {}
        y: dict[str, bool] = {}
        for index, token in enumerate(tokens):
            value = self._value(index, token, lineno)
            if self.is_label[index]:
                y[self.names[index]] = value
            elif value is not None:
                x[self.names[index]] = value
        return x, y

    def _sparse(self, line: str, lineno: int) -> Instance:
        if not line.endswith("}"):
            raise ArffError(self.path, lineno, "sparse row does not end with '}'")
        body = line[1:-1].strip()
        values: dict[int, typing.Any] = {}
        for entry in _split_values(body) if body else []:
            if entry is None:
                raise ArffError(self.path, lineno, "sparse entry '?' has no index")
            index_text, _, token = entry.replace("\t", " ").partition(" ")
            token = token.strip()
            if token[:1] in _QUOTES:
                token, _ = _read_quoted(token, 0)
            elif token == "?":
                token = None
            elif not token:
                raise ArffError(self.path, lineno, f"sparse entry {entry!r} is not 'index value'")
            try:
                index = int(index_text)
            except ValueError:
                raise ArffError(self.path, lineno, f"bad sparse index {index_text!r}") from None
            if not 0 <= index < self.n_attributes:
                raise ArffError(
                    self.path, lineno, f"sparse index {index} out of range (0..{self.n_attributes - 1})"
                )
            if index in values:
                raise ArffError(self.path, lineno, f"sparse index {index} appears twice")
            values[index] = self._value(index, token, lineno)
        y = self.label_defaults.copy()
        x: dict[str, float] = {}
        for index in sorted(values):
            value = values[index]
            if self.is_label[index]:
                y[self.names[index]] = value
            elif value:  # absent means 0, so an explicit 0 (or a missing value) is left out too
                x[self.names[index]] = value
        return x, y


def _sparse_default(attribute: Attribute) -> bool:
    """The value of a label a sparse row leaves out: Weka's nominal index 0."""
    if attribute.kind == "nominal" and attribute.values:
        return _LABEL_TOKENS[attribute.values[0]]
    return False


def _label_value(token: str, name: str, path: pathlib.Path, lineno: int) -> bool:
    if token in _LABEL_TOKENS:
        return _LABEL_TOKENS[token]
    try:
        return _LABEL_NUMBERS[float(token)]
    except (ValueError, KeyError):
        raise ArffError(path, lineno, f"unknown value {token!r} for label {name!r}, expected 0 or 1") from None


def iter_instances(header: ArffHeader) -> typing.Iterator[Instance]:
    """Yield ``(x, y)`` for every data row of the file ``header`` was read from.

    Each call opens the file again, so the same header serves any number of passes.
    """
    parse = _RowParser(header).parse
    for lineno, line in _lines(header.path, header.data_line):
        if line and line[0] != "%":
            yield parse(line, lineno)


def iter_arff(path: str | os.PathLike, labels: int | None = None) -> typing.Iterator[Instance]:
    """Yield ``(x, y)`` for every data row of a multi-label ARFF file, lazily.

    Parameters
    ----------
    path
        An ``.arff`` file, gzip-compressed or not.
    labels
        Number of labels, see :func:`read_header`.

    """
    return iter_instances(read_header(path, labels))
