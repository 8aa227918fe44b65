"""The drift monitor beside an offline evaluation, and the ``events.jsonl`` file it writes.

:class:`DriftRecorder` is the ``observer`` of a :class:`learners.evaluate.Prequential`: it feeds
every scored instance, with what each learner predicted, to a
:class:`learners.drift.DriftMonitor` and keeps its alerts; :meth:`DriftRecorder.write` writes them
one JSON object per line, the same records as on the ``tagstream.drift`` topic with the instance
index as their position (no partition, offset or event time offline).
"""

from __future__ import annotations

import json
import pathlib
import typing

from learners.drift import Alert, DriftMonitor, StreamPosition

#: Instances between two looks at the learners' label clusters (``describe()["partition"]``).
CLUSTERS_EVERY = 500


def label_clusters(model) -> dict[str, str] | None:
    """Label -> cluster id of a learner that partitions its labels (iHOMER); ``None`` for others."""
    describe = getattr(model, "describe", None)
    if describe is None:
        return None
    partition = describe().get("partition")
    if not isinstance(partition, list):
        return None
    return {str(label): str(group.get("id")) for group in partition for label in group.get("labels", ())}


class DriftRecorder:
    """Runs a drift monitor over an evaluation's instances and collects its alerts.

    Parameters
    ----------
    monitor
        The monitor (its ``job`` names the evaluation in every event id).
    learners
        The learners under evaluation, by name: the first that partitions its labels gives the
        clusters alerts name, refreshed every :data:`CLUSTERS_EVERY` instances.

    """

    def __init__(self, monitor: DriftMonitor, learners: typing.Mapping[str, object] = ()):
        self.monitor = monitor
        self.learners = dict(learners)
        self.alerts: list[Alert] = []
        self._last = -1

    def __call__(self, index: int, x, y, predictions) -> None:
        if index % CLUSTERS_EVERY == 0:
            self._refresh_clusters()
        labels = {str(label): bool(on) for label, on in y.items()}
        predicted = {name: {str(label): bool(on) for label, on in p.items()} for name, p in predictions.items()}
        self.alerts += self.monitor.update(x, labels, predicted, StreamPosition(index), {name: index for name in predictions})
        self._last = index

    def _refresh_clusters(self) -> None:
        for model in self.learners.values():
            clusters = label_clusters(model)
            if clusters:
                self.monitor.set_clusters(clusters)
                return

    def finish(self) -> list[Alert]:
        """Raise what the monitor is still gathering at the end of the stream; return every alert."""
        if self._last >= 0:
            self.alerts += self.monitor.flush(StreamPosition(self._last))
        return self.alerts

    def write(self, path: pathlib.Path) -> pathlib.Path:
        """Write the alerts to ``path``, one JSON object per line, in stream order."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for alert in self.alerts:
                out.write(json.dumps(alert.to_dict(), sort_keys=True) + "\n")
        return path
