"""A learner that kills its own process on a marked record, for the tests of a learner actor that dies
(and that takes its time on another mark, for the tests of a slow stage).

:func:`install` registers it as ``crash-on-mark``; the tests run it in every Ray worker through
Ray's ``worker_process_setup_hook`` (and in the driver, whose config validates learner names).
"""

from __future__ import annotations

import os
import time

from learners import registry
from learners.majority import MajorityLabelset

NAME = "crash-on-mark"

#: A record whose features hold this name (with a non-zero value) kills the learner actor.
MARK = "crash"

#: A record whose features hold this name makes the learner raise (a bug in a learner).
RAISE_MARK = "fail"

#: A record whose features hold this name makes the learner take that many seconds over it.
SLOW_MARK = "slow"


class CrashOnMark(MajorityLabelset):
    """The majority label set, except that learning a marked record ends the process (or raises)."""

    def learn_one(self, x, y):
        if x.get(MARK):
            os._exit(3)  # like a segfault or the OOM killer: no exception, no cleanup
        if x.get(RAISE_MARK):
            raise RuntimeError("this learner cannot learn a marked record")
        if x.get(SLOW_MARK):
            time.sleep(x[SLOW_MARK])
        super().learn_one(x, y)


def install() -> None:
    registry.LEARNERS[NAME] = registry.LearnerEntry(
        "Majority label set that kills its process on a marked record (tests)", "baseline", lambda seed: CrashOnMark(seed)
    )
