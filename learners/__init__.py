"""Pure online multi-label learners, drift detection, label partitioning and metrics.

Nothing in this package does I/O, starts threads, or imports Kafka or Ray: a learner is a plain
Python object that can be used, tested and pickled on its own. The one exception is
:func:`load`, which reads a model file written by ``tagstream export``
(:mod:`learners.model_file`)::

    import learners
    model = learners.load("model.pkl")      # the trained learner
    model.predict_one({"Att1": 0.1, ...})   # {label: bool}
"""

from learners.base import DriftEvent, MultiLabelClassifier, as_label_dict
from learners.model_file import load

__all__ = ["DriftEvent", "MultiLabelClassifier", "as_label_dict", "load"]
