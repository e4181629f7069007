"""``run_in_child``: the work runs in another (spawned) interpreter and its result or its
exception comes back. (That what the child imports stays out of the parent is held by the
services' fits: ticket-service test_triage_model's "no sklearn in the serving process".)

The work must be importable by name in the child: stdlib functions here, since a test
module is not importable from a fresh interpreter."""

from __future__ import annotations

import operator
import os

import pytest

from servicekit.processes import run_in_child


def test_the_work_runs_in_a_child_and_its_result_comes_back() -> None:
    assert run_in_child(os.getpid) != os.getpid()
    assert run_in_child(operator.add, 2, 3) == 5
    assert run_in_child(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]


def test_an_exception_in_the_child_is_raised_in_the_parent() -> None:
    with pytest.raises(ZeroDivisionError):
        run_in_child(operator.truediv, 1, 0)
