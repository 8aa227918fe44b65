"""Drift monitoring beside the learners: detectors, the monitor, and the alert records it raises.

>>> from learners.drift import DriftMonitor, StreamPosition
>>> monitor = DriftMonitor(job="example")
>>> monitor.update({"x": 1.0}, {"a"}, {"learner": {"a": True}}, StreamPosition(0))
[]

"""

from learners.drift.alerts import ALERT_KINDS, ALERT_LEVELS, SEVERITIES, Alert, StreamPosition, event_id
from learners.drift.batch import Observation
from learners.drift.detectors import WindowShift
from learners.drift.lifecycle import LabelLifecycle
from learners.drift.monitor import DriftMonitor
from learners.drift.sketch import FeatureSketch

__all__ = [
    "ALERT_KINDS",
    "ALERT_LEVELS",
    "SEVERITIES",
    "Alert",
    "DriftMonitor",
    "FeatureSketch",
    "LabelLifecycle",
    "Observation",
    "StreamPosition",
    "WindowShift",
    "event_id",
]
