"""The suite's own scheduling (tests/conftest.py): modules with a slow test are handed out first."""

from __future__ import annotations

import pytest

import conftest


class Item:
    """What the ordering hook reads of a collected test: its node id and its markers."""

    def __init__(self, nodeid: str, slow: bool = False):
        self.nodeid = nodeid
        self._marks = {"slow": pytest.mark.slow.mark} if slow else {}

    def get_closest_marker(self, name: str):
        return self._marks.get(name)


def test_modules_with_a_slow_test_come_first_and_stay_whole_and_in_order():
    items = [
        Item("tests/test_a.py::test_one"),
        Item("tests/test_b.py::test_quick"),
        Item("tests/test_b.py::test_long", slow=True),
        Item("tests/test_b.py::test_after[1]"),
        Item("learners/base.py::learners.base.Learner"),
        Item("tests/test_c.py::test_long", slow=True),
        Item("tests/test_d.py::test_one"),
    ]
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items] == [
        "tests/test_b.py::test_quick",
        "tests/test_b.py::test_long",
        "tests/test_b.py::test_after[1]",
        "tests/test_c.py::test_long",
        "tests/test_a.py::test_one",
        "learners/base.py::learners.base.Learner",
        "tests/test_d.py::test_one",
    ]
