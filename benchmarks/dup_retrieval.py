"""Duplicate detection measured end to end, as filing does it (issue #17, decision 0050).

    uv run --frozen python -m benchmarks.dup_retrieval --split train
    uv run --frozen python -m benchmarks.dup_retrieval --split train --sizes 0,1000

``make bench-quality`` scores every labelled pair directly (``repository.pair_signals``):
its recall assumes the existing report is always among the candidates. Filing does not
score every open bug: ``repository.duplicate_candidates`` first retrieves at most
``RETRIEVED`` (50) open bugs lexically (a shared word - since decision 0052 only the
report's rarer words are matched once the table is large, the matches still ranked by
``ts_rank`` over all its words; a shared error fingerprint; a title trigram similarity
> 0.3) and scores only those; the embedding (the semantic signal) never retrieves. This
measures what that costs, and how long the search takes.

In a throwaway migrated escalation database, every distinct report of the split's pairs is
filed as a bug by the service's own ``filing.file_report`` (``force_new``: the columns the
search reads - the generated ``search`` tsvector, ``error_fingerprints``, ``embedding``,
``symptom_slots`` - are written exactly as filing writes them). Then word-salad distractor
bugs (``benchmarks.scale.bug_chunk``, by COPY) are added, cumulatively, to each pool size.
For every pair (a existing, b new) the new report b searches the pool as filing would
(``duplicate_candidates(probe=b, min_score=0, limit=RETRIEVED, exclude_id=b's own bug)``:
b is in the pool as a report of other pairs, and excluding it is the same search as never
having filed it). Recorded: whether a was retrieved, a's rank and score, and what filing
does at the shipped threshold: link to the TOP candidate if its score >= threshold.

Definitions (fixed before measuring):
- a report's **defect** is its duplicate group: the reports joined to it by duplicate pairs
  (transitively). In the corpus a defect has 2-3 reports, all in the pool.
- a duplicate pair is **found end to end** when filing b would link it to a report of a's
  defect (the top candidate is one and scores >= threshold). Not "a itself": the pool holds
  every report of a defect as a separate open bug only because the benchmark files them all
  (in the service the second report would have been linked to the first); a ticket landing
  on any open bug of its defect is a right link. Found "a itself" is printed too.
- a near-miss pair is a **false link** when the top candidate of b scores >= threshold and
  is a report of a's defect; precision = found / (found + false links), pair-weighted like
  ``bench-quality``'s.
- per distinct new report (a filing): a **link** is a top candidate >= threshold; it is
  **wrong** unless that candidate is a report of b's own defect (a distractor, a near-miss
  of another defect or of another family all count as wrong).
- a duplicate pair is **listed** when a report of a's defect is among the candidates
  filing returns to the filer: the top ``LISTED`` (5, filing's default ``limit``) scoring
  >= ``filing.SUGGEST_FLOOR`` (0.2) - what an agent sees to merge by hand when b is not
  auto-linked (the human-review path; decision 0052). Counted whatever the top candidate
  is: a listed pair may also be linked, rightly or not.

Run only ``--split train`` while working; the held-out split is the lead's, once. The
distractors never come from the other split: a held-out run must not see training reports
as bugs, nor the reverse. Latency (``duplicate_candidates`` per probe, the probe's
embedding computed before timing, as filing computes it before taking the lock) is
indicative: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from benchmarks import quality, scale
from escalation_service.bugs import repository
from escalation_service.bugs.schemas import BugCreate, EnvironmentIn
from escalation_service.bugs.service import filing
from escalation_service.bugs.service.common import Context
from escalation_service.bugs.service.filing import SUGGEST_FLOOR
from escalation_service.config import EscalationSettings
from servicekit.db import Database
from servicekit.testing import drop_database, migrated_database

SPLITS = {
    "train": quality.CORPUS / "bug-pairs-train.jsonl",
    "heldout": quality.CORPUS / "bug-pairs-heldout.jsonl",
}
SIZES = (0, 1_000, 10_000, 100_000)
LISTED = 5
"""Candidates filing lists to the filer (``duplicate_candidates``' default ``limit``)."""
DISTRACTOR_SEED = 17
"""The distractors' generator seed (any fixed value: the same pool on every run)."""
TENANT = "5a1e0c2e-0000-4000-8000-00000000d0b1"
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
OUT = quality.OUT
say = quality.say


# --- the pure part: defects, outcomes, figures ------------------------------------------


def report_key(report: dict[str, Any]) -> str:
    """One report's identity: its whole content (two pairs may carry the same report)."""
    return json.dumps(report, sort_keys=True, ensure_ascii=False)


def distinct_reports(pairs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every report of the pairs once, by key, in order of first appearance."""
    found: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        for side in ("a", "b"):
            found.setdefault(report_key(pair[side]), pair[side])
    return found


def defects(pairs: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Report key -> its defect (a representative key): the connected components of the
    duplicate pairs. A report in no duplicate pair is a defect of its own."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for pair in pairs:
        a, b = root(report_key(pair["a"])), root(report_key(pair["b"]))
        if pair["duplicate"] and a != b:
            parent[max(a, b)] = min(a, b)
    return {key: root(key) for key in list(parent)}


@dataclass(frozen=True)
class Outcome:
    """One labelled pair, as filing its new report b would go."""

    pair_id: str
    duplicate: bool
    retrieved: bool
    """a is among the candidates ``duplicate_candidates`` scored at all."""
    rank: int | None
    """a's place among them (1: the top), None when not retrieved."""
    score: float | None
    """a's score there (the same as the pair's, when retrieved)."""
    defect_retrieved: bool
    """some report of a's defect is among the candidates."""
    linked: bool
    """the top candidate scores >= threshold: filing links b to it."""
    linked_to_defect: bool
    """... and it is a report of a's defect."""
    linked_to_a: bool
    """... and it is a itself."""
    listed: bool
    """a report of a's defect is among the top ``LISTED`` candidates >= ``SUGGEST_FLOOR``."""
    pair_score: float
    """the pair's own score (``pair_signals``, as ``bench-quality`` computes it)."""


Ranked = Sequence[tuple[str | None, float]]
"""A search's candidates, best first: (report key, or None for a distractor; score)."""


def judge(
    pair: dict[str, Any],
    candidates: Ranked,
    defect_of: dict[str, str],
    *,
    threshold: float,
    pair_score: float,
) -> Outcome:
    """What filing b does with this pair's a, given the search's scored candidates."""
    a = report_key(pair["a"])
    defect = defect_of.get(a, a)
    keys = [key for key, _ in candidates]
    rank = keys.index(a) + 1 if a in keys else None
    top_key, top_score = candidates[0] if candidates else (None, 0.0)
    linked = bool(candidates) and top_score >= threshold
    in_defect = top_key is not None and defect_of.get(top_key, top_key) == defect
    shown = [key for key, score in candidates if score >= SUGGEST_FLOOR][:LISTED]
    return Outcome(
        pair_id=pair["id"],
        duplicate=bool(pair["duplicate"]),
        retrieved=rank is not None,
        rank=rank,
        score=candidates[rank - 1][1] if rank is not None else None,
        defect_retrieved=any(k is not None and defect_of.get(k, k) == defect for k in keys),
        linked=linked,
        linked_to_defect=linked and in_defect,
        linked_to_a=linked and top_key == a,
        listed=any(k is not None and defect_of.get(k, k) == defect for k in shown),
        pair_score=pair_score,
    )


def filing_links(
    searches: dict[str, Ranked], defect_of: dict[str, str], *, threshold: float
) -> tuple[int, int]:
    """(links, wrong links) over the distinct new reports: a filing links to its top
    candidate >= threshold, rightly only when that is a report of its own defect."""
    links = wrong = 0
    for probe_key, candidates in searches.items():
        if candidates and candidates[0][1] >= threshold:
            links += 1
            top = candidates[0][0]
            own = defect_of.get(probe_key, probe_key)
            wrong += top is None or defect_of.get(top, top) != own
    return links, wrong


def summarise(outcomes: Sequence[Outcome], *, threshold: float) -> dict[str, Any]:
    """The figures of one pool size: retrieval, end-to-end and pair-level recall and
    precision over the same pairs."""
    dup = [o for o in outcomes if o.duplicate]
    near = [o for o in outcomes if not o.duplicate]
    n = len(dup) or 1
    found = sum(o.linked_to_defect for o in dup)
    false_links = sum(o.linked_to_defect for o in near)
    truth = np.array([o.duplicate for o in outcomes], dtype=bool)
    pair_level = quality.prf(truth, np.array([o.pair_score for o in outcomes]), threshold)
    ranks = [o.rank for o in dup if o.rank is not None]
    return {
        "pairs": len(outcomes),
        "duplicates": len(dup),
        "retrieved": round(sum(o.retrieved for o in dup) / n, 3),
        "defect_retrieved": round(sum(o.defect_retrieved for o in dup) / n, 3),
        "median_rank": statistics.median(ranks) if ranks else None,
        "recall_end_to_end": round(found / n, 3),
        "recall_a_itself": round(sum(o.linked_to_a for o in dup) / n, 3),
        "listed": round(sum(o.listed for o in dup) / n, 3),
        "found": found,
        "false_links": false_links,
        "precision_end_to_end": round(found / (found + false_links), 3)
        if found + false_links
        else 1.0,
        "pair_level": pair_level,
        # the duplicates pair-level scoring links and filing does not: lost, and why
        "lost": sum(o.pair_score >= threshold and not o.linked_to_defect for o in dup),
        "lost_unretrieved": sum(
            o.pair_score >= threshold and not o.linked_to_defect and not o.defect_retrieved
            for o in dup
        ),
    }


# --- the pool ---------------------------------------------------------------------------


def bug_report(report: dict[str, Any]) -> BugCreate:
    """A corpus report as filed: the pasted error in the actual result (as
    ``quality.probe`` has it, so the stored bug and the pair-level probe are the same
    text); the environment is not searched and is kept as far as the schema has fields."""
    env = report.get("environment", {})
    extra = {str(k): str(v) for k, v in env.items() if k not in ("browser", "os", "app_version")}
    extra.pop("tenant_configuration", None)
    return BugCreate(
        tenant_id=TENANT,
        title=report["title"],
        summary=report["description"],
        steps=list(report["steps"]),
        actual=quality.probe(report).actual,
        environment=EnvironmentIn(
            browser=env.get("browser"),
            os=env.get("os"),
            app_version=env.get("app_version"),
            tenant_configuration={**env.get("tenant_configuration", {}), **extra},
        ),
        force_new=True,
    )


async def file_reports(
    db: Database, reports: dict[str, dict[str, Any]], *, threshold: float
) -> dict[str, uuid.UUID]:
    """Each report filed through ``filing.file_report``; report key -> its bug id."""
    ids: dict[str, uuid.UUID] = {}
    ctx = Context(actor_id="bench-dup-retrieval", now=NOW)
    for key, report in reports.items():
        async with db.unit_of_work() as session:
            result = await filing.file_report(
                session, report=bug_report(report), ctx=ctx, duplicate_threshold=threshold
            )
            assert result.outcome == "created"
            ids[key] = result.bug.id
    return ids


def _distractor_chunk(offset: int, count: int, seed: int, first: int, size: int) -> scale.Chunk:
    # rows numbered from ``offset``: each pool size adds new rows (own ids), never again
    return scale.bug_chunk(count, seed, offset + first, size)


async def add_distractors(url: str, have: int, want: int) -> float:
    """Word-salad open bugs ``have`` .. ``want`` by COPY (no embedding, fingerprint or
    slots: they compete for the retrieved places, hardly for the top); seconds taken."""
    started = time.perf_counter()
    async with scale.bulk_load(url, "bugs"):
        await scale.parallel_copy(
            url,
            functools.partial(_distractor_chunk, have),
            want - have,
            seed=DISTRACTOR_SEED,
            workers=1,  # a shared machine: one core for the generation
        )
    conn = await asyncpg.connect(scale.asyncpg_dsn(url))
    try:
        await conn.execute("VACUUM ANALYZE bugs")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def search_all(
    db: Database,
    probes: dict[str, repository.Probe],
    ids: dict[str, uuid.UUID],
) -> tuple[dict[str, Ranked], list[float]]:
    """Every new report's search as filing runs it (b itself excluded): the scored
    candidates by report key, and the milliseconds each search took."""
    by_id = {bug_id: key for key, bug_id in ids.items()}
    searches: dict[str, Ranked] = {}
    took: list[float] = []
    for key, probe in probes.items():
        async with db.unit_of_work() as session:
            started = time.perf_counter()
            found = await repository.duplicate_candidates(
                session,
                probe=probe,
                min_score=0.0,
                limit=repository.RETRIEVED,
                exclude_id=ids[key],
            )
            took.append((time.perf_counter() - started) * 1000)
        searches[key] = [(by_id.get(c.bug.id), c.score) for c in found]
    return searches, took


async def measure(split: str, sizes: Sequence[int]) -> dict[str, Any]:
    pairs = quality.read_jsonl(SPLITS[split])
    threshold = EscalationSettings().duplicate_threshold
    reports = distinct_reports(pairs)
    defect_of = defects(pairs)
    name, url = await migrated_database("bench_dupretr", quality.ESCALATION_MIGRATIONS)
    db = Database(url)
    rows: list[dict[str, Any]] = []
    outcomes_by_size: dict[int, list[Outcome]] = {}
    try:
        started = time.perf_counter()
        ids = await file_reports(db, reports, threshold=threshold)
        say(
            f"{len(ids)} distinct reports of {len(pairs)} {split} pairs filed in "
            f"{time.perf_counter() - started:.1f} s; auto-link threshold {threshold}"
        )
        pair_scores = [s.score() for s, _ in await quality.pair_signals(db, pairs)]
        probes = {report_key(p["b"]): quality.probe(p["b"]) for p in pairs}
        for probe in probes.values():
            await repository.embedded(probe)
        have = 0
        for size in sizes:
            seeded = await add_distractors(url, have, size) if size > have else 0.0
            have = max(have, size)
            searches, took = await search_all(db, probes, ids)
            outcomes = [
                judge(
                    pair,
                    searches[report_key(pair["b"])],
                    defect_of,
                    threshold=threshold,
                    pair_score=score,
                )
                for pair, score in zip(pairs, pair_scores, strict=True)
            ]
            # the stored bug is the pair's report: a retrieved a scores as its pair does
            mismatched = sum(
                o.score is not None and abs(o.score - round(o.pair_score, 3)) > 0.0015
                for o in outcomes
            )
            links, wrong = filing_links(searches, defect_of, threshold=threshold)
            row = {
                "distractors": size,
                "open_bugs": len(ids) + size,
                **summarise(outcomes, threshold=threshold),
                "probes": len(probes),
                "filing_links": links,
                "filing_wrong_links": wrong,
                "score_mismatches": mismatched,
                "p50_ms": round(scale.percentile(took, 0.50), 1),
                "p99_ms": round(scale.percentile(took, 0.99), 1),
                "seed_seconds": round(seeded, 1),
            }
            rows.append(row)
            outcomes_by_size[size] = outcomes
            say_row(row)
        return {
            "split": split,
            "threshold": threshold,
            "retrieved_per_search": repository.RETRIEVED,
            "rows": rows,
            # per pool size: to compare two runs pair by pair
            "outcomes": {
                str(size): [asdict(o) for o in found] for size, found in outcomes_by_size.items()
            },
        }
    finally:
        await db.dispose()
        await drop_database(name)


def say_row(row: dict[str, Any]) -> None:
    pl = row["pair_level"]
    say(
        f"{row['distractors']:>7} distractors ({row['open_bugs']} open bugs): "
        f"a retrieved {row['retrieved']:.3f} (defect {row['defect_retrieved']:.3f}, "
        f"median rank {row['median_rank']}), "
        f"recall end to end {row['recall_end_to_end']:.3f} (a itself "
        f"{row['recall_a_itself']:.3f}) vs pair-level {pl['recall']:.3f}; "
        f"listed {row['listed']:.3f}; "
        f"false links {row['false_links']}, precision {row['precision_end_to_end']:.3f} "
        f"vs pair-level {pl['precision']:.3f}; lost {row['lost']} "
        f"(unretrieved {row['lost_unretrieved']}); filings linked {row['filing_links']}/"
        f"{row['probes']} (wrong {row['filing_wrong_links']}); "
        f"search p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms; "
        f"score mismatches {row['score_mismatches']}; seeded in {row['seed_seconds']} s"
    )


def table(result: dict[str, Any]) -> None:
    say()
    say(
        f"== {result['split']} split: {result['rows'][0]['pairs']} pairs "
        f"({result['rows'][0]['duplicates']} duplicates), threshold {result['threshold']}, "
        f"{result['retrieved_per_search']} retrieved per search =="
    )
    head = [
        "distractors", "a retrieved", "defect retr.", "recall e2e", "(a itself)",
        "recall pair", "listed", "false links", "prec. e2e", "prec. pair", "lost (unretr.)",
        "wrong filings", "p50 ms", "p99 ms",
    ]  # fmt: skip
    rows = [head]
    for r in result["rows"]:
        pl = r["pair_level"]
        rows.append(
            [
                f"{r['distractors']:,}",
                f"{r['retrieved']:.3f}",
                f"{r['defect_retrieved']:.3f}",
                f"{r['recall_end_to_end']:.3f}",
                f"{r['recall_a_itself']:.3f}",
                f"{pl['recall']:.3f}",
                f"{r['listed']:.3f}",
                str(r["false_links"]),
                f"{r['precision_end_to_end']:.3f}",
                f"{pl['precision']:.3f}",
                f"{r['lost']} ({r['lost_unretrieved']})",
                f"{r['filing_wrong_links']}/{r['filing_links']}",
                f"{r['p50_ms']}",
                f"{r['p99_ms']}",
            ]
        )
    quality.table(rows)


def parse_sizes(value: str) -> list[int]:
    sizes = [int(v) for v in value.split(",") if v.strip()]
    if not sizes or sizes != sorted(sizes) or sizes[0] < 0:
        raise argparse.ArgumentTypeError("sizes: non-negative, ascending (the pool grows)")
    return sizes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(SIZES),
        help="distractor counts, ascending, cumulative in one database (default: %(default)s)",
    )
    args = parser.parse_args()
    result = await measure(args.split, args.sizes)
    table(result)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"dup_retrieval-{args.split}.json"
    path.write_text(json.dumps(result, indent=1))
    say(f"figures: {path}")


if __name__ == "__main__":
    asyncio.run(main())
