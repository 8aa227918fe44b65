"""The dataflow's steps, one named function per stage: each sends a batch on as ``ObjectRef``s."""

from __future__ import annotations

from jobs.config import JobConfig
from jobs.stages.messages import PollInfo


def extract_features(extractors, batch_ref, info: PollInfo, config: JobConfig):
    """Send the batch through an extractor replica, unless it has nothing to do (numeric, unstandardised).

    ``extractors`` is the job's :class:`~jobs.extractor_pool.ExtractorPool`: it picks the replica.
    Skipping it saves a Ray call and a round of (de)serialising the whole batch.
    """
    if not info.texts and not config.extractor.standardize:
        return batch_ref
    return extractors.transform(batch_ref, info)


def predict_and_learn(learners: list, features_ref):
    """Every learner actor sees every record; returns their Scored parts and stats, as refs."""
    calls = [actor.process.options(num_returns=2).remote(features_ref) for actor, _ in learners]
    return [scored for scored, _ in calls], [stats for _, stats in calls]


def publish(publisher, scored_refs):
    """Fan in the learner actors' outputs; the ref resolves once everything is flushed."""
    return publisher.publish.remote(*scored_refs)


def commit(consumer, offsets):
    """Have ``consumer`` commit ``offsets`` (after flushing its dead letters); the ref resolves to the dead letters lost."""
    return consumer.commit.remote(offsets)
