"""Decision 0046's learned similarity (``scripts.dup_adapt``), on synthetic vectors: the
adapter learns the one direction that tells duplicates apart when the plain cosine sees
only the shared topic, and a fold's features are fitted on its training pairs alone (the
CV figures of the record would be optimistic otherwise). Never reads the held-out file."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import approx_fprime
from sklearn.metrics import roc_auc_score

from scripts import dup_adapt
from scripts.dup_variants import select_adapted

Matrix = NDArray[np.float64]


def topic_pairs(n: int, seed: int, dims: int = 384) -> tuple[Matrix, Matrix, NDArray[np.bool_]]:
    """Pairs of one product area (a large shared topic) where only duplicates share the
    defect directions (dimensions 0 and 1): the plain cosine weighs them as little as any
    other of the 384."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 == 0
    topic = rng.normal(size=(n, dims))
    defect = rng.normal(size=(n, 2))
    a = 3.0 * topic + rng.normal(size=(n, dims))
    b = 3.0 * topic + rng.normal(size=(n, dims))
    a[:, :2] += 6.0 * defect
    b[:, :2] += np.where(y[:, None], 6.0 * defect, 6.0 * rng.normal(size=(n, 2)))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return a, b, y


def test_the_adapter_gradient_is_the_derivative_of_its_objective() -> None:
    # hand-written maths: a wrong gradient would make J's CV figure meaningless
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 12)), rng.normal(size=(20, 12))
    target = (np.arange(20) % 2).astype(np.float64)
    w0 = np.linalg.qr(rng.normal(size=(12, 4)))[0]
    theta = np.concatenate([w0.ravel() + 0.1 * rng.normal(size=48), [3.0, -1.0]])
    _, grad = dup_adapt.adapter_loss(theta, a, b, target, w0)
    numeric = approx_fprime(theta, lambda t: dup_adapt.adapter_loss(t, a, b, target, w0)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, atol=1e-5)


def test_the_adapter_learns_the_direction_that_tells_duplicates_apart() -> None:
    a, b, y = topic_pairs(400, seed=1)
    w = dup_adapt.fit_adapter(a[:300], b[:300], y[:300], np.vstack([a[:300], b[:300]]))
    plain = np.sum(a[300:] * b[300:], axis=1)
    adapted = dup_adapt.adapted_cosine(a[300:], b[300:], w)[:, 0]
    # on pairs it never saw, the learned cosine ranks the duplicates first more often
    assert roc_auc_score(y[300:], adapted) > roc_auc_score(y[300:], plain) + 0.03


def test_fold_features_depend_on_the_training_pairs_only() -> None:
    a, b, y = topic_pairs(60, seed=2, dims=80)  # small: J fits six adapters here
    groups = np.arange(len(y)) // 3
    fit, test = np.arange(45), np.arange(45, 60)
    hooks = {
        "H8": lambda a, b: dup_adapt.pca_hook(a, b, 8),
        "I": dup_adapt.product_hook,
        "J": lambda a, b: dup_adapt.adapter_hook(a, b, y, groups),
        "K": dup_adapt.abtt_hook,
    }
    other_a, other_b = a.copy(), b.copy()
    other_a[test], other_b[test] = other_b[test], -other_a[test]
    for name, make in hooks.items():
        seen, _ = make(a, b)(fit, test)
        seen_again, _ = make(other_a, other_b)(fit, test)
        np.testing.assert_allclose(seen, seen_again, err_msg=name)


def test_a_candidate_is_adopted_only_above_the_floor_and_the_gain() -> None:
    def row(name: str, precision: float, recall: float) -> tuple[str, dict[str, float]]:
        return name, {"precision": precision, "recall": recall}

    shipped = row("shipped", 0.946, 0.477)
    assert select_adapted([shipped, row("I", 0.622, 0.845), row("H32", 0.956, 0.491)]) is None
    assert select_adapted([shipped, row("J", 0.93, 0.53), row("H8", 0.92, 0.53)]) == "H8"
    assert select_adapted([shipped, row("K", 0.93, 0.53), row("H8", 0.92, 0.53)]) == "K"
