"""Waiting on the actors within the job's deadline (``ray_timeout_s``)."""

from __future__ import annotations

import time

import ray


class PipelineTimeout(TimeoutError):
    """A wait on an actor took longer than ``ray_timeout_s``."""


def get_within(refs, timeout_s: float, what: str):
    """``ray.get`` of ``refs``; :class:`PipelineTimeout` naming ``what`` when it takes longer than ``timeout_s``."""
    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise PipelineTimeout(f"{what} took longer than {timeout_s} s") from None


def answer_within(method, deadline: float):
    """Call an actor method, waiting out a restart of the actor until ``deadline`` (``time.monotonic``)."""
    while True:
        try:
            return ray.get(method.remote(), timeout=max(0.1, deadline - time.monotonic()))
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        except ray.exceptions.GetTimeoutError:
            raise PipelineTimeout("an actor did not come back from a restart within the deadline") from None
