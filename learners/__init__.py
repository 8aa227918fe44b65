"""Pure online multi-label learners, drift detection, label partitioning and metrics.

Nothing in this package does I/O, starts threads, or imports Kafka or Ray: a learner is a plain
Python object that can be used, tested and pickled on its own.
"""

from learners.base import DriftEvent, MultiLabelClassifier, as_label_dict

__all__ = ["DriftEvent", "MultiLabelClassifier", "as_label_dict"]
