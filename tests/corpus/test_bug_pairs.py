"""The bug-report corpus: the committed training pairs are exactly what ``build.py`` makes of
the hand-written ``source/bugs-*.yaml`` (a source edited without rebuilding would leave the
duplicate weights fitted on stale pairs), and every family has the shape the pair rules
assume. Only the training part is read: the held-out file is never opened here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "benchmarks/corpus"


def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_build", CORPUS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_training_pairs_are_the_build_of_the_sources() -> None:
    train, _ = build_module().bug_pairs()
    built = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in train)
    assert (CORPUS / "bug-pairs-train.jsonl").read_text() == built


def test_every_family_is_two_defects_each_reported_two_or_three_times() -> None:
    names: list[str] = []
    for path in sorted((CORPUS / "source").glob("bugs-*.yaml")):
        for family in yaml.safe_load(path.read_text()):
            names.append(family["family"])
            defects = family["bugs"]
            assert len(defects) == 2, family["family"]
            titles = [report["title"] for defect in defects for report in defect]
            assert all(2 <= len(defect) <= 3 for defect in defects), family["family"]
            # each occurrence is a different person's report: never the same title twice
            assert len(set(titles)) == len(titles), family["family"]
    # pair ids are "<family>-<n>": a repeated name would give two pairs one id
    assert len(set(names)) == len(names)
