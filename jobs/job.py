"""The one path of a run, shared by ``tagstream run`` (:mod:`jobs.cli_run`) and the Ray job (:mod:`jobs.ray_job`).

config -> start-up checks (dataset, init model, ports held) -> broker and topics -> replay ->
Ray -> :func:`~jobs.pipeline.driver.run_pipeline` -> live page finished, incomplete replay
refused -> ``summary.json``. What differs between the two entry points is only what a
:class:`JobView` says: the embedded broker and the terminal views are ``run``'s, the log-line
progress and the report on stdout the Ray job's; how each turns a failure into an exit status
stays with it (:data:`FATAL_ERRORS`, :func:`failure_reason`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import typing
import uuid

import ray

from jobs.broker import BrokerError
from jobs.checkpoint import CheckpointError
from jobs.config import ConfigError, DatasetFields, JobConfig
from jobs.model_export import job_initial_model
from jobs.pipeline.driver import init_ray, run_pipeline
from jobs.pipeline.progress import Summary
from jobs.pipeline.recovery import RecoveryBudgetExceeded
from jobs.pipeline.waits import PipelineTimeout
from jobs.produce import dataset_records, jsonl_records, produce
from jobs.startup import Endpoints, check_dataset, check_stages, serve_endpoints
from jobs.telemetry import PipelineMetrics
from learners.model_file import ModelFileError
from stream.errors import StreamError
from stream.kafka import ensure_topics


class IncompleteRun(RuntimeError):
    """A bounded run ended (input went idle) before it consumed every replayed record."""


#: Errors that end a run with a one-line reason: what the operator must act on (configuration,
#: Kafka, checkpoints, the recovery budget, ports, files, a replay the run did not finish).
FATAL_ERRORS = (
    ConfigError,
    StreamError,
    BrokerError,
    PipelineTimeout,
    CheckpointError,
    RecoveryBudgetExceeded,
    ModelFileError,
    IncompleteRun,
    OSError,
)


def failure_reason(error: BaseException) -> str:
    """The reason a run failed, on one line.

    An actor's error comes wrapped with its remote traceback: its own message only. A message
    that quotes another error over several lines (the recovery budget names the last actor
    failure, whose text lists the actor's id, pid, node ...) keeps its first line.

    Examples
    --------
    >>> failure_reason(RecoveryBudgetExceeded("2 actor failures; the last: The actor died.\\n\\tpid: 7"))
    '2 actor failures; the last: The actor died.'
    """
    reason = error.cause if isinstance(error, ray.exceptions.RayTaskError) else error
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else type(reason).__name__


def records_of(dataset: str, fields: DatasetFields | None = None):
    """The records of a registered dataset, an ARFF file, or a JSON Lines file (``.jsonl[.gz]``).

    A JSONL file is read as input records unless ``fields`` renames the text, labels or id field:
    then it is a text dataset read with those names.
    """
    if fields is not None and fields.renamed:
        return dataset_records(dataset, text_fields=fields.text_fields())
    if dataset.endswith((".jsonl", ".jsonl.gz")):
        return jsonl_records(dataset)
    return dataset_records(dataset)


class JobView:
    """What an entry point shows of a run, and what it adds to it; the defaults add nothing.

    ``port_settings`` names, for ``"metrics_port"`` and ``"dashboard_port"``, how its user changes
    each port (see :func:`jobs.startup.serve_endpoints`). ``quiet_ray`` keeps Ray's warnings and
    the actors' output out of this process's stderr.
    """

    port_settings: typing.ClassVar[dict[str, str]] = {"metrics_port": "metrics_port", "dashboard_port": "dashboard_port"}
    quiet_ray: bool = False

    def serving(self, endpoints: Endpoints) -> None:
        """The metrics endpoint and the live page listen (held until the run ends)."""

    def broker(self, config: JobConfig, stack: contextlib.ExitStack) -> JobConfig:
        """The config with the broker the run uses; a broker started here is closed by ``stack``."""
        return config

    def replaying(self, config: JobConfig) -> None:
        """A replay of the input topic starts, into ``config``'s (replay) output topics."""

    def replayed(self, config: JobConfig, records: int) -> None:
        """``records`` records of ``config.dataset`` went into the input topic."""

    def ray_started(self) -> None:
        """This run started a local Ray (which installs its own SIGTERM handler: put back yours)."""

    def starting(self, config: JobConfig, endpoints: Endpoints, expected: int | None) -> None:
        """The pipeline starts (``expected``: the messages a bounded replay waits for, if known)."""

    @contextlib.contextmanager
    def progress(self, config: JobConfig, metrics: PipelineMetrics) -> typing.Iterator[typing.Callable | None]:
        """The run's ``on_progress`` (see :func:`~jobs.pipeline.driver.run_pipeline`), open while it runs."""
        yield None


def run_with_view(
    config: JobConfig, view: JobView, stop: threading.Event | None = None, label_delay: int | None = None
) -> Summary:
    """Run ``config`` from start-up checks to ``summary.json``; returns the summary.

    The stage names, the dataset, the model file to start from and the ports (then held) are checked before a
    broker, topics, a replay or Ray. A bounded replay that ends before its records were all
    consumed (input idle for ``idle_timeout_s``) raises :class:`IncompleteRun`. ``label_delay``
    replays the labels to the labels topic that many records after their features.
    """
    with contextlib.ExitStack() as stack:
        check_stages(config)
        if config.dataset is not None and not config.replaying:
            check_dataset(records_of(config.dataset, config.dataset_fields))
        job_initial_model(config)  # a model file that does not fit is refused before the replay
        metrics = PipelineMetrics(config.window)
        endpoints = serve_endpoints(config, metrics, stack, settings=view.port_settings)
        view.serving(endpoints)
        config = view.broker(config, stack)
        ensure_topics(config.kafka)
        expected = None
        if config.replaying:
            config = config.for_replay(uuid.uuid4().hex[:8])
            outputs = config.kafka.topics
            ensure_topics(config.kafka, [outputs.predictions, outputs.drift, outputs.model_events])
            view.replaying(config)
        elif config.dataset is not None:
            records = records_of(config.dataset, config.dataset_fields)
            produced = produce(config.kafka, records, limit=config.limit, label_delay=label_delay)
            expected = produced.records + (produced.label_updates if config.labels_topic else 0)
            view.replayed(config, produced.records)
        if init_ray(config, quiet=view.quiet_ray):
            stack.callback(ray.shutdown)
            view.ray_started()
        view.starting(config, endpoints, expected)
        with view.progress(config, metrics) as on_progress:
            summary = run_pipeline(
                config,
                expected=expected,
                stop=stop,
                metrics=metrics,
                on_progress=on_progress,
                on_batch=endpoints.page.state.observe_batch,
                on_alerts=endpoints.page.state.observe_alerts,
            )
        endpoints.page.state.finish(summary)
        stopped = stop is not None and stop.is_set()
        if expected is not None and summary.records_in < expected and not stopped:
            raise IncompleteRun(
                f"the run consumed {summary.records_in} of the {expected} replayed messages before its input went "
                f"idle for {config.idle_timeout_s} s (idle_timeout_s)"
            )
    if config.out_dir is not None:
        config.out_dir.mkdir(parents=True, exist_ok=True)
        (config.out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    return summary
