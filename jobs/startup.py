"""Start-up checks of a run, made before anything has a side effect (a broker, topics, a replay, Ray).

``tagstream run`` and the Ray job (:mod:`jobs.ray_job`) validate their config (pydantic, learners
included), then call :func:`check_stages`, :func:`check_dataset` and :func:`serve_endpoints` here; only then do they
start a broker, create topics or replay records. A mistake is thus reported at once, with what to
change, instead of after a broker started and records were replayed.

The metrics endpoint and the live page are started (not only probed) here: a port that is free
when checked could be taken before it is bound, while a bound port stays this run's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import typing

from jobs import extractors, sinks
from jobs.config import ConfigError
from jobs.dashboard import LivePage, serve_live_page
from jobs.telemetry import PipelineMetrics


class PortTaken(OSError):
    """A component of the run cannot listen on its port; the message names the component and the setting."""


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """What :func:`serve_endpoints` started: where ``/metrics`` listens, and the live page."""

    metrics_host: str
    metrics_port: int
    page: LivePage

    @property
    def metrics_url(self) -> str:
        return f"http://{self.metrics_host}:{self.metrics_port}/metrics"


def check_stages(config) -> None:
    """The text extractor and the sinks ``config`` (a :class:`~jobs.config.JobConfig`) names are
    registered, and a built-in optional sink listed in ``sinks`` has its setting; else a
    :class:`~jobs.config.ConfigError` names the choices or the missing setting."""
    try:
        extractors.lookup(config.extractor.text_extractor)
        sinks.job_sinks(config)
    except (extractors.UnknownExtractorError, sinks.UnknownSinkError) as error:
        raise ConfigError(str(error)) from None
    if "predictions-file" in config.sinks and config.predictions_file is None:
        raise ConfigError("the predictions-file sink needs predictions_file (--predictions-file)")
    if "alertmanager" in config.sinks and config.drift.alertmanager_url is None:
        raise ConfigError("the alertmanager sink needs drift.alertmanager_url")


def check_dataset(records: typing.Iterable) -> None:
    """Open a dataset's records and read the first one, so that an unknown name, a missing file or a
    malformed header fails now (with the reader's own error, a :class:`~stream.errors.StreamError`)."""
    iterator = iter(records)
    try:
        next(iterator, None)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _port_taken(component: str, host: str, port: int, setting: str, error: OSError) -> PortTaken:
    # The live page re-raises the bind error with its address: the errno is on the cause.
    if error.errno is None and isinstance(error.__cause__, OSError):
        error = error.__cause__
    reason = "the address is already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
    return PortTaken(
        f"the {component} cannot listen on {host}:{port}: {reason}; choose another port with {setting} (0 picks a free one)",
    )


def serve_endpoints(config, metrics: PipelineMetrics, stack: contextlib.ExitStack, *, settings: dict[str, str]) -> Endpoints:
    """Serve ``/metrics`` and the live page of ``config`` (a :class:`~jobs.config.JobConfig`); both are
    closed by ``stack``.

    ``settings`` names, for ``"metrics_port"`` and ``"dashboard_port"``, how the user changes each
    port (``--metrics-port`` for the CLI, the config field and its variable for the Ray job): a taken
    port raises :class:`PortTaken` naming the component, the address and that setting.
    """
    try:
        port = metrics.serve(config.metrics_host, config.metrics_port)
    except OSError as error:
        raise _port_taken("metrics endpoint", config.metrics_host, config.metrics_port, settings["metrics_port"], error) from None
    stack.callback(metrics.close)
    try:
        page = stack.enter_context(serve_live_page(config, metrics))
    except OSError as error:
        raise _port_taken("live page", config.dashboard_host, config.dashboard_port, settings["dashboard_port"], error) from None
    return Endpoints(config.metrics_host, port, page)



@contextlib.contextmanager
def loopback_ray():
    """Make a local Ray started inside the block listen on 127.0.0.1 only.

    Ray binds its servers (GCS, raylet, workers) to the node's address, which it takes from the
    network interface unless told the machine is not part of a cluster; a Ray started by
    ``tagstream run`` for itself has no other node, so nothing outside the machine needs to reach
    it. (The switch is the one Ray reads on macOS and Windows; it is set back afterwards.)
    """
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
