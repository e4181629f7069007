"""A refit of the duplicate weights in a spawned child process: scikit-learn (``fitting``)
is ~100 MiB the serving process never imports (decision 0031's pattern, decision 0053)."""

from __future__ import annotations

from collections.abc import Sequence

from escalation_service.bugs.learning import RULE_LEVEL, Fit, Pair
from servicekit.processes import run_in_child


def _fit_here(pairs: tuple[Pair, ...], level: float) -> Fit:
    # Imported here, in the child process only: scikit-learn is ~100 MiB the serving
    # process does not carry (the reason for the child process).
    from escalation_service.bugs.fitting import fit_pairs

    return fit_pairs(pairs, level=level)


def fit_in_child(pairs: Sequence[Pair], *, level: float = RULE_LEVEL) -> Fit:
    """Fit in a spawned child process (blocking: ``asyncio.to_thread`` from async code)."""
    return run_in_child(_fit_here, tuple(pairs), level)
