"""Decision 0055's pipeline plumbing (``scripts.dup_finetune``): the dumped folds are
``cross_validate``'s outer folds with family-disjoint halves, the hook hands the training
folds their cross-fitted cosines and the test fold the whole-part model's, and the rule
adopts by the pre-registered gain. Decision 0056: the int8 exports' cosines (``encode``,
``crossfit``) come from the model that did not see each pair, by the service's ``Encoder``
at the given length. Never reads the held-out file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from escalation_service.bugs.encoder import model_dir
from scripts import dup_finetune


@pytest.fixture(scope="module")
def dumped() -> dict[str, Any]:
    return dup_finetune.dump(dup_finetune.training_set())


def test_dump_holds_the_service_texts_and_the_family_folds(dumped: dict[str, Any]) -> None:
    train = dup_finetune.training_set()
    n = len(train)
    assert len(dumped["a"]) == len(dumped["b"]) == len(dumped["duplicate"]) == n
    assert dumped["a"][0] == dup_finetune.text(train[0]["a"])
    assert all(i.startswith("legacy-") for i in dumped["ids"][-16:])
    groups = np.array(dumped["groups"])
    tests = sorted(i for f in dumped["folds"] for i in f["test"])
    assert tests == list(range(n))  # every pair is tested once
    for fold in dumped["folds"]:
        fit, test = set(fold["fit"]), set(fold["test"])
        assert fit | test == set(range(n)) and not fit & test
        assert not set(groups[list(fit)]) & set(groups[list(test)])
        half_a, half_b = (set(h) for h in fold["halves"])
        assert half_a | half_b == fit and not half_a & half_b
        assert not set(groups[list(half_a)]) & set(groups[list(half_b)])


def synthetic(n: int) -> dict[str, Any]:
    """Five folds over n pairs: the fit cosines 0.1 + i/1000, the test cosines 0.5 + i/1000."""
    folds = {}
    for k in range(5):
        test = [i for i in range(n) if i % 5 == k]
        fit = [i for i in range(n) if i % 5 != k]
        folds[str(k)] = {
            "fit": {str(i): 0.1 + i / 1000 for i in fit},
            "test": {str(i): 0.5 + i / 1000 for i in test},
            "seconds": [1.0, 1.0, 2.0],
        }
    return folds


def test_hook_gives_cross_fitted_training_and_out_of_fold_test_cosines() -> None:
    hook, oof = dup_finetune.fold_hook(synthetic(20), 20)
    test = np.array([2, 7, 12, 17])
    fit = np.array([i for i in range(20) if i % 5 != 2])
    e_fit, e_test = hook(fit, test)
    np.testing.assert_allclose(e_fit[:, 0], 0.1 + fit / 1000)
    np.testing.assert_allclose(e_test[:, 0], 0.5 + test / 1000)
    every = np.arange(20)
    e_all, e_none = hook(every, every[:0])
    np.testing.assert_allclose(e_all[:, 0], 0.5 + every / 1000)
    np.testing.assert_allclose(oof, 0.5 + every / 1000)
    assert e_none.shape == (0, 1)
    with pytest.raises(ValueError, match="no fine-tuned cosines"):
        hook(np.array([0, 1]), np.array([2, 3]))


def test_rule_needs_the_floor_and_the_gain() -> None:
    def row(name: str, precision: float, recall: float) -> tuple[str, dict[str, Any]]:
        return name, {"precision": precision, "recall": recall}

    base = row("baseline", 0.947, 0.486)
    assert dup_finetune.select_finetuned([base, row("R", 0.93, 0.536), row("P", 0.95, 0.53)]) == "R"
    assert dup_finetune.select_finetuned([base, row("R", 0.93, 0.53), row("P", 0.95, 0.53)]) is None
    assert dup_finetune.select_finetuned([base, row("R", 0.915, 0.7), row("P", 0.92, 0.6)]) == "P"
    assert dup_finetune.select_finetuned([base, row("R", 0.94, 0.6), row("P", 0.95, 0.6)]) == "R"
    # decision 0059's gain (+0.03) and its outcome: R below the floor, P without the gain
    assert dup_finetune.select_finetuned([base, row("R", 0.93, 0.516)], 0.03) == "R"
    base = row("baseline", 0.911, 0.347)
    rows = [base, row("R", 0.874, 0.354), row("P", 0.907, 0.357)]
    assert dup_finetune.select_finetuned(rows, 0.03) is None


# --- decision 0056: the int8 exports' cosines by the service's Encoder ------------------


def test_dump_splits_all_pairs_into_two_family_halves(dumped: dict[str, Any]) -> None:
    groups = np.array(dumped["groups"])
    half_a, half_b = (set(h) for h in dumped["halves"])
    assert half_a | half_b == set(range(len(groups))) and not half_a & half_b
    assert not set(groups[list(half_a)]) & set(groups[list(half_b)])


def by_folder(monkeypatch: pytest.MonkeyPatch, offsets: dict[str, float]) -> list[tuple[str, int]]:
    """``encoder_cosines`` replaced by one that tells the folders apart: the folder's offset
    + the pair's index / 1000 (the routing under test, not the encoder). The calls made."""
    calls: list[tuple[str, int]] = []

    def fake(
        folder: Path, a: list[str], b: list[str], max_tokens: int, pooling: str = "mean"
    ) -> np.ndarray:
        calls.append((folder.name, max_tokens))
        return offsets[folder.name] + np.arange(len(a)) / 1000

    monkeypatch.setattr(dup_finetune, "encoder_cosines", fake)
    return calls


def five_folds(n: int, cross_fit: Callable[[list[int]], dict[str, Any]]) -> list[dict[str, Any]]:
    """Five outer folds over n pairs (test: i % 5 == k), each with its cross-fit's split of
    the fitting part (``cross_fit(fit)``: halves or parts)."""
    folds = []
    for k in range(5):
        fit = [i for i in range(n) if i % 5 != k]
        folds.append({"fit": fit, "test": [i for i in range(n) if i % 5 == k], **cross_fit(fit)})
    return folds


def test_encode_gives_the_fold_cosines_of_the_models_that_did_not_see_the_pairs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    n = 10
    folds = five_folds(n, lambda fit: {"halves": [fit[:4], fit[4:]]})
    dumped = {"a": ["x"] * n, "b": ["y"] * n, "folds": folds}
    calls = by_folder(monkeypatch, {"half0": 0.1, "half1": 0.2, "whole": 0.5})
    out = dup_finetune.encode(dumped, tmp_path, 128)
    assert {c[1] for c in calls} == {128} and len(calls) == 15
    for k, fold in enumerate(folds):
        got = out["folds"][str(k)]
        for i in fold["halves"][0]:  # fine-tuned on half 0: scored by half 1's model
            assert got["fit"][str(i)] == pytest.approx(0.2 + i / 1000)
        for i in fold["halves"][1]:
            assert got["fit"][str(i)] == pytest.approx(0.1 + i / 1000)
        assert got["test"] == {str(i): pytest.approx(0.5 + i / 1000) for i in fold["test"]}
    assert len(out["all"]) == 15


def test_crossfit_scores_each_pair_by_the_half_that_did_not_see_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dumped = {
        "ids": [f"p{i}" for i in range(6)],
        "a": ["x"] * 6,
        "b": ["y"] * 6,
        "halves": [[0, 2, 4], [1, 3, 5]],
    }
    by_folder(monkeypatch, {"half_a": 0.1, "half_b": 0.2, "served": 0.9})
    dup_finetune.crossfit(dumped, tmp_path, 128)
    crossfit = json.loads((tmp_path / "crossfit.json").read_text())
    # half_a was fine-tuned on halves[0]: it scores halves[1], and half_b the others
    assert crossfit == {
        f"p{i}": pytest.approx((0.2 if i % 2 == 0 else 0.1) + i / 1000) for i in range(6)
    }
    served = json.loads((tmp_path / "served_cosines.json").read_text())
    assert served == {f"p{i}": pytest.approx(0.9 + i / 1000) for i in range(6)}
    assert not list(tmp_path.glob(".*.tmp"))  # written under a temporary name, renamed
    dumped["halves"] = [[0, 2], [1, 3, 5]]
    with pytest.raises(ValueError, match="cover every pair"):
        dup_finetune.crossfit(dumped, tmp_path, 128)


# --- decision 0065: the cross-fit over five family parts ----------------------------------


def test_dump_splits_each_training_part_and_all_pairs_into_five_family_parts(
    dumped: dict[str, Any],
) -> None:
    groups = np.array(dumped["groups"])
    for split, every in [(f, set(f["fit"])) for f in dumped["folds"]] + [
        (dumped, set(range(len(groups))))
    ]:
        parts = [set(p) for p in split["parts"]]
        assert len(parts) == dup_finetune.PARTS == 5
        assert set().union(*parts) == every and sum(map(len, parts)) == len(every)
        for j, part in enumerate(parts):  # no family in two parts
            rest = set().union(*(q for n, q in enumerate(parts) if n != j))
            assert not set(groups[list(part)]) & set(groups[list(rest)])


def test_encode_with_parts_scores_each_fitting_pair_by_the_part_model_that_did_not_see_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    n = 25
    folds = five_folds(n, lambda fit: {"parts": [fit[j::5] for j in range(5)]})
    dumped = {"a": ["x"] * n, "b": ["y"] * n, "folds": folds}
    offsets = {f"part{j}": 0.1 * (j + 1) for j in range(5)} | {"whole": 0.9}
    calls = by_folder(monkeypatch, offsets)
    out = dup_finetune.encode(dumped, tmp_path, 128, parts=True)
    assert len(calls) == 30 and len(out["all"]) == 30  # five parts and the whole, per fold
    for k, fold in enumerate(folds):
        got = out["folds"][str(k)]
        for j, part in enumerate(fold["parts"]):  # part j's model was fine-tuned without it
            for i in part:
                assert got["fit"][str(i)] == pytest.approx(0.1 * (j + 1) + i / 1000)
        assert got["test"] == {str(i): pytest.approx(0.9 + i / 1000) for i in fold["test"]}


def test_crossfit_with_parts_scores_each_pair_by_the_part_model_that_did_not_see_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dumped = {
        "ids": [f"p{i}" for i in range(10)],
        "a": ["x"] * 10,
        "b": ["y"] * 10,
        "parts": [[i, i + 5] for i in range(5)],
    }
    offsets = {f"part{j}": 0.1 * (j + 1) for j in range(5)} | {"served": 0.9}
    by_folder(monkeypatch, offsets)
    dup_finetune.crossfit(dumped, tmp_path, 128, parts=True)
    crossfit = json.loads((tmp_path / "crossfit.json").read_text())
    assert crossfit == {f"p{i}": pytest.approx(0.1 * (i % 5 + 1) + i / 1000) for i in range(10)}
    dumped["parts"] = [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9, 0]]  # pair 0 twice
    with pytest.raises(ValueError, match="cover every pair"):
        dup_finetune.crossfit(dumped, tmp_path, 128, parts=True)


def test_encoder_cosines_are_the_service_encoders_at_the_given_length() -> None:
    from escalation_service.bugs.encoder import Encoder

    folder = model_dir()
    a = ["Export to CSV hangs on large boards", "Login page spins forever " * 20]
    b = ["CSV export never finishes for big boards", "Login page spins forever " * 20]
    shipped = Encoder(folder)  # the service's own spec: 256 tokens
    expected = [float(shipped.vector(x) @ shipped.vector(z)) for x, z in zip(a, b, strict=True)]
    got = dup_finetune.encoder_cosines(folder, a, b, 256)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert got[1] == pytest.approx(1.0, abs=1e-5)
    short = dup_finetune.encoder_cosines(folder, a[:1], [a[0] + " on Tuesdays"], 4)
    full = dup_finetune.encoder_cosines(folder, a[:1], [a[0] + " on Tuesdays"], 256)
    assert short[0] == pytest.approx(1.0, abs=1e-5) and full[0] < 0.999  # truncated alike
