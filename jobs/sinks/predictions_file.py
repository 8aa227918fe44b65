"""The ``predictions-file`` sink: the predictions appended to ``JobConfig.predictions_file``."""

from __future__ import annotations

from jobs.predictions_file import PredictionsFile
from jobs.sinks.registry import Published, SinkContext, register


@register("predictions-file", "The predictions appended to a JSON Lines file (predictions_file)")
class PredictionsFileSink:
    """Each batch's predictions appended and synced in :meth:`write` (see :mod:`jobs.predictions_file`)."""

    def __init__(self, context: SinkContext):
        if context.predictions_file is None:
            raise ValueError("the predictions-file sink needs predictions_file (--predictions-file)")
        self._file = PredictionsFile(context.predictions_file)

    def write(self, batch: Published) -> None:
        self._file.write(batch.predictions)

    def flush(self) -> None:
        """Written and synced by :meth:`write` already."""

    def close(self) -> None:
        self._file.close()
