"""Where the publisher writes: sinks chosen by name (:mod:`jobs.sinks.registry`), one module each.

Built in: ``topics`` (always), ``predictions-file`` (when ``predictions_file`` is set) and
``alertmanager`` (when ``drift.alertmanager_url`` is set); ``JobConfig.sinks`` adds others.
"""

from jobs.sinks import topics, predictions_file, alertmanager  # noqa: F401, I001  (they register themselves, topics first)
from jobs.catalogue import Entry
from jobs.sinks.registry import SINKS, Published, Sink, SinkContext, UnknownSinkError, register, resolve

__all__ = [
    "SINKS", "Published", "Sink", "SinkContext", "UnknownSinkError",
    "default_names", "job_sinks", "register", "resolve",
]


def default_names(predictions_file: object | None, alertmanager_url: str | None) -> list[str]:
    """``topics``, then ``predictions-file`` and ``alertmanager`` when their setting is given.

    >>> default_names(None, "http://alertmanager:9093")
    ['topics', 'alertmanager']

    """
    names = ["topics"]
    if predictions_file is not None:
        names.append("predictions-file")
    if alertmanager_url is not None:
        names.append("alertmanager")
    return names


def job_sinks(config) -> list[Entry]:
    """The sinks of a :class:`~jobs.config.JobConfig`, resolved: :func:`default_names`, then
    ``config.sinks`` (each once). An unknown name raises :class:`UnknownSinkError` naming the choices."""
    names = default_names(config.predictions_file, config.drift.alertmanager_url)
    return resolve(names + [name for name in dict.fromkeys(config.sinks) if name not in names])
