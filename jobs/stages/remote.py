"""The stages' Ray actor classes: the plain stage classes wrapped with ``ray.remote`` and nothing else."""

from __future__ import annotations

from jobs.stages.consumer import ConsumerStage
from jobs.stages.extractor import FeatureStage
from jobs.stages.learner import LearnerStage
from jobs.stages.publisher import PublisherStage


def remote_stages():
    """The Ray actor classes of the four stages (``ray`` is imported only here)."""
    import ray

    return (
        ray.remote(ConsumerStage),
        ray.remote(FeatureStage),
        ray.remote(LearnerStage),
        ray.remote(PublisherStage),
    )
