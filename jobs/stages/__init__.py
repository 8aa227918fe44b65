"""The pipeline's stages as plain classes, and their Ray actor shells.

Each stage is an ordinary object, tested without Ray; :func:`jobs.stages.remote.remote_stages`
wraps them with ``ray.remote`` and nothing else. Micro-batches (:mod:`jobs.stages.messages`) flow
between them:

* :class:`~jobs.stages.consumer.ConsumerStage` polls a micro-batch of messages, parses them,
  dead-letters the bad ones and returns a ``Batch`` plus a small ``PollInfo``; it commits offsets
  when told.
* :class:`~jobs.stages.extractor.FeatureStage` embeds text records and optionally standardises
  numeric ones.
* :class:`~jobs.stages.learner.LearnerStage` holds one or more learners; for each record in order
  every learner predicts, then learns. It returns the predictions (``Scored``) and small stats.
  A learner split over shards (``--shards``) keeps its head there and its hosts in
  :class:`~jobs.stages.shard.ShardStage` actors (:mod:`jobs.stages.learner_calls` says how the
  stage calls a learner held whole or sharded).
* :class:`~jobs.stages.publisher.PublisherStage` publishes the serving learner's predictions and
  the drift alerts, flushes, and only then returns its acknowledgement.

The stages that checkpoint share :class:`~jobs.stages.base.Restartable`. Which learners share a
learner actor is decided by the pipeline (:mod:`jobs.pipeline`), not by the learners.
"""
