"""A report's meaning as a vector: the semantic signal of duplicate detection.

Two customers describe one defect with different words ("the invoice PDF comes out blank"
vs "downloaded invoices open as empty documents"); no word-overlap signal links them. The
sentence model all-MiniLM-L6-v2 does, but it is ~90 MB of weights and a transformer run per
report. Its *static* distillation (``scripts/distil_static_embeddings.py``, model2vec-style)
keeps one vector per vocabulary token (each token passed once through the full model, PCA to
256 dims, rare tokens weighted up, int8): a text's embedding is the mean of its tokens'
vectors, normalised. That costs well under a millisecond and no torch; the 7.8 MB matrix is
memory-mapped read-only, so the service's resident memory grows only by the pages of the
tokens it has actually looked up (file-backed pages, shared with the page cache). numpy and
``tokenizers`` (~14 MiB together) are imported at the first embedding, not at start-up.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at first use: a service that files no bug never pays for them
    import numpy as np
    from numpy.typing import NDArray

MODEL_DIR = Path(__file__).resolve().parent / "static_model"
MAX_TOKENS = 4096
"""A report longer than this is embedded by its first tokens (pasted logs can be huge)."""


class StaticModel:
    """The distilled word vectors and their tokenizer (WordPiece, lower-cased)."""

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        self.manifest = json.loads((directory / "manifest.json").read_text())
        # mmap: only the rows of tokens seen are ever read into memory
        self.vectors: NDArray[np.int8] = np.load(directory / "vectors.npy", mmap_mode="r")
        self.scales: NDArray[np.float32] = np.load(directory / "scales.npy")
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # the file carries the full model's settings (pad/truncate to 128): a static model
        # embeds every token of the text and needs no padding
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    @property
    def dimensions(self) -> int:
        return int(self.vectors.shape[1])

    def embed(self, text: str) -> list[float]:
        """The unit vector of ``text`` (all zeros when it has no words)."""
        import numpy as np

        ids = self.tokenizer.encode(text, add_special_tokens=False).ids[:MAX_TOKENS]
        if not ids:
            return [0.0] * self.dimensions
        # sorted unique rows read in one gather; counts keep repeated words' weight
        unique, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        rows = np.asarray(self.vectors[unique], dtype=np.float32)
        mean = (rows * counts[:, None]).sum(axis=0) * self.scales
        norm = float(np.linalg.norm(mean))
        if norm == 0.0:
            return [0.0] * self.dimensions
        return [round(float(v), 5) for v in mean / norm]


@cache
def model() -> StaticModel:
    """The process's one model, loaded at first use (a mmap and a tokenizer)."""
    return StaticModel()


def embed(text: str) -> list[float]:
    return model().embed(text)


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    """Cosine of two unit vectors (0 when either is missing: a bug not yet embedded)."""
    if not a or not b:
        return 0.0
    import numpy as np

    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))
