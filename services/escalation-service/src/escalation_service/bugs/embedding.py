"""A report's meaning as a vector: the semantic signal of duplicate detection.

Two customers describe one defect with different words ("Editor drops characters when
typing fast" vs "keystrokes lost in the editor"); no word-overlap signal links them. A
sentence encoder does: ``bugs.encoder`` runs all-MiniLM-L6-v2 fine-tuned on the labelled
duplicate pairs (int8 ONNX shipped inside the package; decisions 0041, 0055, 0057) over the
whole report - title, description, steps and actual result with pasted logs - and gives a
384-dim unit vector, stored as ``bugs.embedding`` with the encoder's name
(``bugs.embedding_model``) and compared by PostgreSQL (a dot product) with each candidate's
of the same encoder. It replaced the static MiniLM word vectors of decision 0033: by
cross-validation on the training pairs it finds more reworded duplicates at the same
precision.

The encoder costs ~2-10 ms of CPU per report, so callers on the event loop use
``embed_async`` or ``off_loop`` (one worker thread). onnxruntime, numpy and ``tokenizers``
are imported at the first embedding, not at start-up: a service that files no bug never
pays for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from escalation_service.bugs.encoder import MODEL, encoder

DIMENSIONS = MODEL.dimensions
EMBEDDING_MODEL = MODEL.name
"""The encoder's name stored with every embedding (``bugs.embedding_model``)."""
T = TypeVar("T")

# One worker thread for every embedding of the process: the session runs one thread anyway,
# and a single thread keeps one malloc arena (each new thread would get its own and keep
# its peak buffers: ~20 MiB more after 100 filings when run on the default executor).
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")


async def off_loop(fn: Callable[[], T]) -> T:
    """``fn()`` (an embedding) in the encoder's worker thread, so the event loop serves
    other requests meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_WORKER, fn)


def embed(text: str) -> list[float]:
    """The unit vector of ``text`` (blocking: a few ms of CPU)."""
    return encoder().embed(text)


async def embed_async(text: str) -> list[float]:
    """``embed`` off the event loop, so other requests go on meanwhile."""
    return await off_loop(lambda: embed(text))


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    """Cosine of two unit vectors (0 when either is missing: a bug not yet embedded)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(sum(x * y for x, y in zip(a, b, strict=True)))
