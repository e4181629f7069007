"""``benchmarks.dup_retrieval``'s definitions on a tiny hand-made pool (decision 0050): a
duplicate is found end to end when filing the new report would link it to any open bug of
the existing report's defect; a near-miss is a false link when filing would link it there;
a filing's link to a distractor or another defect is wrong; what pair-level scoring finds
and filing does not is counted as lost, and as lost to retrieval when no report of the
defect was even scored. Every training report files as a valid ``BugCreate`` with its
pasted error in the searched text. Never reads the held-out file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import dup_retrieval as dr
from benchmarks.dup_retrieval import Ranked, defects, filing_links, judge, report_key, summarise

THRESHOLD = 0.82
TRAIN = Path(__file__).resolve().parents[2] / "benchmarks/corpus/bug-pairs-train.jsonl"


def rep(title: str) -> dict[str, Any]:
    return {"title": title, "description": "", "steps": [], "actual": "", "error": ""}


# defect X told three times, defect Y twice (one family: X and Y are near-misses)
X1, X2, X3 = rep("export blank"), rep("white csv"), rep("empty download")
Y1, Y2 = rep("export wrong currency"), rep("csv shows dollars")


def pair(pid: str, a: dict[str, Any], b: dict[str, Any], duplicate: bool) -> dict[str, Any]:
    return {"id": pid, "duplicate": duplicate, "a": a, "b": b}


PAIRS = [
    pair("x12", X1, X2, True),
    pair("x13", X1, X3, True),
    pair("x23", X2, X3, True),
    pair("y12", Y1, Y2, True),
    pair("n1", X1, Y2, False),
    pair("n2", Y1, X3, False),
]
K = {name: report_key(r) for name, r in {"x1": X1, "x2": X2, "x3": X3, "y1": Y1, "y2": Y2}.items()}
DEFECT = defects(PAIRS)


def ranked(*items: tuple[str | None, float]) -> Ranked:
    return [(K[name] if name else None, score) for name, score in items]


def test_a_defect_is_the_reports_joined_by_duplicate_pairs_and_never_a_near_miss() -> None:
    assert DEFECT[K["x1"]] == DEFECT[K["x2"]] == DEFECT[K["x3"]]
    assert DEFECT[K["y1"]] == DEFECT[K["y2"]] != DEFECT[K["x1"]]
    # a chain joins: x1~x2 and x2~x3 make x1 and x3 one defect even without their pair
    chained = defects([pair("p", X1, X2, True), pair("q", X2, X3, True)])
    assert chained[K["x1"]] == chained[K["x3"]]


def test_a_duplicate_linked_to_another_report_of_its_defect_is_found_but_not_a_itself() -> None:
    # x3 is filed; x2 (a sibling of a = x1) tops the list above the threshold
    outcome = judge(
        PAIRS[1],
        ranked(("x2", 0.91), ("x1", 0.85), (None, 0.30)),
        DEFECT,
        threshold=THRESHOLD,
        pair_score=0.85,
    )
    assert outcome.retrieved and outcome.rank == 2 and outcome.score == 0.85
    assert outcome.linked and outcome.linked_to_defect and not outcome.linked_to_a


def test_a_duplicate_is_missed_when_the_top_is_another_defect_or_below_the_threshold() -> None:
    other = judge(
        PAIRS[1], ranked(("y1", 0.90), ("x1", 0.88)), DEFECT, threshold=THRESHOLD, pair_score=0.88
    )
    assert other.linked and not other.linked_to_defect  # filed on the near-miss: missed
    low = judge(PAIRS[1], ranked(("x1", 0.81)), DEFECT, threshold=THRESHOLD, pair_score=0.81)
    assert low.retrieved and not low.linked
    # the threshold itself links, as filing's ``score >= duplicate_threshold``
    exact = judge(PAIRS[1], ranked(("x1", 0.82)), DEFECT, threshold=THRESHOLD, pair_score=0.82)
    assert exact.linked_to_a
    unretrieved = judge(PAIRS[1], ranked((None, 0.1)), DEFECT, threshold=THRESHOLD, pair_score=0.9)
    assert not unretrieved.retrieved and unretrieved.rank is None and unretrieved.score is None
    assert not unretrieved.defect_retrieved
    nothing = judge(PAIRS[1], [], DEFECT, threshold=THRESHOLD, pair_score=0.9)
    assert not nothing.linked and not nothing.retrieved


def test_a_near_miss_linked_to_any_report_of_as_defect_is_a_false_link() -> None:
    # n1: a = x1, b = y2. Filing y2 links to x2 (x1's defect): a false link
    false = judge(PAIRS[4], ranked(("x2", 0.9)), DEFECT, threshold=THRESHOLD, pair_score=0.3)
    assert false.linked_to_defect and not false.duplicate
    # filing y2 on y1 (its own defect) is right and no false link of this pair
    right = judge(
        PAIRS[4], ranked(("y1", 0.9), ("x1", 0.5)), DEFECT, threshold=THRESHOLD, pair_score=0.3
    )
    assert right.linked and not right.linked_to_defect


def test_the_figures_of_a_pool() -> None:
    outcomes = [
        # x12: found via a itself; x13: a not retrieved although its pair scores 0.9
        judge(PAIRS[0], ranked(("x1", 0.95)), DEFECT, threshold=THRESHOLD, pair_score=0.95),
        judge(PAIRS[1], ranked((None, 0.2)), DEFECT, threshold=THRESHOLD, pair_score=0.90),
        # x23: found through x1 (a sibling of a = x2)
        judge(
            PAIRS[2],
            ranked(("x1", 0.90), ("x2", 0.89)),
            DEFECT,
            threshold=THRESHOLD,
            pair_score=0.89,
        ),
        # y12: retrieved, outranked by the near-miss x2, which is linked instead
        judge(
            PAIRS[3],
            ranked(("x2", 0.85), ("y1", 0.84)),
            DEFECT,
            threshold=THRESHOLD,
            pair_score=0.84,
        ),
        # n1 (a = x1, b = y2): filing y2 links to x2 - x1's defect - a false link
        judge(
            PAIRS[4],
            ranked(("x2", 0.85), ("y1", 0.84)),
            DEFECT,
            threshold=THRESHOLD,
            pair_score=0.4,
        ),
        # n2 (a = y1, b = x3): nothing of y's defect on top
        judge(PAIRS[5], ranked((None, 0.2)), DEFECT, threshold=THRESHOLD, pair_score=0.83),
    ]
    figures = summarise(outcomes, threshold=THRESHOLD)
    assert figures["duplicates"] == 4
    assert figures["retrieved"] == 0.75  # x13's a was not scored
    assert figures["recall_end_to_end"] == 0.5  # x12 and x23
    assert figures["recall_a_itself"] == 0.25  # x12 only
    assert figures["false_links"] == 1
    assert figures["precision_end_to_end"] == round(2 / 3, 3)
    # pair level: every duplicate pair >= 0.82 and one near-miss (n2, 0.83) too
    assert figures["pair_level"]["recall"] == 1.0
    assert figures["pair_level"]["precision"] == 0.8
    assert figures["lost"] == 2  # x13 and y12
    assert figures["lost_unretrieved"] == 1  # x13: nothing of its defect scored
    assert figures["median_rank"] == 2  # a's ranks: x12 1, x23 2, y12 2


def test_a_pair_is_listed_when_its_defect_is_in_the_top_five_above_the_suggestion_floor() -> None:
    # x13: a sibling of a (x2) is shown, below the threshold: listed, not linked
    shown = judge(
        PAIRS[1], ranked((None, 0.6), ("x2", 0.5)), DEFECT, threshold=THRESHOLD, pair_score=0.4
    )
    assert shown.listed and not shown.linked
    # sixth place, or under the floor (0.2): retrieved and scored, but not shown
    sixth = judge(
        PAIRS[1],
        ranked(*[(None, 0.9 - n / 100) for n in range(5)], ("x1", 0.5)),
        DEFECT,
        threshold=THRESHOLD,
        pair_score=0.5,
    )
    assert sixth.retrieved and not sixth.listed
    low = judge(PAIRS[1], ranked(("x1", 0.19)), DEFECT, threshold=THRESHOLD, pair_score=0.19)
    assert low.retrieved and not low.listed
    # a near-miss (y1) listed is not a's defect
    other = judge(PAIRS[1], ranked(("y1", 0.7)), DEFECT, threshold=THRESHOLD, pair_score=0.3)
    assert not other.listed
    assert summarise([shown, sixth, low, other], threshold=THRESHOLD)["listed"] == 0.25


def test_a_filing_linked_to_a_distractor_or_another_defect_is_wrong() -> None:
    searches = {
        K["x3"]: ranked(("x1", 0.9)),  # right
        K["y2"]: ranked(("x2", 0.9)),  # another defect: wrong
        K["x2"]: ranked((None, 0.95)),  # a distractor: wrong
        K["y1"]: ranked(("y2", 0.5)),  # no link
    }
    assert filing_links(searches, DEFECT, threshold=THRESHOLD) == (3, 2)


def test_pool_sizes_must_grow() -> None:
    assert dr.parse_sizes("0,1000,10000") == [0, 1000, 10000]
    with pytest.raises(argparse.ArgumentTypeError):
        dr.parse_sizes("1000,0")


def test_every_training_report_files_with_its_error_in_the_searched_text() -> None:
    pairs = [json.loads(line) for line in TRAIN.read_text().splitlines() if line.strip()]
    reports = dr.distinct_reports(pairs)
    assert len(reports) < 2 * len(pairs)  # reports recur across pairs: filed once each
    for report in reports.values():
        filed = dr.bug_report(report)  # a ValidationError here would stop the benchmark
        assert filed.force_new
        if report["error"]:
            assert report["error"] in filed.actual
