"""Contextual token alignment of two bug reports, BERTScore-style (decision 0054).

The shipped encoder (``escalation_service.bugs.encoder.Encoder``: all-MiniLM-L6-v2, int8
ONNX) mean-pools its ``last_hidden_state`` into one vector per report. Here the same session
and tokenizer give the per-word-piece vectors instead ([CLS] and [SEP] dropped, each
L2-normalised), and two reports are compared by BERTScore's F1 (Zhang et al. 2019): each
token of one report matched to its most similar token of the other, both ways. The
service's encoder is not changed: this module only reads its session and tokenizer.

Dev only (``python -m scripts.dup_variants --align``); never reads the held-out file.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.quality import probe
from escalation_service.bugs.similarity import document

if TYPE_CHECKING:
    from escalation_service.bugs.encoder import Encoder
    from scripts.dup_variants import FoldFeatures

Matrix = NDArray[np.float64]
Tokens = tuple[NDArray[np.int64], NDArray[np.float32]]
"""(word-piece ids, one unit vector per word piece as rows), special tokens excluded."""


def token_vectors(model: Encoder, text: str) -> Tokens:
    """``text``'s word pieces and their contextual vectors: the same tokenizer, truncation
    and ONNX inputs as ``Encoder.vector``, the first output (``last_hidden_state``) before
    pooling, [CLS] / [SEP] dropped, each row L2-normalised."""
    encoding = model.tokenizer.encode(model.spec.prefix + text)
    ids = np.array([encoding.ids], dtype=np.int64)
    feed: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }
    hidden = model.session.run(None, {k: v for k, v in feed.items() if k in model.inputs})[0][0]
    keep = np.array(encoding.special_tokens_mask) == 0
    vectors = np.asarray(hidden[keep], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return ids[0][keep], unit


def bertscore(
    a: NDArray[np.float32],
    b: NDArray[np.float32],
    wa: NDArray[np.float64] | None = None,
    wb: NDArray[np.float64] | None = None,
) -> float:
    """BERTScore F1 of two reports' unit token vectors (rows): R = (weighted) mean over a's
    tokens of the best cosine to b's, P = the same over b's tokens, F = 2PR / (P + R).
    ``wa`` / ``wb``: per-token weights (IDF), uniform when omitted. 0 if either is empty."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    sim = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64).T
    # a side whose weights are all 0 (every word piece in every fitted report) weighs evenly
    wa = np.ones(len(a)) if wa is None or not wa.sum() > 0 else wa
    wb = np.ones(len(b)) if wb is None or not wb.sum() > 0 else wb
    recall = float(sim.max(axis=1) @ wa / wa.sum())
    precision = float(sim.max(axis=0) @ wb / wb.sum())
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def fit_idf(reports: Iterable[NDArray[np.int64]]) -> tuple[dict[int, float], float]:
    """BERTScore's smoothed IDF over distinct reports' word-piece ids: (idf per id seen,
    the weight of an unseen id), idf(w) = ln((M + 1) / (df(w) + 1))."""
    df: Counter[int] = Counter()
    m = 0
    for ids in reports:
        m += 1
        df.update({int(i) for i in ids})
    return {w: math.log((m + 1) / (n + 1)) for w, n in df.items()}, math.log(m + 1)


def weights(ids: NDArray[np.int64], idf: tuple[dict[int, float], float]) -> NDArray[np.float64]:
    table, unseen = idf
    return np.array([table.get(int(i), unseen) for i in ids], dtype=np.float64)


def report_text(report: dict[str, Any]) -> str:
    """The service's text of a corpus report (``similarity.document``, as ``bugs.embedding``)."""
    p = probe(report)
    return document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)


def pair_tokens(
    train: list[dict[str, Any]], model: Encoder | None = None
) -> tuple[list[str], list[str], dict[str, Tokens]]:
    """(a's text per pair, b's text per pair, the token vectors of each distinct text),
    each distinct report encoded once."""
    from escalation_service.bugs.encoder import encoder

    model = model or encoder()
    texts_a = [report_text(p["a"]) for p in train]
    texts_b = [report_text(p["b"]) for p in train]
    cache: dict[str, Tokens] = {}
    for text in texts_a + texts_b:
        if text not in cache:
            cache[text] = token_vectors(model, text)
    return texts_a, texts_b, cache


def align_plain(texts_a: list[str], texts_b: list[str], cache: dict[str, Tokens]) -> Matrix:
    """Per pair, the unweighted BERTScore F1, as one column."""
    return np.array(
        [[bertscore(cache[a][1], cache[b][1])] for a, b in zip(texts_a, texts_b, strict=True)]
    )


def idf_hook(texts_a: list[str], texts_b: list[str], cache: dict[str, Tokens]) -> FoldFeatures:
    """Decision 0054's A-idf: per fold, the IDF fitted on the distinct reports of the
    training folds' pairs only, then the IDF-weighted F1 of the training and test pairs."""

    def column(idx: NDArray[np.intp], idf: tuple[dict[int, float], float]) -> Matrix:
        out = np.zeros((len(idx), 1))
        for row, i in enumerate(idx):
            (ia, va), (ib, vb) = cache[texts_a[i]], cache[texts_b[i]]
            out[row, 0] = bertscore(va, vb, weights(ia, idf), weights(ib, idf))
        return out

    def hook(fit_idx: NDArray[np.intp], test_idx: NDArray[np.intp]) -> tuple[Matrix, Matrix]:
        distinct = {texts_a[i] for i in fit_idx} | {texts_b[i] for i in fit_idx}
        idf = fit_idf(cache[t][0] for t in sorted(distinct))
        return column(fit_idx, idf), column(test_idx, idf)

    return hook


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def serving_cost(
    texts: list[str], pairs: list[tuple[str, str]], model: Encoder | None = None
) -> dict[str, float]:
    """Decision 0054's cost check, by ``time.process_time`` (one onnxruntime thread): CPU
    ms per report for the token vectors (the encoder run), CPU ms per pair for the
    alignment, and the word pieces per report (what storing them would hold), p50 / p99."""
    import time

    from escalation_service.bugs.encoder import encoder

    model = model or encoder()
    encode_ms: list[float] = []
    counts: list[float] = []
    vectors: dict[str, Tokens] = {}
    for text in texts:
        start = time.process_time()
        vectors[text] = token_vectors(model, text)
        encode_ms.append((time.process_time() - start) * 1000)
        counts.append(float(len(vectors[text][0])))
    align_ms: list[float] = []
    for a, b in pairs:
        va, vb = vectors[a][1], vectors[b][1]
        start = time.process_time()
        for _ in range(10):  # one alignment is well below the clock's resolution
            bertscore(va, vb)
        align_ms.append((time.process_time() - start) * 100)
    (e50, e99), (a50, a99), (n50, n99) = (
        percentiles(encode_ms),
        percentiles(align_ms),
        percentiles(counts),
    )
    return {
        "encode_ms_p50": e50,
        "encode_ms_p99": e99,
        "align_ms_p50": a50,
        "align_ms_p99": a99,
        "tokens_p50": n50,
        "tokens_p99": n99,
        "tokens_max": max(counts),
    }
