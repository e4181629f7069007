"""The encoder fine-tuned on the labelled pairs, cross-fitted (decision 0055, pre-registered).

A two-process pipeline: torch and sentence-transformers never enter the project's venv.

    # 1. the project venv: the pairs' service texts and the CV folds (no PostgreSQL)
    uv run --frozen python -m scripts.dup_finetune dump /tmp/ft/run/pairs.json
    # 2. a throwaway venv with torch + sentence-transformers (decision 0055's appendix):
    #    15 fine-tunes, the cross-fitted and out-of-fold fine-tuned cosines
    /tmp/ft/venv/bin/python /tmp/ft/finetune.py /tmp/ft/run/pairs.json /tmp/ft/run/ft.json
    # 3. the project venv (PostgreSQL for the 10 signals): the table and the rule
    uv run --frozen python -m scripts.dup_finetune table /tmp/ft/run/ft.json

Decision 0056, the same with the int8 ONNX exports the service would run
(``scripts/dup_encoder_build.py`` builds them in the throwaway venv); the cosines are the
escalation-service's ``Encoder``'s at ``--max-tokens`` (128: the fine-tune's length)::

    # the 15 CV models' int8 cosines in the format `table` reads
    uv run --frozen python -m scripts.dup_finetune encode /tmp/ftm/pairs.json /tmp/ftm/cv \
        /tmp/ftm/int8-128.json --max-tokens 128 --untuned /tmp/ftm/untuned
    uv run --frozen python -m scripts.dup_finetune table /tmp/ftm/int8-128.json
    # the serving set: every pair's cosine by the family-half model that did not see it
    uv run --frozen python -m scripts.dup_finetune crossfit /tmp/ftm/pairs.json /work/ftout

Decision 0065 (what ships since): ``--parts`` on ``encode`` and ``crossfit`` reads the
five family parts' models (``part0`` .. ``part4``: each fine-tuned on the other four parts,
``dup_encoder_build.py cv|serve --parts``) instead of the two halves'.

Reads the training and legacy pairs only, never the held-out file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import GroupKFold

from benchmarks.quality import (
    CORPUS,
    cross_fitted,
    cross_fitted_semantic,
    features,
    legacy_pairs,
    probe,
    read_jsonl,
    signals_of,
)
from escalation_service.bugs.similarity import Signals, document
from scripts.dup_variants import (
    FoldFeatures,
    Matrix,
    cross_validate,
    cv_table,
    select_named,
    write_alone,
    write_selected,
)

FT_PRECISION_FLOOR = 0.92
FT_MIN_GAIN = 0.05
FT_SIMPLICITY = ("R", "P")
# decision 0065: the family parts of a K-fold cross-fit (scikit-learn's stacking default, 5)
PARTS = 5


async def baseline_signals(train: list[dict[str, Any]]) -> list[tuple[Signals, float]]:
    """The shipped system's signals of ``train``: the cross-fitted ``semantic`` where the
    served encoder was tuned on the pair, its own cosine where it never was (decision 0059)."""
    (computed,) = await signals_of(train)
    return cross_fitted(train, computed, unseen_keep_own=True)


def training_set() -> list[dict[str, Any]]:
    """The pairs in ``scripts.dup_variants``' order: the corpus training split + legacy."""
    return read_jsonl(CORPUS / "bug-pairs-train.jsonl") + legacy_pairs()


def text(report: dict[str, Any]) -> str:
    """A report as ``bugs.embedding`` embeds it: ``similarity.document`` of its probe."""
    p = probe(report)
    return document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)


def family_parts(
    idx: NDArray[np.intp], y: NDArray[np.bool_], groups: NDArray[Any], k: int
) -> list[list[int]]:
    """``idx`` split into ``k`` family-disjoint parts (``GroupKFold(k)``'s test parts)."""
    return [idx[part].tolist() for _, part in GroupKFold(k).split(idx, y[idx], groups[idx])]


def dump(train: list[dict[str, Any]]) -> dict[str, Any]:
    """The texts, labels, groups and folds the torch part needs: the outer folds exactly as
    ``cross_validate`` splits, and per outer fold its training part's two family halves and
    its ``PARTS`` family parts (decision 0065's cross-fit)."""
    y = np.array([p["duplicate"] for p in train])
    groups = np.array([p.get("family", p["id"]) for p in train])
    folds = []
    for fit_idx, test_idx in GroupKFold(5).split(np.zeros((len(train), 1)), y, groups):
        folds.append(
            {
                "fit": fit_idx.tolist(),
                "test": test_idx.tolist(),
                "halves": family_parts(fit_idx, y, groups, 2),
                "parts": family_parts(fit_idx, y, groups, PARTS),
            }
        )
    every = np.arange(len(train))
    return {
        "ids": [p["id"] for p in train],
        "duplicate": y.tolist(),
        "groups": groups.tolist(),
        "a": [text(p["a"]) for p in train],
        "b": [text(p["b"]) for p in train],
        "folds": folds,
        # the two family halves of all the pairs (the serving encoder's cross-fit, 0056)
        "halves": family_parts(every, y, groups, 2),
        # decision 0065: the PARTS family parts of all the pairs (a K-fold cross-fit)
        "parts": family_parts(every, y, groups, PARTS),
    }


def encoder_cosines(
    folder: Path, a: list[str], b: list[str], max_tokens: int, pooling: str = "mean"
) -> NDArray[np.float64]:
    """The pairs' cosines by the escalation-service's ``Encoder`` over the ONNX model in
    ``folder`` (``model.onnx`` + ``tokenizer.json``): the shipped MiniLM spec (no prefix)
    with ``pooling`` ("mean", or "cls" for bge-small: decision 0062) truncated at
    ``max_tokens``, each distinct text embedded once."""
    from escalation_service.bugs.encoder import MINILM, Encoder

    spec = dataclasses.replace(
        MINILM, name=folder.name, onnx_sha256="", max_tokens=max_tokens, pooling=pooling
    )
    embedder = Encoder(folder, spec)
    vectors = {t: embedder.vector(t) for t in sorted(set(a) | set(b))}
    return np.array([float(vectors[x] @ vectors[z]) for x, z in zip(a, b, strict=True)])


def checked_pairs(path: Path, train: list[dict[str, Any]]) -> dict[str, Any]:
    """``dump``'s file, refused unless its texts are today's service texts of ``train``."""
    dumped: dict[str, Any] = json.loads(path.read_text())
    if dumped["a"] != [text(p["a"]) for p in train] or dumped["b"] != [text(p["b"]) for p in train]:
        raise ValueError(f"{path}: not the service texts of the training pairs")
    return dumped


def encode(
    dumped: dict[str, Any],
    models: Path,
    max_tokens: int,
    pooling: str = "mean",
    parts: bool = False,
) -> dict[str, Any]:
    """The int8 models of the 15 CV fine-tunes (``models/fold<k>/{half0,half1,whole}``, as
    ``dup_encoder_build.py cv`` writes them) as ``table``'s input: per outer fold the
    outer-training pairs' cross-fitted cosines (half h's model scores the other half) and
    the test fold's by the whole part's model. Also every pair's cosine per model
    (``all``: the fp32 vs int8 diagnostic). ``parts`` (decision 0065): the cross-fit is
    ``models/fold<k>/part<j>``, each scoring the fold's family part j it did not see."""
    a, b = dumped["a"], dumped["b"]
    folds: dict[str, Any] = {}
    every: dict[str, list[float]] = {}
    for k, fold in enumerate(dumped["folds"]):
        by_part = cross_fit_plan(fold, parts)
        cos = {
            name: encoder_cosines(models / f"fold{k}" / name, a, b, max_tokens, pooling)
            for name in (*by_part, "whole")
        }
        every.update({f"{k}/{name}": c.tolist() for name, c in cos.items()})
        fit = {i: float(cos[name][i]) for name, scored in by_part.items() for i in scored}
        folds[str(k)] = {
            "fit": {str(i): fit[i] for i in fold["fit"]},
            "test": {str(i): float(cos["whole"][i]) for i in fold["test"]},
        }
    return {"max_tokens": max_tokens, "pooling": pooling, "folds": folds, "all": every}


def cross_fit_plan(split: dict[str, Any], parts: bool) -> dict[str, list[int]]:
    """Which model folder scores which pairs in a cross-fit of ``split`` (an outer fold, or
    the whole dump): the two family halves (``half0`` fine-tuned on ``halves[0]`` scores
    ``halves[1]``, decision 0055), or with ``parts`` the family parts (``part<j>`` fine-tuned
    on every part but j scores part j, decision 0065)."""
    if parts:
        return {f"part{j}": part for j, part in enumerate(split["parts"])}
    return {f"half{h}": split["halves"][1 - h] for h in range(2)}


def crossfit(
    dumped: dict[str, Any], out: Path, max_tokens: int, pooling: str = "mean", parts: bool = False
) -> None:
    """The serving set's cosines: ``crossfit.json`` (every training pair by the model that
    did not see it: ``half_a`` fine-tuned on ``halves[0]`` scores ``halves[1]``; with
    ``parts``, ``part<j>`` scores family part j, decision 0065) and ``served_cosines.json``
    (every pair by ``served``; in-sample, a diagnostic)."""
    a, b, ids = dumped["a"], dumped["b"], dumped["ids"]
    plan = {
        {"half0": "half_a", "half1": "half_b"}.get(name, name): scored
        for name, scored in cross_fit_plan(dumped, parts).items()
    }
    by: dict[int, float] = {}
    for name, scored in plan.items():
        cos = encoder_cosines(out / name, a, b, max_tokens, pooling)
        by.update({i: float(cos[i]) for i in scored})
    if sorted(by) != list(range(len(ids))) or sum(map(len, plan.values())) != len(ids):
        raise ValueError("the cross-fit's parts do not cover every pair exactly once")
    served = encoder_cosines(out / "served", a, b, max_tokens, pooling)
    write_atomically(out / "served_cosines.json", {ids[i]: float(c) for i, c in enumerate(served)})
    write_atomically(out / "crossfit.json", {ids[i]: by[i] for i in range(len(ids))})


def compare(
    dumped: dict[str, Any], first: Path, second: Path, max_tokens: int, pooling: str = "mean"
) -> None:
    """Two ONNX models' pair cosines (``Encoder``, ``max_tokens``): how far apart, and how
    each ranks the pairs (a diagnostic: does a recipe reproduce a shipped file)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    a, b = dumped["a"], dumped["b"]
    y = np.array(dumped["duplicate"])
    one, two = (encoder_cosines(f, a, b, max_tokens, pooling) for f in (first, second))
    gap = np.abs(one - two)
    sys.stdout.write(
        f"{len(y)} pairs, {max_tokens} tokens: |difference| mean {gap.mean():.4f}, "
        f"max {gap.max():.4f}; AP / AUC {average_precision_score(y, one):.3f} / "
        f"{roc_auc_score(y, one):.3f} ({first}) vs {average_precision_score(y, two):.3f} / "
        f"{roc_auc_score(y, two):.3f} ({second})\n"
    )


def write_atomically(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=0))
    os.replace(tmp, path)


def fold_hook(folds: dict[str, Any], n: int) -> tuple[FoldFeatures, Matrix]:
    """The ``FoldFeatures`` hook of the fine-tuned cosine: an outer fold's training pairs get
    their cross-fitted cosines (a half's model scores the other half), its test pairs the
    cosines of the model fine-tuned on the whole training part. The whole set (the
    "threshold (all pairs)" diagnostic) gets every pair's out-of-fold cosine. Also returns
    that out-of-fold column."""
    by_test: dict[frozenset[int], dict[str, Any]] = {
        frozenset(int(i) for i in f["test"]): f for f in folds.values()
    }
    oof = np.full(n, np.nan)
    for f in folds.values():
        for i, c in f["test"].items():
            oof[int(i)] = c

    def hook(fit_idx: NDArray[np.intp], test_idx: NDArray[np.intp]) -> tuple[Matrix, Matrix]:
        if len(test_idx) == 0 and len(fit_idx) == n:
            if np.isnan(oof).any():
                raise ValueError("out-of-fold cosines are missing for some pairs")
            return oof[fit_idx][:, None], np.zeros((0, 1))
        fold = by_test.get(frozenset(int(i) for i in test_idx))
        if fold is None:
            raise ValueError("no fine-tuned cosines for this split")
        fit = np.array([fold["fit"][str(int(i))] for i in fit_idx])
        test = np.array([fold["test"][str(int(i))] for i in test_idx])
        return fit[:, None], test[:, None]

    return hook, oof


def select_finetuned(
    rows: list[tuple[str, dict[str, Any]]], min_gain: float = FT_MIN_GAIN
) -> str | None:
    """Decision 0055's rule: among R and P (rows after the baseline, row 0) with CV
    precision >= ``FT_PRECISION_FLOOR`` the highest CV recall (ties: R), adopted only if it
    beats the baseline's CV recall by >= ``min_gain`` (3 places); else None."""
    return select_named(rows, floor=FT_PRECISION_FLOOR, min_gain=min_gain, simplicity=FT_SIMPLICITY)


def table(
    train: list[dict[str, Any]], x: Matrix, tuned: dict[str, Any], min_gain: float = FT_MIN_GAIN
) -> None:
    """The baseline, R and P at ``RULE_LEVEL``, the diagnostics, the rule (only when all
    five outer folds are there; ``min_gain``: 0055's +0.05, or decision 0059's +0.03)."""
    from escalation_service.bugs.learning import RULE_LEVEL

    y = np.array([p["duplicate"] for p in train])
    folds = tuned["folds"]
    complete = len(folds) == 5
    out = sys.stdout
    if not complete:
        out.write(f"INCOMPLETE: {len(folds)} of 5 outer folds; no rule, no CV figures\n")
        return
    hook, oof = fold_hook(folds, len(train))
    nine = np.hstack([x[:, :5], x[:, 6:]])  # the 10 signals without `semantic`
    candidates: list[tuple[str, str, Matrix, FoldFeatures | None]] = [
        ("baseline", "baseline: shipped 10 signals", x, None),
        ("R", "R: fine-tuned cosine instead of semantic", nine, hook),
        ("P", "P: 10 signals + fine-tuned cosine", x, hook),
    ]
    rows = cv_table(
        out,
        y,
        [
            (key, name, partial(cross_validate, train, matrix, level=RULE_LEVEL, extra=extra))
            for key, name, matrix, extra in candidates
        ],
    )
    columns = (
        ("shipped semantic (cross-fitted)", x[:, 5]),
        (
            tuned.get("pretrained_label", "un-tuned fp32 MiniLM cosine (128 tokens)"),
            np.array(tuned["pretrained"]),
        ),
        ("fine-tuned cosine, out-of-fold", oof),
    )
    for label, column in columns:
        write_alone(out, label, column, y)
    seconds = [s for f in folds.values() for s in f["seconds"]]
    out.write(
        f"\n\nfine-tune wall seconds (half A, half B, whole per fold): "
        f"{' | '.join(', '.join(f'{s:.0f}' for s in f['seconds']) for f in folds.values())}"
        f" (total {sum(seconds):.0f})\n"
    )
    known = cross_fitted_semantic()  # the pairs the served encoder was tuned and measured on
    old = np.array([p["id"] in known for p in train])
    if not old.all():  # decision 0059: the rows' recall on those pairs alone
        out.write(f"\n\nrecall on the {old.sum()} pairs of session 12 (diagnostic):")
        for key, r in rows:
            out.write(f" {key} {(r['linked'][old] & y[old]).sum() / y[old].sum():.3f}")
        out.write("\n")
    chosen = select_finetuned(rows, min_gain)
    write_selected(out, chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("dump", "table", "encode", "crossfit", "compare"))
    parser.add_argument(
        "path", type=Path, help="dump: the file to write; table: ft cosines; else dump's file"
    )
    parser.add_argument("models", type=Path, nargs="?", help="encode, crossfit: the models")
    parser.add_argument(
        "out", type=Path, nargs="?", help="encode: the file to write; compare: a model"
    )
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--pooling", choices=("mean", "cls"), default="mean", help="the models' pooling"
    )
    parser.add_argument("--untuned", type=Path, help="encode: the un-tuned model's int8 folder")
    parser.add_argument("--seconds", type=Path, help="encode: the build's fp32_cosines.json")
    parser.add_argument(
        "--min-gain", type=float, default=FT_MIN_GAIN, help="table: the rule's recall gain"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="encode, crossfit: the cross-fit of the family parts (decision 0065), not halves",
    )
    args = parser.parse_args()
    train = training_set()
    if args.step == "dump":
        args.path.write_text(json.dumps(dump(train)))
        return
    if args.step in ("encode", "crossfit", "compare"):
        dumped = checked_pairs(args.path, train)
        if args.step == "compare":
            compare(dumped, args.models, args.out, args.max_tokens, args.pooling)
            return
        if args.step == "crossfit":
            crossfit(dumped, args.models, args.max_tokens, args.pooling, args.parts)
            return
        result = encode(dumped, args.models, args.max_tokens, args.pooling, args.parts)
        if args.untuned:
            result["pretrained"] = encoder_cosines(
                args.untuned, dumped["a"], dumped["b"], args.max_tokens, args.pooling
            ).tolist()
            result["pretrained_label"] = (
                f"un-tuned int8 {args.untuned.name} cosine ({args.max_tokens} tokens)"
            )
        built = json.loads(args.seconds.read_text()) if args.seconds else {"folds": {}}
        for k, fold in result["folds"].items():
            fold["seconds"] = built["folds"].get(k, {}).get("seconds", [])
        write_atomically(args.out, result)
        return
    tuned = json.loads(args.path.read_text())
    # the shipped signals as every fit sees them (semantic cross-fitted: decision 0058); a
    # pair the served encoder was never tuned on keeps its own cosine (decision 0059)
    signals = asyncio.run(baseline_signals(train))
    table(train, features([s for s, _ in signals]), tuned, args.min_gain)


if __name__ == "__main__":
    main()
