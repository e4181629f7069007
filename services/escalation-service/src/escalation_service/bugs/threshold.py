"""The auto-link threshold rule and a refit's guard (numpy; decisions 0045, 0048, 0053):

    the lowest threshold (0.05, 0.06, ... 0.98) whose in-sample precision on the pairs is
    >= ``RULE_LEVEL``, with none of the ``never_link`` pairs at or above it.

Imported where a fit is judged (the refit's child process, the benchmarks, the tests),
not by the serving process at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from escalation_service.bugs.learning import MIN_PRECISION, RULE_LEVEL, Fit, Pair
from escalation_service.bugs.similarity import SIGNALS


def prf(truth: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of linking every pair scoring >= ``threshold``."""
    predicted = scores >= threshold
    tp = int((predicted & truth).sum())
    precision = tp / predicted.sum() if predicted.sum() else 1.0
    recall = tp / truth.sum() if truth.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": round(threshold, 3),
        "precision": round(float(precision), 3),
        "recall": round(float(recall), 3),
        "f1": round(float(f1), 3),
        "linked": int(predicted.sum()),
        "true_links": tp,
    }


def find_threshold(
    truth: np.ndarray,
    scores: np.ndarray,
    precision: float = RULE_LEVEL,
    never_link: np.ndarray | None = None,
) -> float | None:
    """The lowest threshold whose training precision is >= ``precision``: auto-linking must
    be right; the rest is listed for a human. ``never_link`` (scores of pairs that must
    never be linked) must all stay below it. None: no threshold meets the rule."""
    for threshold in np.arange(0.05, 0.99, 0.01):
        if never_link is not None and never_link.size and never_link.max() >= threshold:
            continue
        if prf(truth, scores, float(threshold))["precision"] >= precision:
            return round(float(threshold), 2)
    return None


def pick_threshold(
    truth: np.ndarray,
    scores: np.ndarray,
    precision: float = RULE_LEVEL,
    never_link: np.ndarray | None = None,
) -> float:
    """``find_threshold``, 0.99 when none meets the rule (the benchmarks' form)."""
    found = find_threshold(truth, scores, precision, never_link)
    return 0.99 if found is None else found


def arrays(pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, never_link) of ``pairs``."""
    x = np.array([p.signals for p in pairs], dtype=float).reshape(len(pairs), len(SIGNALS))
    y = np.array([p.duplicate for p in pairs], dtype=bool)
    pinned = np.array([p.never_link for p in pairs], dtype=bool)
    return x, y, pinned


def judge(
    weights: Sequence[float],
    intercept: float,
    pairs: Sequence[Pair],
    *,
    level: float = RULE_LEVEL,
    min_precision: float = MIN_PRECISION,
) -> Fit:
    """The threshold of fitted weights by the rule, and the guard: a fit with no threshold
    meeting the rule, whose threshold links no pair (precision is vacuous there), or whose
    in-sample precision there is below ``min_precision``, is rejected."""
    x, y, pinned = arrays(pairs)
    scores = 1.0 / (1.0 + np.exp(-(x @ np.asarray(weights, dtype=float) + intercept)))
    named = {name: float(w) for name, w in zip(SIGNALS, weights, strict=True)}
    threshold = find_threshold(y, scores, level, never_link=scores[pinned])
    if threshold is None:
        return Fit(
            named,
            float(intercept),
            None,
            0.0,
            0.0,
            0,
            accepted=False,
            rejection=f"no threshold reaches precision {level} on the training pairs",
        )
    at = prf(y, scores, threshold)
    rejection = None
    if not at["linked"]:
        # precision is vacuous where nothing is linked: such a model never links at all
        rejection = f"the threshold {threshold} links no training pair"
    elif at["precision"] < min_precision:
        rejection = (
            f"in-sample precision {at['precision']:.3f} at {threshold} is below {min_precision}"
        )
    return Fit(
        named,
        float(intercept),
        threshold,
        at["precision"],
        at["recall"],
        int(at["linked"]),
        accepted=rejection is None,
        rejection=rejection,
    )
