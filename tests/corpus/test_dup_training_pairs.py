"""The training pairs' signal vectors packaged with the escalation-service
(``bugs/training_pairs.json``, what ``escalation-service duplicates-refit`` fits on with the
agents' verdicts, decision 0053) are what ``python -m benchmarks.quality --fit`` computes
from the committed training pairs today: a corpus, a signal or an encoder changed without
regenerating them would leave the service refitting on stale data. Their ``semantic`` is the
cross-fitted cosine of the fine-tuned encoder (decision 0056): never its in-sample one. Only
the training part is read: the held-out file is never opened here."""

from __future__ import annotations

import json

import pytest

from benchmarks.quality import (
    CORPUS,
    cross_fitted,
    cross_fitted_semantic,
    legacy_pairs,
    read_jsonl,
    training_pairs,
    training_signals,
)
from escalation_service.bugs.learning import TRAINING_PAIRS, load_corpus_pairs
from escalation_service.bugs.similarity import SIGNALS, Signals

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]


async def test_the_packaged_training_signals_are_those_of_the_committed_pairs() -> None:
    train = read_jsonl(CORPUS / "bug-pairs-train.jsonl") + legacy_pairs()
    computed = await training_signals(train)
    fresh = training_pairs(train, [s for s, _ in computed])
    packaged = load_corpus_pairs()
    assert json.loads(TRAINING_PAIRS.read_text())["signals"] == list(SIGNALS)
    assert [p.id for p in packaged] == [p.id for p in fresh]
    assert [(p.duplicate, p.never_link) for p in packaged] == [
        (p.duplicate, p.never_link) for p in fresh
    ]
    assert sum(p.never_link for p in packaged) == sum(
        1 for p in train if p["id"].startswith("legacy-") and not p["duplicate"]
    )
    for old, new in zip(packaged, fresh, strict=True):
        assert old.signals == pytest.approx(new.signals, abs=1e-5), old.id


def test_the_cross_fitted_cosines_are_the_served_encoders_for_every_training_pair() -> None:
    """The semantic signal every fit uses for a training pair (decision 0056) was computed
    for the encoder the service runs, for exactly the committed training pairs."""
    train = read_jsonl(CORPUS / "bug-pairs-train.jsonl") + legacy_pairs()
    cosines = cross_fitted_semantic()  # refuses another encoder's file
    assert sorted(cosines) == sorted(p["id"] for p in train)
    assert all(-1.0 <= c <= 1.0 for c in cosines.values())
    duplicates = [cosines[p["id"]] for p in train if p["duplicate"]]
    different = [cosines[p["id"]] for p in train if not p["duplicate"]]
    # the tuned meaning separates them on pairs it never saw (0055: 0.647 vs 0.396)
    assert sum(duplicates) / len(duplicates) > sum(different) / len(different) + 0.15


def test_a_pair_without_a_cross_fitted_cosine_is_refused_unless_it_keeps_its_own() -> None:
    """The refit never fits a training pair on the served encoder's in-sample cosine; only
    decision 0059's table may score a pair the served encoder was never tuned on with its
    own (out-of-sample) cosine."""
    known_id, known = next(iter(cross_fitted_semantic().items()))
    own = Signals(fulltext=0.1, rank=0.2, title=0.3, title_words=0.4, error=False, semantic=0.5)
    pairs = [{"id": known_id}, {"id": "s13-unseen-00"}]
    with pytest.raises(SystemExit, match="no cross-fitted cosine"):
        cross_fitted(pairs, [(own, 0.0), (own, 0.0)])
    kept = cross_fitted(pairs, [(own, 0.0), (own, 0.0)], unseen_keep_own=True)
    assert [s.semantic for s, _ in kept] == [known, 0.5]
