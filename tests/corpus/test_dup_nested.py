"""Decision 0048's rule N (``scripts.dup_variants``, ``--nested``): the auto-link threshold
picked on cross-fitted scores. On synthetic pairs: a flexible model's in-sample scores make
the in-sample rule link far below its precision level on unseen pairs, while rule N keeps
it; a cross-fitted score never comes from a model that saw the pair's family; the
selection applies the floor, the gain and the tie order. Never reads the held-out file."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from scripts.dup_variants import cross_fitted, cross_validate, select_nested

Matrix = NDArray[np.float64]


def overfit_pairs(n: int, noise: int, seed: int) -> tuple[list[dict[str, Any]], Matrix]:
    """One informative signal and ``noise`` useless ones: the logistic regression (C = 10)
    fits the noise, so its in-sample scores are far better separated than unseen ones."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    signal = np.where(y, 1.0, 0.0) + rng.normal(scale=0.35, size=n)
    x = np.hstack([signal[:, None], rng.normal(size=(n, noise))])
    pairs = [{"id": f"p{i}", "duplicate": bool(y[i]), "family": f"f{i // 5}"} for i in range(n)]
    return pairs, x


def test_rule_n_keeps_the_precision_an_overconfident_model_loses_on_unseen_pairs() -> None:
    pairs, x = overfit_pairs(200, 60, seed=1)
    in_sample = cross_validate(pairs, x, level=0.95)
    nested = cross_validate(pairs, x, level=0.95, nested=True)
    # the in-sample rule trusts the overfitted scores: a third of its links are wrong
    assert in_sample["precision"] < 0.80
    assert nested["precision"] >= 0.90
    assert nested["threshold"] > in_sample["threshold"]


def test_a_cross_fitted_score_never_comes_from_a_model_that_saw_the_family() -> None:
    y = np.arange(40) % 2 == 0
    groups = np.array([f"f{i // 4}" for i in range(40)])
    idx = np.arange(5, 40)  # a training part, as in an outer fold
    scored: list[int] = []

    def fit_and_score(fit: NDArray[np.intp], test: NDArray[np.intp]) -> tuple[Matrix, Matrix]:
        assert not set(groups[fit]) & set(groups[test])
        assert set(fit) | set(test) <= set(idx)
        scored.extend(test.tolist())
        return np.zeros(len(fit)), test.astype(np.float64)

    scores = cross_fitted(y, groups, idx, fit_and_score)
    assert sorted(scored) == idx.tolist()  # every pair scored exactly once
    np.testing.assert_array_equal(scores, idx)  # and put back in its own place


def test_a_candidate_is_adopted_only_above_the_floor_and_the_gain() -> None:
    def row(name: str, precision: float, recall: float) -> tuple[str, dict[str, float]]:
        return name, {"precision": precision, "recall": recall}

    baseline = row("S", 0.947, 0.486)
    assert select_nested([baseline, row("S-N", 0.939, 0.486), row("H32-N", 0.952, 0.45)]) is None
    assert select_nested([baseline, row("J-N", 0.90, 0.70), row("S-N", 0.93, 0.53)]) is None
    assert select_nested([baseline, row("J-N", 0.93, 0.54), row("H32-N", 0.92, 0.536)]) == "J-N"
    assert select_nested([baseline, row("J-N", 0.93, 0.54), row("S-N", 0.92, 0.54)]) == "S-N"
