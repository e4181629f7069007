"""Decision 0055's pipeline plumbing (``scripts.dup_finetune``): the dumped folds are
``cross_validate``'s outer folds with family-disjoint halves, the hook hands the training
folds their cross-fitted cosines and the test fold the whole-part model's, and the rule
adopts by the pre-registered gain. Never reads the held-out file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

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
