"""Work run in a fresh interpreter: a spawned child process.

For a fit that needs a library the serving process must not import (scikit-learn is
~100 MiB a serving process never carries, decision 0031): the child imports it, does the
work and returns a picklable result; the parent's memory stays as it was. Spawned, not
forked: no copy of the parent's event loop, connections or threads.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def run_in_child(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` in a spawned child process; blocking (from async code:
    ``asyncio.to_thread``). ``work`` must be importable by name (a module-level function)
    and its arguments and result picklable; an exception it raises is raised here."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked state
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(work, *args, **kwargs).result()
