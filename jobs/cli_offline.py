"""Offline commands: ``tagstream datasets``, ``learners``, ``evaluate`` and ``inspect``.

They run learners over dataset files in this process, with the prequential evaluator of
:mod:`learners.evaluate`. Mistakes in what the user typed (an unknown dataset or learner, a file
that does not exist) end with a one-line message and exit code 2; a file that cannot be read as a
multi-label dataset ends with exit code 1. Neither prints a traceback.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import pathlib
import typing

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobs.cli_console import errors, print_error, print_wide
from jobs.cli_options import Dataset, IdField, InitModel, LabelsField, Seed, TextField, Verbose
from jobs.html_report import write_html_report
from jobs.drift_events import DriftRecorder
from jobs.logging_setup import setup_logging
from jobs.model_export import initial_model
from jobs.report import HEADLINE, DatasetSummary, readable_bytes, write_report
from learners import registry
from learners.model_file import ModelFileError
from learners.drift import DriftMonitor
from learners.evaluate import LearnerResult, Prequential, shuffled
from stream.datasets import DATASETS, bundled_dir, data_dir, open_dataset
from stream.synthetic import SYNTHETIC, open_synthetic
from stream.text import TextDataset, TextFields
from stream.errors import ArffError, DatasetMissingError, StreamError, UnknownDatasetError

logger = logging.getLogger(__name__)

console = Console()

#: Exit codes: what the user typed is wrong / the data cannot be used.
USAGE_ERROR = 2
DATA_ERROR = 1

#: Snapshots taken over a stream when ``--report-every`` is not given.
DEFAULT_SNAPSHOTS = 50

LabelsOption = typing.Annotated[
    int | None, typer.Option(min=1, help="Number of label columns, for ARFF files that do not declare them.")
]
LimitOption = typing.Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N instances.")]
OutOption = typing.Annotated[
    pathlib.Path | None, typer.Option(help="Folder for the output files (default: out/<dataset>).")
]
EmbeddingCacheOption = typing.Annotated[
    pathlib.Path | None,
    typer.Option(help="Text datasets: folder of the embedding cache (default: $TAGSTREAM_CACHE_DIR/embeddings or ~/.cache/tagstream/embeddings)."),
]
NoCacheOption = typing.Annotated[bool, typer.Option("--no-embedding-cache", help="Text datasets: embed every text, read and write no cache.")]


class UsageError(Exception):
    """Something the user typed cannot be used."""


@contextlib.contextmanager
def _errors_to_exit():
    try:
        yield
    except (UsageError, registry.UnknownLearnerError, UnknownDatasetError, DatasetMissingError) as error:
        print_error(str(error))
        raise typer.Exit(USAGE_ERROR) from None
    except StreamError as error:
        print_error(str(error))
        raise typer.Exit(DATA_ERROR) from None
    except KeyboardInterrupt:
        errors.print("interrupted; nothing written")
        raise typer.Exit(130) from None


def _open(dataset: str, labels: int | None, fields: TextFields = TextFields(), cache=None, limit: int | None = None):
    """Open ``dataset``; a text dataset is embedded (through the cache ``cache``, a folder or ``None``)."""
    from jobs.embedding_cache import embedded_dataset

    try:
        data = open_dataset(dataset, labels=labels, text_fields=fields)
        return embedded_dataset(data, cache, limit=limit) if isinstance(data, TextDataset) else data
    except ArffError as error:
        if labels is None and error.line is None:
            raise ArffError(error.file, None, f"{error.reason} (on the command line: --labels N)") from None
        raise


def dataset_available(info) -> bool:
    folder = bundled_dir() if info.bundled else data_dir()
    return (folder / info.file).is_file()


def datasets_command() -> None:
    """List the registered datasets with their shapes, and whether their file is here."""
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "instances", "features", "labels", "cardinality", "format", "file"):
        table.add_column(column, justify="right" if column in ("instances", "features", "labels", "cardinality") else "left")
    for name, info in sorted(DATASETS.items()):
        if info.bundled:
            where = "[green]bundled[/green]"
        elif dataset_available(info):
            where = "[green]available[/green]"
        else:
            where = "[red]missing[/red]"
        table.add_row(
            name,
            f"{info.n_instances:,}",
            f"{info.n_features:,}",
            f"{info.n_labels:,}",
            f"{info.cardinality:.3f}",
            "text" if info.kind == "text" else "sparse" if info.sparse else "dense",
            where,
        )
    synthetic = open_synthetic()
    table.add_row(
        SYNTHETIC, f"{synthetic.n_instances:,}", f"{synthetic.n_features:,}", f"{synthetic.n_labels:,}", "–", "generated",
        "[green]built in[/green]: synthetic:kind=...,at=...,seed=... (see README, Datasets)",
    )
    print_wide(console, table)
    console.print(f"shared datasets folder: {data_dir()} (set TAGSTREAM_DATA_DIR to change it)", highlight=False, soft_wrap=True)


def learners_command() -> None:
    """List the registered learners: name, family and description, one per line."""
    width = max(map(len, registry.LEARNERS))
    family_width = max(len(entry.family) for entry in registry.LEARNERS.values())
    for name, entry in registry.LEARNERS.items():
        console.print(f"{name:<{width}}  {entry.family:<{family_width}}  {entry.description}", highlight=False, soft_wrap=True)


RESULT_HEADERS = {
    "subset_accuracy": "subset\naccuracy",
    "hamming_loss": "Hamming\nloss",
    "example_f1": "example\nF1",
    "micro_f1": "micro\nF1",
    "macro_f1": "macro\nF1",
}


def results_table(results: typing.Mapping[str, LearnerResult], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("learner", no_wrap=True)
    for score in HEADLINE:
        table.add_column(RESULT_HEADERS[score], justify="right", no_wrap=True)
    for column in ("instances/s", "model\nsize", "seconds", "drift\nevents"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, result in results.items():
        table.add_row(
            name,
            *(f"{result.cumulative[score]:.4f}" for score in HEADLINE),
            f"{result.instances_per_s:,.0f}",
            readable_bytes(result.model_bytes),
            f"{result.seconds:.2f}",
            str(len(result.events)),
        )
    return table


def _stream_with_progress(dataset, limit: int | None, shuffle: int | None, progress: Progress, task) -> typing.Iterator:
    stream = dataset if shuffle is None else shuffled(dataset, shuffle)
    stream = stream if limit is None else itertools.islice(stream, limit)
    for instance in stream:
        yield instance
        progress.advance(task)


def _evaluate(dataset, learners: dict, limit, label_delay, report_every, window, shuffle=None, observer=None) -> dict[str, LearnerResult]:
    """Run the evaluation with a progress bar on stderr (``observer``: see :class:`~learners.evaluate.Prequential`)."""
    known = [n for n in (dataset.n_instances, limit) if n is not None]
    total = min(known) if known else None
    if report_every is None:
        report_every = max(1, (total or 1000) // DEFAULT_SNAPSHOTS)
    evaluation = Prequential(learners, label_delay=label_delay, report_every=report_every, window=window, observer=observer)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
    with Progress(*columns, console=errors, transient=True) as progress:
        names = ", ".join(learners) if len(learners) <= 3 else f"{len(learners)} learners"
        task = progress.add_task(f"{dataset.name} × {names}", total=total, rate="")
        for checkpoint in evaluation.iterate(_stream_with_progress(dataset, limit, shuffle, progress, task)):
            slowest = min(snapshot.instances_per_s for snapshot in checkpoint.snapshots.values())
            progress.update(task, rate=f"slowest {slowest:,.0f} inst/s")
            logger.info("checkpoint", extra={"dataset": dataset.name, "scored": checkpoint.scored})
    return evaluation.results()


def _out_dir(out: pathlib.Path | None, dataset) -> pathlib.Path:
    return out if out is not None else pathlib.Path("out") / dataset.name


def _summary(dataset, results: typing.Mapping[str, LearnerResult]) -> DatasetSummary:
    instances = next(iter(results.values())).instances
    return DatasetSummary(name=dataset.name, instances=instances, features=dataset.n_features, labels=dataset.n_labels)


def evaluate_command(
    dataset: Dataset,
    learner: typing.Annotated[
        str, typer.Option("--learner", "-l", help="Comma-separated learner names (see `tagstream learners`), or `all`.")
    ],
    labels: LabelsOption = None,
    limit: LimitOption = None,
    seed: Seed = 1,
    label_delay: typing.Annotated[int, typer.Option(min=0, help="Labels arrive K instances after their instance.")] = 0,
    report_every: typing.Annotated[
        int | None, typer.Option(min=1, help=f"Snapshot every N instances (default: {DEFAULT_SNAPSHOTS} snapshots over the stream).")
    ] = None,
    window: typing.Annotated[int, typer.Option(min=1, help="Sliding window of the windowed scores, in instances.")] = 500,
    shuffle: typing.Annotated[
        int | None, typer.Option(min=0, metavar="SEED", help="Stream a permutation of the dataset drawn with SEED (default: file order).")
    ] = None,
    init_model: InitModel = None,
    report: typing.Annotated[
        pathlib.Path | None, typer.Option(help="Also write a self-contained HTML report (plots and results table) here.")
    ] = None,
    out: OutOption = None,
    text_field: TextField = "text",
    labels_field: LabelsField = "labels",
    id_field: IdField = "id",
    embedding_cache: EmbeddingCacheOption = None,
    no_embedding_cache: NoCacheOption = False,
    verbose: Verbose = False,
) -> None:
    """Prequential (test-then-train) evaluation of learners side by side on a dataset stream.

    Text datasets (JSON Lines of ``{id, text, labels}``) are embedded with the pipeline's text
    extractor; the embeddings are cached on disk by model and text, so a second run does not
    embed again.
    """
    setup_logging(verbose)
    with _errors_to_exit():
        names = registry.expand(learner)
        if not names:
            raise UsageError(f"no learner given; choose from: {', '.join(registry.LEARNERS)}, or all")
        fields = TextFields(text=text_field, labels=labels_field, id=id_field)
        cache = None if no_embedding_cache else (embedding_cache or _default_cache_dir())
        data = _open(dataset, labels, fields, cache, limit)
        learners = {name: registry.make(name, seed=seed) for name in names}
        if init_model is not None:
            learners.update(_initial_learner(init_model, names, data))
        drift = DriftRecorder(DriftMonitor(job=f"evaluate:{data.name}"), learners)
        results = _evaluate(data, learners, limit, label_delay, report_every, window, shuffle, observer=drift)
    summary = _summary(data, results)
    title = f"{summary.name}: {summary.instances:,} instances, {summary.features} features, {summary.labels} labels"
    if label_delay:
        title += f", labels {label_delay} instances late"
    if shuffle is not None:
        title += f", shuffled with seed {shuffle}"
    print_wide(console, results_table(results, title))
    files = write_report(_out_dir(out, data), summary, results, window)
    console.print(f"wrote {files.results}, {files.curves} and {files.plot}", highlight=False, soft_wrap=True)
    drift.finish()
    events = drift.write(_out_dir(out, data) / "events.jsonl")
    console.print(f"wrote {events} ({len(drift.alerts)} drift alerts)", highlight=False, soft_wrap=True)
    if report is not None:
        write_html_report(report, summary, results, window)
        console.print(f"wrote {report}", highlight=False, soft_wrap=True)
    if hasattr(data, "embedder"):
        where = "no cache" if data.embedder.cache is None else f"cache {data.embedder.cache.path}"
        console.print(
            f"texts embedded: {data.embedder.embedded:,}, from the embedding cache: {data.embedder.cached:,} ({where})",
            highlight=False, soft_wrap=True,
        )


def _default_cache_dir() -> pathlib.Path:
    from jobs.embedding_cache import default_cache_dir

    return default_cache_dir()


def _initial_learner(path: pathlib.Path, names: list[str], data) -> dict:
    """The learner of ``--init-model``, checked against the learners and the dataset's label space."""
    try:
        initial = initial_model(path, names, [str(label) for label in data.label_names])
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    return {initial.learner: initial.model}


def _has_structure(learner) -> bool:
    return callable(getattr(learner, "describe", None)) and callable(getattr(learner, "render_text", None))


def inspect_command(
    dataset: Dataset,
    learner: typing.Annotated[str, typer.Option("--learner", "-l", help="Learner name (see `tagstream learners`).")] = "ihomer",
    labels: LabelsOption = None,
    limit: LimitOption = None,
    seed: Seed = 1,
    out: OutOption = None,
    verbose: Verbose = False,
) -> None:
    """Train a learner prequentially over a dataset, then print the structure it built."""
    setup_logging(verbose)
    with _errors_to_exit():
        if learner not in registry.LEARNERS:
            raise registry.UnknownLearnerError(learner)
        model = registry.make(learner, seed=seed)
        if not _has_structure(model):
            showable = [name for name in registry.LEARNERS if _has_structure(registry.make(name, seed=seed))]
            raise UsageError(
                f"learner {learner!r} cannot show its structure (it has no describe() and render_text()); "
                f"learners that can: {', '.join(showable) or 'none'}"
            )
        data = _open(dataset, labels)
        results = _evaluate(data, {learner: model}, limit, label_delay=0, report_every=None, window=500)
    summary = _summary(data, results)
    result = results[learner]
    console.print(model.render_text(), highlight=False, markup=False, soft_wrap=True)
    scores = ", ".join(f"{score} {result.cumulative[score]:.4f}" for score in HEADLINE)
    console.print(f"{learner} after {result.instances:,} instances of {summary.name}: {scores}", highlight=False, soft_wrap=True)
    out_dir = _out_dir(out, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "structure.json"
    path.write_text(json.dumps(model.describe(), indent=2) + "\n")
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the offline commands to the ``tagstream`` app."""
    app.command("datasets")(datasets_command)
    app.command("learners")(learners_command)
    app.command("evaluate")(evaluate_command)
    app.command("inspect")(inspect_command)
