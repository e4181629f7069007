"""Fitting the duplicate weights with scikit-learn (a logistic regression, C = 10).

Imported only where a model is fitted - the child process ``learning.fit_in_child`` starts,
the benchmarks and the tests - never by the serving process (see ``learning``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from sklearn.linear_model import LogisticRegression

from escalation_service.bugs.learning import REGULARISATION_C, RULE_LEVEL, Fit, Pair
from escalation_service.bugs.threshold import arrays, judge


def regression() -> LogisticRegression:
    return LogisticRegression(C=REGULARISATION_C, max_iter=1000)


def fit_pairs(pairs: Sequence[Pair], *, level: float = RULE_LEVEL) -> Fit:
    """Fit the weights on ``pairs``, then the threshold by the rule and the guard."""
    started = time.perf_counter()
    x, y, _ = arrays(pairs)
    fitted = regression().fit(x, y)
    found = judge(list(fitted.coef_[0]), float(fitted.intercept_[0]), pairs, level=level)
    return dataclasses.replace(found, fit_seconds=time.perf_counter() - started)
