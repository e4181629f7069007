"""Duplicate detection learns from agents' verdicts: the training data, the auto-link
threshold rule and a refit's guard (pure: numpy, no database, no scikit-learn).

A refit fits the logistic regression of ``bugs.similarity`` (C = 10, the signals in
``similarity.SIGNALS`` order) on the corpus's training pairs - their signal vectors are
packaged with the service (``training_pairs.json``, written by ``python -m
benchmarks.quality --fit`` and held equal to a fresh computation by
tests/corpus/test_dup_training_pairs.py) - plus every stored verdict's signals, then picks
the auto-link threshold by the documented rule (decisions 0045, 0048):

    the lowest threshold (0.05, 0.06, ... 0.98) whose in-sample precision on the pairs is
    >= ``RULE_LEVEL``, with none of the ``never_link`` pairs (the 16 legacy agent-written
    near-misses the escalation tests pin) at or above it.

The fit itself runs in a spawned child process (``refitting.fit_in_child``): scikit-learn is
~100 MiB the serving process never imports (decision 0031's pattern, decision 0053).
``benchmarks.quality`` and ``scripts.dup_*`` import the rule from here: one implementation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from escalation_service.bugs.similarity import SIGNALS

RULE_LEVEL = 0.94
"""The training precision the auto-link threshold must reach: chosen by cross-validation
(``python -m scripts.dup_variants --levels``, the rule of decision 0041's second round:
the highest CV recall among CV precision >= 0.92, ties to the higher level); 0.95 until
session 9's pairs (decision 0045), 0.94 since."""
MIN_PRECISION = 0.90
"""A refit whose in-sample precision at its own threshold is below this is rejected
(recorded, never used): the issue's precision target."""
REGULARISATION_C = 10.0
"""The logistic regression's inverse regularisation strength (every fit since session 6)."""
TRAINING_PAIRS = Path(__file__).with_name("training_pairs.json")


@dataclass(frozen=True)
class Pair:
    """One labelled pair as a refit sees it: its signals (``SIGNALS`` order) and label.
    ``never_link``: a legacy near-miss the threshold must stay above."""

    id: str
    signals: tuple[float, ...]
    duplicate: bool
    never_link: bool = False


@dataclass(frozen=True)
class Fit:
    """What a refit found; ``accepted`` False names its ``rejection``."""

    weights: dict[str, float]
    intercept: float
    threshold: float | None
    precision: float
    recall: float
    linked: int
    accepted: bool
    rejection: str | None = None
    fit_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


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


def load_corpus_pairs(path: Path = TRAINING_PAIRS) -> list[Pair]:
    """The corpus's training pairs (and the legacy pairs) as signal vectors."""
    return list(_load(path))


@cache
def _load(path: Path) -> tuple[Pair, ...]:
    data = json.loads(path.read_text())
    if list(data["signals"]) != list(SIGNALS):
        raise ValueError(f"{path.name} holds other signals than similarity.SIGNALS: refit it")
    return tuple(
        Pair(
            id=row["id"],
            signals=tuple(row["x"]),
            duplicate=row["duplicate"],
            never_link=row.get("never_link", False),
        )
        for row in data["pairs"]
    )


def training_document(pairs: Sequence[Pair]) -> str:
    """``training_pairs.json``'s text for ``pairs`` (one pair a line, stable)."""
    rows = [
        json.dumps(
            {
                "id": p.id,
                "duplicate": p.duplicate,
                "never_link": p.never_link,
                "x": [round(v, 6) for v in p.signals],
            }
        )
        for p in pairs
    ]
    return (
        '{"signals": '
        + json.dumps(list(SIGNALS))
        + ',\n "pairs": [\n'
        + ",\n".join(rows)
        + "\n]}\n"
    )


def data_version(pairs: Sequence[Pair], *, level: float = RULE_LEVEL) -> str:
    """The version of a fit: a hash of everything it saw (the pairs' signals and labels in
    order, the signals' names, C and the rule's level). The same data, the same version."""
    digest = hashlib.sha256(
        json.dumps(
            {
                "signals": list(SIGNALS),
                "c": REGULARISATION_C,
                "level": level,
                "pairs": [[list(p.signals), p.duplicate, p.never_link] for p in pairs],
            },
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    return f"logreg-{digest[:12]}"
