"""A learned similarity on the report embeddings: decision 0046's candidates, measured by CV.

The shipped semantic signal is one cosine of the two reports' MiniLM embeddings: every
direction of meaning weighs alike. Each candidate here lets the training pairs weigh them:

- H8 / H32: z = [a*b, |a-b|] projected on its first k principal components (k = 8, 32);
- I: the full 384-d a*b, standardised, under a strong L2 (effective C = 0.1);
- J: a linear adapter W (384 x 64) fitted so that cos(Wa, Wb) separates duplicates
  (numpy + scipy L-BFGS), its cosine as an 11th signal, cross-fitted inside the fold;
- K: the cosine after "all-but-the-top" (the mean and the top 8 principal components of
  the reports removed: the directions every report of a product area shares).

Every part is fitted by a ``FoldFeatures`` hook on the training folds' pairs only, inside
``scripts.dup_variants.cross_validate``'s loop. Reads the training and legacy pairs only.

    uv run --frozen python -m scripts.dup_variants --adapt
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from benchmarks.quality import probe
from escalation_service.bugs.similarity import document

Matrix = NDArray[np.float64]
Index = NDArray[np.intp]
Hook = Callable[[Index, Index], tuple[Matrix, Matrix]]
"""(training pairs, test pairs) -> their extra features, fitted on the training pairs."""

# Fixed in the plan (decision 0046) before measuring.
I_BLOCK_SCALE = 0.1  # effective C of the a*b block: 10 x 0.1^2 = 0.1
ADAPTER_DIM = 64
ADAPTER_L2 = 0.01
ADAPTER_ITERATIONS = 300
ABTT_COMPONENTS = 8


def report_vectors(train: list[dict[str, Any]]) -> tuple[Matrix, Matrix]:
    """Per pair, the two reports' stored embeddings (``bugs.embedding``: the service's
    encoder over ``similarity.document``, rounded as stored), each report embedded once."""
    from escalation_service.bugs.encoder import encoder

    model = encoder()
    cache: dict[str, list[float]] = {}

    def vec(report: dict[str, Any]) -> list[float]:
        p = probe(report)
        text = document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)
        if text not in cache:
            cache[text] = model.embed(text)
        return cache[text]

    a = np.array([vec(p["a"]) for p in train], dtype=np.float64)
    b = np.array([vec(p["b"]) for p in train], dtype=np.float64)
    return a, b


def _top_components(rows: Matrix, k: int, centre: bool) -> tuple[Matrix, Matrix]:
    """(mean, the first ``k`` principal directions as rows) of ``rows``."""
    mean = rows.mean(axis=0) if centre else np.zeros(rows.shape[1])
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    return mean, vt[:k]


def _reports(a: Matrix, b: Matrix, idx: Index) -> Matrix:
    """The distinct reports of the pairs ``idx``."""
    return np.unique(np.vstack([a[idx], b[idx]]), axis=0)


def pca_hook(a: Matrix, b: Matrix, k: int) -> Hook:
    """H_k: [a*b, |a-b|] on the training folds' first k components, unit variance there."""
    z = np.hstack([a * b, np.abs(a - b)])

    def hook(fit: Index, test: Index) -> tuple[Matrix, Matrix]:
        mean, comps = _top_components(z[fit], k, centre=True)
        seen = (z[fit] - mean) @ comps.T
        scale = seen.std(axis=0)
        scale[scale == 0] = 1.0
        return seen / scale, ((z[test] - mean) @ comps.T) / scale

    return hook


def product_hook(a: Matrix, b: Matrix) -> Hook:
    """I: the 384-d a*b, standardised on the training folds, times ``I_BLOCK_SCALE``."""
    prod = a * b

    def hook(fit: Index, test: Index) -> tuple[Matrix, Matrix]:
        mean, sd = prod[fit].mean(axis=0), prod[fit].std(axis=0)
        sd[sd == 0] = 1.0
        return (
            I_BLOCK_SCALE * (prod[fit] - mean) / sd,
            I_BLOCK_SCALE * (prod[test] - mean) / sd,
        )

    return hook


def abtt_cosine(a: Matrix, b: Matrix, mean: Matrix, comps: Matrix) -> Matrix:
    """Cosine of the two vectors with the mean and the top components removed."""

    def strip(v: Matrix) -> Matrix:
        v = v - mean
        v = v - (v @ comps.T) @ comps
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(norm == 0, 1.0, norm)

    cosines: Matrix = np.sum(strip(a) * strip(b), axis=1)[:, None]
    return cosines


def abtt_hook(a: Matrix, b: Matrix) -> Hook:
    """K: all-but-the-top fitted on the training folds' reports (no labels)."""

    def hook(fit: Index, test: Index) -> tuple[Matrix, Matrix]:
        mean, comps = _top_components(_reports(a, b, fit), ABTT_COMPONENTS, centre=True)
        return abtt_cosine(a[fit], b[fit], mean, comps), abtt_cosine(a[test], b[test], mean, comps)

    return hook


def adapted_cosine(a: Matrix, b: Matrix, w: Matrix) -> Matrix:
    p, q = a @ w, b @ w
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1)
    cosines: Matrix = (np.sum(p * q, axis=1) / np.where(norms == 0, 1.0, norms))[:, None]
    return cosines


def adapter_loss(
    theta: Matrix, a: Matrix, b: Matrix, target: Matrix, w0: Matrix
) -> tuple[float, Matrix]:
    """The adapter's objective and its gradient; ``theta`` = W (flattened), alpha, beta."""
    d, k = w0.shape
    n = len(target)
    w = theta[:-2].reshape(d, k)
    alpha, beta = theta[-2], theta[-1]
    p, q = a @ w, b @ w
    np_, nq = np.linalg.norm(p, axis=1), np.linalg.norm(q, axis=1)
    np_, nq = np.maximum(np_, 1e-9), np.maximum(nq, 1e-9)
    c = np.sum(p * q, axis=1) / (np_ * nq)
    s = alpha * c + beta
    value = float(np.mean(np.logaddexp(0.0, s) - target * s))
    value += ADAPTER_L2 * float(np.sum((w - w0) ** 2))
    ds = (expit(s) - target) / n
    dc = ds * alpha
    inv = 1.0 / (np_ * nq)
    # d cos / dp = q / (|p||q|) - cos p / |p|^2, and symmetrically for q
    gp = dc[:, None] * (q * inv[:, None] - c[:, None] * p / (np_**2)[:, None])
    gq = dc[:, None] * (p * inv[:, None] - c[:, None] * q / (nq**2)[:, None])
    gw = a.T @ gp + b.T @ gq + 2 * ADAPTER_L2 * (w - w0)
    grad: Matrix = np.concatenate([gw.ravel(), [float(np.sum(ds * c)), float(np.sum(ds))]])
    return value, grad


def fit_adapter(a: Matrix, b: Matrix, y: NDArray[np.bool_], reports: Matrix) -> Matrix:
    """W (384 x ``ADAPTER_DIM``) minimising the mean cross-entropy of
    sigmoid(alpha cos(Wa, Wb) + beta) + ``ADAPTER_L2`` ||W - W0||^2, W0 = the reports' top
    right singular vectors (uncentred: cos(W0 a, W0 b) is the cosine in their span)."""
    _, w0t = _top_components(reports, ADAPTER_DIM, centre=False)
    w0 = w0t.T
    start = np.concatenate([w0.ravel(), [10.0, -6.0]])
    # small matrices: BLAS threads only contend (a fit takes 10x longer on 2 busy cores)
    with threadpool_limits(1):
        result = minimize(
            adapter_loss,
            start,
            args=(a, b, y.astype(np.float64), w0),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": ADAPTER_ITERATIONS},
        )
    fitted: Matrix = result.x[:-2].reshape(w0.shape)
    return fitted


def adapter_hook(a: Matrix, b: Matrix, y: NDArray[np.bool_], groups: NDArray[Any]) -> Hook:
    """J: the adapter's cosine; the training folds' values cross-fitted (inner
    family-grouped 5 folds), the test fold's from the adapter fitted on all training folds."""

    def fitted_on(idx: Index) -> Matrix:
        return fit_adapter(a[idx], b[idx], y[idx], _reports(a, b, idx))

    def hook(fit: Index, test: Index) -> tuple[Matrix, Matrix]:
        w = fitted_on(fit)
        seen = np.zeros((len(fit), 1))
        for inner_fit, inner_test in GroupKFold(5).split(fit, y[fit], groups[fit]):
            inner = fitted_on(fit[inner_fit])
            seen[inner_test] = adapted_cosine(a[fit[inner_test]], b[fit[inner_test]], inner)
        return seen, adapted_cosine(a[test], b[test], w)

    return hook
