"""The streaming pipeline on Ray: input topic -> parse -> features -> predict + learn -> publish -> commit.

:func:`jobs.pipeline.driver.run_pipeline` is the dataflow, one named step per stage
(:mod:`jobs.pipeline.steps`). Payloads travel between the actors of :mod:`jobs.stages` as
``ObjectRef``s; the driver only reads each batch's small :class:`~jobs.stages.messages.PollInfo`,
acknowledgement and stats. The driver's bookkeeping is split by job:

* :mod:`jobs.pipeline.lifecycle` starts, restores, restarts, rewinds and stops the stages' actors;
* :mod:`jobs.pipeline.in_flight` bounds the batches between poll and commit and commits them in order;
* :mod:`jobs.pipeline.progress` keeps the run's summary, clocks, stop conditions and progress reports;
* :mod:`jobs.pipeline.recovery` budgets recoveries and isolates and quarantines the records an actor died on;
* :mod:`jobs.pipeline.checkpointing` schedules the checkpoints every stage writes together.

Every wait takes ``config.ray_timeout_s`` and raises :class:`~jobs.pipeline.waits.PipelineTimeout`
when it expires.
"""
