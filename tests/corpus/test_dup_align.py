"""Decision 0054's token alignment (``scripts.dup_align``) with the shipped encoder's real
ONNX session (``.local/models``, fetched by ``make install``): BERTScore F1 of a text with
itself is 1, it is symmetric, and a paraphrase scores above an unrelated report; the IDF is
fitted on the training folds' reports only; the rule adopts by the pre-registered gain.
Never reads the held-out file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from escalation_service.bugs.encoder import Encoder
from scripts import dup_align
from scripts.dup_variants import select_align

EDITOR = "Editor drops characters when typing fast\nKeystrokes vanish in the rich text editor."
PARAPHRASE = "Keystrokes get lost in the text editor if I type quickly\nSome letters never appear."
UNRELATED = "Invoice PDF export shows a blank page\nThe downloaded invoice has no content."


@pytest.fixture(scope="module")
def model() -> Encoder:
    return Encoder()


def f1(model: Encoder, a: str, b: str) -> float:
    return dup_align.bertscore(
        dup_align.token_vectors(model, a)[1], dup_align.token_vectors(model, b)[1]
    )


def test_token_vectors_are_the_word_pieces_without_cls_and_sep(model: Encoder) -> None:
    ids, vectors = dup_align.token_vectors(model, EDITOR)
    pieces = model.tokenizer.encode(EDITOR).ids
    assert pieces[0] == 101 and pieces[-1] == 102  # [CLS] ... [SEP]
    assert list(ids) == pieces[1:-1]
    assert vectors.shape == (len(pieces) - 2, model.dimensions)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_reading_the_token_vectors_leaves_the_service_vector_unchanged(model: Encoder) -> None:
    # the service's vector is still the mean of all positions (incl. [CLS]/[SEP]), unchanged
    before = model.vector(EDITOR)
    dup_align.token_vectors(model, EDITOR)
    np.testing.assert_array_equal(model.vector(EDITOR), before)
    assert abs(float(np.linalg.norm(before)) - 1.0) < 1e-5


def test_identical_texts_score_one_and_the_score_is_symmetric(model: Encoder) -> None:
    assert f1(model, EDITOR, EDITOR) == pytest.approx(1.0, abs=1e-5)
    assert f1(model, EDITOR, PARAPHRASE) == pytest.approx(f1(model, PARAPHRASE, EDITOR), abs=1e-9)
    ia, va = dup_align.token_vectors(model, EDITOR)
    ib, vb = dup_align.token_vectors(model, UNRELATED)
    idf = dup_align.fit_idf([ia, ib])
    wa, wb = dup_align.weights(ia, idf), dup_align.weights(ib, idf)
    assert dup_align.bertscore(va, vb, wa, wb) == pytest.approx(
        dup_align.bertscore(vb, va, wb, wa), abs=1e-9
    )


def test_a_paraphrase_scores_above_an_unrelated_report(model: Encoder) -> None:
    para, other = f1(model, EDITOR, PARAPHRASE), f1(model, EDITOR, UNRELATED)
    assert para > other + 0.05
    assert 0.0 < other < para < 1.0


def test_idf_is_bertscore_smoothed_and_unseen_pieces_weigh_most() -> None:
    table, unseen = dup_align.fit_idf([np.array([1, 2, 2]), np.array([2, 3])])
    assert table[2] == pytest.approx(np.log(3 / 3))  # in both reports: weight 0
    assert table[1] == pytest.approx(np.log(3 / 2))
    assert unseen == pytest.approx(np.log(3))
    assert list(dup_align.weights(np.array([1, 9]), (table, unseen))) == [table[1], unseen]


def test_the_idf_hook_fits_on_the_training_pairs_only() -> None:
    # two pairs; word pieces 7 and 8 only in the test pair's reports: unseen in the fit
    tok = {
        "a0": (np.array([5, 6]), np.eye(3, dtype=np.float32)[:2]),
        "b0": (np.array([5, 6]), np.eye(3, dtype=np.float32)[:2]),
        "a1": (np.array([5, 7]), np.eye(3, dtype=np.float32)[[0, 2]]),
        "b1": (np.array([5, 8]), np.eye(3, dtype=np.float32)[:2]),
    }
    hook = dup_align.idf_hook(["a0", "a1"], ["b0", "b1"], tok)
    fit, test = hook(np.array([0]), np.array([1]))
    assert fit[0, 0] == pytest.approx(1.0)
    # M = 2 training reports; 5 and 6 in both: weight ln(3/3) = 0, so only the unseen 7
    # and 8 count (weight ln 3), and they match nothing: F = 0, where plain F = 0.5
    assert test[0, 0] == pytest.approx(0.0)
    assert dup_align.bertscore(tok["a1"][1], tok["b1"][1]) == pytest.approx(0.5)


def row(name: str, precision: float, recall: float) -> tuple[str, dict[str, Any]]:
    return name, {"precision": precision, "recall": recall}


def test_the_rule_needs_the_floor_and_the_gain_and_prefers_the_simpler() -> None:
    base = row("baseline", 0.947, 0.486)
    assert select_align([base, row("A", 0.93, 0.536), row("B", 0.95, 0.500)]) == "A"
    assert select_align([base, row("A", 0.919, 0.700)]) is None  # below the floor
    assert select_align([base, row("A", 0.95, 0.535)]) is None  # +0.049
    assert select_align([base, row("A", 0.95, 0.540), row("B", 0.93, 0.540)]) == "B"
    assert select_align([base, row("A-idf", 0.95, 0.540), row("A", 0.93, 0.540)]) == "A"
