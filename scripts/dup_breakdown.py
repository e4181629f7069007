"""Where the duplicate model wins and loses on the training pairs, by the session that wrote
them (decision 0045): the shipped weights at the shipped threshold, then the
family-grouped 5-fold CV of ``python -m benchmarks.quality --fit`` split into the pairs
written before session 9 and the ``s9-*`` families, with out-of-fold ranking (average
precision, ROC AUC) and the best recall one global threshold reaches at precision >= 0.90.
``--list`` prints the hardest ``s9-*`` pairs (highest-scored near-misses, lowest-scored
duplicates) for a labelling review. Reads the training and legacy pairs only, never the
held-out file.

    uv run --frozen python -m scripts.dup_breakdown [--list]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold

from benchmarks.quality import (
    CORPUS,
    features,
    legacy_pairs,
    read_jsonl,
    training_signals,
)
from escalation_service.bugs.fitting import regression
from escalation_service.bugs.threshold import pick_threshold, prf
from escalation_service.config import EscalationSettings

Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def best_recall_at(truth: Bools, scores: Floats, precision: float = 0.90) -> dict[str, Any]:
    """The highest recall of one global threshold whose precision is >= ``precision``."""
    found = [prf(truth, scores, float(t)) for t in np.arange(0.05, 0.99, 0.01)]
    ok = [r for r in found if r["precision"] >= precision and r["linked"]]
    return max(ok, key=lambda r: r["recall"]) if ok else {}


def out_of_fold(
    x: Floats, y: Bools, groups: NDArray[np.str_], pinned: Bools
) -> tuple[Floats, Bools]:
    """Out-of-fold scores and links of the documented rule (per fold: refit, lowest threshold
    with training precision >= 0.95 linking no legacy near-miss)."""
    scores = np.zeros(len(y))
    linked = np.zeros(len(y), dtype=bool)
    for fit_idx, test_idx in GroupKFold(5).split(x, y, groups):
        fold = regression().fit(x[fit_idx], y[fit_idx])
        fit_scores = fold.predict_proba(x[fit_idx])[:, 1]
        threshold = pick_threshold(y[fit_idx], fit_scores, never_link=fit_scores[pinned[fit_idx]])
        scores[test_idx] = fold.predict_proba(x[test_idx])[:, 1]
        linked[test_idx] = scores[test_idx] >= threshold
    return scores, linked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="the hardest s9 pairs")
    args = parser.parse_args()
    train = read_jsonl(CORPUS / "bug-pairs-train.jsonl") + legacy_pairs()
    signals = asyncio.run(training_signals(train))
    x = features([s for s, _ in signals])
    y = np.array([bool(p["duplicate"]) for p in train])
    new = np.array([str(p.get("family", "")).startswith("s9-") for p in train])
    pinned = np.array([p["id"].startswith("legacy-") and not p["duplicate"] for p in train])
    groups = np.array([p.get("family", p["id"]) for p in train])
    shipped = np.array([s.score() for s, _ in signals])
    threshold = EscalationSettings().duplicate_threshold
    parts = (("before session 9", ~new), ("s9 families", new))
    say(f"shipped weights at the shipped threshold {threshold}:")
    for name, mask in (*parts, ("all", new | ~new)):
        say(
            f"  {name}: {int(mask.sum())} pairs, {int(y[mask].sum())} duplicates: "
            f"{prf(y[mask], shipped[mask], threshold)}"
        )
    for label, subset in (
        ("trained on the pairs before session 9", ~new),
        ("trained on all", new | ~new),
    ):
        idx = np.where(subset)[0]
        scores, linked = out_of_fold(x[idx], y[idx], groups[idx], pinned[idx])
        say(f"CV, {label}:")
        for name, mask in parts:
            m = mask[idx]
            if not m.any():
                continue
            ys, ss, ls = y[idx][m], scores[m], linked[m]
            tp = int((ls & ys).sum())
            say(
                f"  {name}: rule precision {tp / max(int(ls.sum()), 1):.3f} "
                f"recall {tp / int(ys.sum()):.3f}; AP {average_precision_score(ys, ss):.3f} "
                f"AUC {roc_auc_score(ys, ss):.3f}; best at precision >= 0.90: "
                f"{best_recall_at(ys, ss)}"
            )
    if args.list:
        fitted = regression().fit(x, y)
        in_sample = fitted.predict_proba(x)[:, 1]
        rows = [(float(in_sample[i]), train[i]) for i in np.where(new)[0]]
        say("\ns9 near-misses, highest scores (refitted on all training pairs):")
        for score, p in sorted((r for r in rows if not r[1]["duplicate"]), key=lambda r: -r[0])[
            :15
        ]:
            say(f"  {score:.2f} {p['family']}: {p['a']['title']!r} / {p['b']['title']!r}")
        say("\ns9 duplicates, lowest scores:")
        for score, p in sorted((r for r in rows if r[1]["duplicate"]), key=lambda r: r[0])[:25]:
            say(f"  {score:.2f} {p['family']}: {p['a']['title']!r} / {p['b']['title']!r}")


if __name__ == "__main__":
    main()
