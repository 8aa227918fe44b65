"""Where each setting of a :class:`~jobs.config.JobConfig` came from, and names that match no setting.

:meth:`JobConfig.load <jobs.config.JobConfig.load>` layers defaults, a file, ``TAGSTREAM_*``
variables and flags with pydantic-settings' own sources; this module keeps the user's view of
those layers: the line of the file, the variable or the flag behind every value
(:class:`Layers`), the messages of invalid values that name them (:meth:`Layers.describe`), and
the warnings about variables and file keys that match no setting, with the nearest valid name.
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import re
import tomllib
import typing

import pydantic
import yaml

#: ``TAGSTREAM_*`` variables that are not settings of a job but are read by tagstream elsewhere.
OTHER_VARIABLES = frozenset({"TAGSTREAM_CONFIG", "TAGSTREAM_DATA_DIR"})

Path = tuple[str, ...]


def setting_paths(model: type[pydantic.BaseModel], prefix: Path = ()) -> dict[Path, typing.Any]:
    """Every setting of ``model`` by its path, nested models included (``("kafka", "topics")``) with their leaves.

    >>> from jobs.config import ExtractorConfig
    >>> sorted(setting_paths(ExtractorConfig))[:2]
    [('batch_size',), ('device',)]

    """
    paths: dict[Path, typing.Any] = {}
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        paths[path] = field.annotation
        nested = model_of(field.annotation)
        if nested is not None:
            paths.update(setting_paths(nested, path))
    return paths


def model_of(annotation) -> type[pydantic.BaseModel] | None:
    """The pydantic model a setting holds (``kafka`` -> ``KafkaConfig``), or ``None`` for a plain value."""
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, pydantic.BaseModel)), None)


def variable_name(path: Path, prefix: str) -> str:
    """The environment variable of a setting: ``("kafka", "group_id")`` -> ``TAGSTREAM_KAFKA__GROUP_ID``."""
    return prefix + "__".join(path).upper()


def dotted(path: typing.Sequence) -> str:
    return ".".join(str(part) for part in path)


def nearest(name: str, valid: typing.Iterable[str]) -> str | None:
    """The valid name closest to a misspelt one, if any is close.

    >>> nearest("TAGSTREAM_BATCHSIZE", ["TAGSTREAM_BATCH_SIZE", "TAGSTREAM_SEED"])
    'TAGSTREAM_BATCH_SIZE'

    """
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def flatten(data: typing.Mapping, prefix: Path = ()) -> dict[Path, typing.Any]:
    """Leaf values of nested mappings by path; the mappings themselves are listed too."""
    out: dict[Path, typing.Any] = {}
    for key, value in data.items():
        path = (*prefix, str(key))
        out[path] = value
        if isinstance(value, typing.Mapping):
            out.update(flatten(value, path))
    return out


# -- the config file -------------------------------------------------------------------------------

_TOML_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_TOML_TABLE = re.compile(rf"^\[\[?\s*({_TOML_KEY}(?:\s*\.\s*{_TOML_KEY})*)\s*\]\]?")
_TOML_ASSIGNMENT = re.compile(rf"^({_TOML_KEY}(?:\s*\.\s*{_TOML_KEY})*)\s*=")


def _toml_key_parts(key: str) -> Path:
    return tuple(part.strip().strip("\"'") for part in re.findall(rf"{_TOML_KEY}", key))


def toml_key_lines(text: str) -> dict[Path, int]:
    """Line (1-based) of each key of a TOML document, by path; tables by their header line.

    >>> toml_key_lines('seed = 1\\n[kafka]\\n# comment\\ngroup_id = "g"\\n')
    {('seed',): 1, ('kafka',): 2, ('kafka', 'group_id'): 4}

    """
    lines: dict[Path, int] = {}
    table: Path = ()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if header := _TOML_TABLE.match(stripped):
            table = _toml_key_parts(header.group(1))
            lines.setdefault(table, number)
        elif assignment := _TOML_ASSIGNMENT.match(stripped):
            lines.setdefault((*table, *_toml_key_parts(assignment.group(1))), number)
    return lines


def yaml_key_lines(node: yaml.Node | None, prefix: Path = ()) -> dict[Path, int]:
    """Line (1-based) of each key of a composed YAML document, by path."""
    lines: dict[Path, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            lines.setdefault(path, key.start_mark.line + 1)
            lines.update({k: v for k, v in yaml_key_lines(value, path).items() if k not in lines})
    return lines


def file_key_lines(path: pathlib.Path) -> dict[Path, int]:
    """Check that ``path`` is a readable TOML or YAML mapping; the line of each of its keys.

    Raises :class:`ValueError` with a message naming the file when it is not.
    """
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ValueError(f"config file {path}: unknown format {suffix!r}; use .toml, .yaml or .yml")
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            tomllib.loads(text)
            return toml_key_lines(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"config file {path} cannot be parsed: {error}") from None
    if node is not None and not isinstance(node, yaml.MappingNode):
        raise ValueError(f"config file {path} must hold a mapping of settings, not a {node.tag.rsplit(':', 1)[-1]}")
    return yaml_key_lines(node)


# -- the layers ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Layers:
    """What each layer of a load set, to say where a value came from.

    Parameters
    ----------
    known
        Every setting path of the config class (:func:`setting_paths`).
    flags
        The flags given (a nested dict, as the file's), and the flag of each path
        (``flag_names``; default ``--`` and the setting's name with dashes).
    environ
        The environment, read for ``prefix`` variables.
    file, file_data, file_lines
        The config file, its settings and the line of each key.

    """

    known: dict[Path, typing.Any]
    prefix: str
    flags: dict = dataclasses.field(default_factory=dict)
    flag_names: typing.Mapping[str, str] = dataclasses.field(default_factory=dict)
    environ: typing.Mapping[str, str] = dataclasses.field(default_factory=dict)
    file: pathlib.Path | None = None
    file_data: dict = dataclasses.field(default_factory=dict)
    file_lines: dict[Path, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self._flags = flatten(self.flags)
        self._file = flatten(self.file_data)
        self._variables = {name.upper(): name for name in self.environ if name.upper().startswith(self.prefix)}

    def variable(self, path: Path) -> str | None:
        """The variable that set ``path`` (or a group above it, as JSON), as spelt in the environment."""
        for length in range(len(path), 0, -1):
            name = self._variables.get(variable_name(path[:length], self.prefix))
            if name is not None:
                return name
        return None

    def _file_line(self, path: Path) -> int | None:
        for length in range(len(path), 0, -1):
            if path[:length] in self.file_lines:
                return self.file_lines[path[:length]]
        return None

    def flag(self, path: Path) -> str:
        return self.flag_names.get(dotted(path), "--" + path[-1].replace("_", "-"))

    def origin(self, path: Path) -> str:
        """Where the value of ``path`` came from: a flag, a variable, ``file:line``, or ``default``."""
        if path in self._flags:
            return f"flag {self.flag(path)}"
        variable = self.variable(path)
        if variable is not None:
            return f"env {variable}"
        if path in self._file:
            line = self._file_line(path)
            return f"file {self.file}" + (f":{line}" if line else "")
        return "default"

    def unknown_variables(self) -> dict[str, str]:
        """``prefix`` variables that name no setting, each with a warning naming the nearest valid one."""
        valid = {variable_name(path, self.prefix) for path in self.known} | OTHER_VARIABLES
        warnings = {}
        for upper, name in sorted(self._variables.items()):
            if upper not in valid:
                # Compared without the prefix that every name shares, which would make any two look alike.
                suggestion = nearest(upper.removeprefix(self.prefix), [v.removeprefix(self.prefix) for v in valid])
                hint = f"; did you mean {self.prefix}{suggestion}?" if suggestion else ""
                warnings[name] = f"environment variable {name} is not a tagstream setting and is ignored{hint}"
        return warnings

    def drop_unknown_file_keys(self) -> list[str]:
        """Remove the file's keys that name no setting from ``file_data``; a warning for each, in file order."""
        warnings: list[tuple[int, str]] = []

        def walk(data: dict, prefix: Path) -> None:
            for key in list(data):
                path = (*prefix, str(key))
                if path not in self.known:
                    siblings = [p[-1] for p in self.known if p[:-1] == prefix]
                    suggestion = nearest(str(key), siblings)
                    hint = f"; did you mean {dotted((*prefix, suggestion))}?" if suggestion else ""
                    line = self._file_line(path)
                    where = f"{self.file}" + (f", line {line}" if line else "")
                    warnings.append((line or 0, f"config file {where}: {dotted(path)} is not a tagstream setting and is ignored{hint}"))
                    del data[key]
                elif isinstance(data[key], dict) and model_of(self.known[path]) is not None:
                    walk(data[key], path)

        walk(self.file_data, ())
        self._file = flatten(self.file_data)
        return [warning for _, warning in sorted(warnings)]

    def describe(self, error: pydantic.ValidationError, secret: typing.Callable[[Path], bool]) -> str:
        """The validation errors, one a line, each naming the flag, variable or file line that set the value."""
        lines = []
        for item in error.errors():
            path = tuple(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            shown = "'**********'" if secret(path) else repr(item["input"])
            if isinstance(item["input"], dict):
                shown = "{...}"  # a section's own check gets the whole section, secrets included: never shown
            origin = self.origin(path) if path else "default"
            name = dotted(path) or "settings"
            if origin.startswith("flag "):
                lines.append(f"{origin[5:]} {shown} ({name}): {message}")
            elif origin.startswith("env "):
                lines.append(f"{self.variable(path)}={shown} ({name}): {message}")
            elif origin.startswith("file "):
                line = self._file_line(path)
                where = f"{self.file}, line {line}" if line else f"{self.file}"
                lines.append(f"{where}: {name} = {shown}: {message}")
            else:
                lines.append(f"{name}: {message}")
        return "\n".join(f"  {line}" for line in lines)
