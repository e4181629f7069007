"""Duplicate detection learns from agents' verdicts: the training data, the rule's
constants and a fit's version (pure: no numpy, no database, no scikit-learn).

A refit fits the logistic regression of ``bugs.similarity`` (C = 10, the signals in
``similarity.SIGNALS`` order) on the corpus's training pairs - their signal vectors are
packaged with the service (``training_pairs.json``, written by ``python -m
benchmarks.quality --fit`` and held equal to a fresh computation by
tests/corpus/test_dup_training_pairs.py) - plus every stored verdict's signals, then picks
the auto-link threshold by the documented rule (decisions 0045, 0048; ``threshold``):

    the lowest threshold (0.05, 0.06, ... 0.98) whose in-sample precision on the pairs is
    >= ``RULE_LEVEL``, with none of the ``never_link`` pairs (the 16 legacy agent-written
    near-misses the escalation tests pin) at or above it.

The fit itself runs in a spawned child process (``refitting.fit_in_child``): scikit-learn is
~100 MiB the serving process never imports (decision 0031's pattern, decision 0053).
The rule and the guard are in ``threshold`` (numpy, imported only where a refit runs:
a service that has filed nothing imports neither numpy nor onnxruntime);
``benchmarks.quality`` and ``scripts.dup_*`` import the rule from there: one implementation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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


def data_version(pairs: Sequence[Pair], *, level: float = RULE_LEVEL, encoder: str = "") -> str:
    """The version of a fit: a hash of everything it saw (the pairs' signals and labels in
    order, the signals' names, C, the rule's level and the encoder behind the semantic
    signal). The same data, the same version; the same numbers under another encoder are
    another model (decision 0057: a refit is served only with its encoder)."""
    described: dict[str, object] = {"encoder": encoder} if encoder else {}
    digest = hashlib.sha256(
        json.dumps(
            {
                **described,
                "signals": list(SIGNALS),
                "c": REGULARISATION_C,
                "level": level,
                "pairs": [[list(p.signals), p.duplicate, p.never_link] for p in pairs],
            },
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    return f"logreg-{digest[:12]}"
