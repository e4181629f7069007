"""Every query on bugs, links, history and reproductions."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, cast, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.embedding import EMBEDDING_MODEL, embed, off_loop
from escalation_service.bugs.similarity import (
    SHIPPED,
    SIGNALS,
    DuplicateModel,
    Signals,
    disjoint,
    document,
    error_fingerprints,
    report_slots,
)
from escalation_service.models import (
    Bug,
    BugHistory,
    BugLink,
    DuplicateModelVersion,
    DuplicateVerdict,
    Reproduction,
)
from servicekit.pagination import PageParams, paginate

FILING_LOCK_KEY = 0x4553_4331_4649_4C45
"""Transaction-level advisory lock serialising filing (duplicate search + insert)."""
RETRIEVED = 50
"""Open bugs scored per search: those the report's words, title or error fingerprint find."""
MATCH_BUDGET = 2_000
"""Bugs the search's word arm may match, as PostgreSQL's statistics estimate them (decision
0052): the report's rare words are always matched, its common ones rarest first until
their estimated bugs would pass this; the matches are then ranked by ALL the report's
words, as before. A word most bugs carry ("page", "error") seldom finds a duplicate the
rarer ones miss (on the training pairs at 100k open bugs: more duplicates retrieved, not
fewer), and ranking every bug carrying it cost ~1 s at 100k open bugs."""
MATCH_TERMS_KEPT = 3
"""At least this many of a report's words (its rarest) are matched, however common."""
TITLE_SIMILARITY = 0.3
"""A title this trigram-similar (``pg_trgm``) to the report's is retrieved whatever its words."""


@dataclass(frozen=True)
class Probe:
    """A report compared with open bugs: its parts, as the filer wrote them."""

    title: str
    description: str = ""
    steps: tuple[str, ...] = ()
    actual: str = ""

    @property
    def body(self) -> str:
        return "\n".join([self.description, "\n".join(self.steps), self.actual])

    @property
    def fingerprints(self) -> list[str]:
        return error_fingerprints(self.title, self.description, "\n".join(self.steps), self.actual)

    @cached_property  # as the embedding: compared with every candidate, then stored
    def slots(self) -> list[str]:
        """The symptom classes and file formats it names (``bugs.symptom_slots``)."""
        return report_slots(
            title=self.title, description=self.description, steps=self.steps, actual=self.actual
        )

    @cached_property  # computed once per probe: searched with, then stored on the new bug
    def embedding(self) -> list[float]:
        """The report's meaning as a unit vector (``bugs.embedding``). Blocking (the
        encoder runs a few ms): on the event loop, ``await embedded(probe)`` first."""
        return embed(
            document(
                title=self.title, description=self.description, steps=self.steps, actual=self.actual
            )
        )


async def embedded(probe: Probe) -> Probe:
    """``probe`` with its embedding computed in a worker thread, so the event loop serves
    other requests meanwhile (a no-op when it is computed already)."""
    if "embedding" not in probe.__dict__:  # cached_property keeps its value there
        await off_loop(lambda: probe.embedding)
    return probe


@dataclass(frozen=True)
class Candidate:
    bug: Bug
    score: float
    reasons: list[str] = field(default_factory=list)


# The probe's document, weighted like ``bugs.search`` (title A, the rest B), and a query
# matching ANY of its words (plainto_tsquery ANDs them; a duplicate shares many, not all).
_PROBE = """
    SELECT setweight(to_tsvector('english', :title), 'A')
           || setweight(to_tsvector('english', :body), 'B') AS tv,
           CAST(replace(CAST(plainto_tsquery('english', :title || ' ' || :body) AS text),
                        ' & ', ' | ') AS tsquery) AS q,
           lower(:title) AS title,
           CAST(:fps AS varchar[]) AS fps,
           CAST(:emb AS real[]) AS emb,
           CAST(:emb_model AS varchar) AS emb_model
"""


# Each distinct word (lexeme) of the probe with the share of bugs carrying it, from the
# statistics ANALYZE (autovacuum) keeps on ``bugs.search``: its most common lexemes and
# their frequencies (NULL: not among them), and the bugs counted then (-1: never
# analysed). No row of statistics (a fresh or truncated table): ``analysed`` is false.
_TERMS = """
    WITH stats AS (
        SELECT CAST(CAST(s.most_common_elems AS text) AS text[]) AS elems,
               s.most_common_elem_freqs AS freqs
        FROM pg_stats s
        WHERE s.schemaname = current_schema() AND s.tablename = 'bugs'
              AND s.attname = 'search' AND s.most_common_elems IS NOT NULL
    ), listed AS (
        SELECT f.elem, f.freq FROM stats, unnest(stats.elems, stats.freqs) AS f(elem, freq)
    )
    SELECT t.lexeme, listed.freq, EXISTS (SELECT FROM stats) AS analysed,
           (SELECT c.reltuples FROM pg_class c WHERE c.oid = CAST('bugs' AS regclass)) AS bugs
    FROM unnest(tsvector_to_array(to_tsvector('english', :title || ' ' || :body))) AS t(lexeme)
    LEFT JOIN listed ON listed.elem = t.lexeme
"""


def match_terms(
    estimates: Mapping[str, float | None],
    *,
    bugs: float,
    budget: int = MATCH_BUDGET,
    kept: int = MATCH_TERMS_KEPT,
) -> list[str] | None:
    """The lexemes the word arm matches. ``estimates``: lexeme -> the bugs carrying it by
    the statistics, None when it is not among their most common lexemes (rarer than any
    listed one: always matched). The common ones are added rarest first while the bugs
    they are estimated to match (summed as if none overlapped) stay within ``budget``; at
    least the ``kept`` rarest are matched. None: every lexeme, the query as before - when
    the table holds no more bugs than the budget or no lexeme is left out."""
    if bugs <= budget:
        return None
    chosen = sorted(lexeme for lexeme, rows in estimates.items() if rows is None)
    common = sorted(
        ((rows, lexeme) for lexeme, rows in estimates.items() if rows is not None),
    )
    total = 0.0
    for rows, lexeme in common:
        if len(chosen) >= kept and total + rows > budget:
            break
        chosen.append(lexeme)
        total += rows
    return None if len(chosen) == len(estimates) else chosen


async def search_terms(session: AsyncSession, probe: Probe) -> list[str] | None:
    """``match_terms`` by the statistics PostgreSQL keeps on ``bugs.search``; None (every
    word, as before) when there are none yet: a table never analysed (or truncated since)."""
    rows = (await session.execute(text(_TERMS), {"title": probe.title, "body": probe.body})).all()
    if not rows or not rows[0].analysed or rows[0].bugs is None or rows[0].bugs < 0:
        return None
    bugs = float(rows[0].bugs)
    return match_terms(
        {r.lexeme: None if r.freq is None else bugs * float(r.freq) for r in rows}, bugs=bugs
    )


def _tsquery(lexemes: list[str]) -> str:
    """``lexemes`` OR-ed, as ``tsquery`` input: each quoted verbatim (no normalisation)."""
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)
    return " | ".join(quoted)


def retrieval(
    probe: Probe, *, terms: list[str] | None, exclude_id: uuid.UUID | None = None
) -> tuple[str, dict[str, Any]]:
    """The search's SQL and parameters: the open bugs matching ``terms`` (None: any word
    of the report), a close title or a shared error fingerprint, the ``RETRIEVED`` sharing
    most words with the report (``ts_rank`` over ALL its words), each with its signals."""
    words = "probe.q" if terms is None else "CAST(:match AS tsquery)"
    found = (
        " SELECT b.id, b.title, b.search, b.error_fingerprints, b.embedding, b.embedding_model,"
        " b.symptom_slots"
        " FROM bugs b, probe"
        " WHERE b.status NOT IN ('closed', 'wont_fix') AND b.duplicate_of_id IS NULL"
        " AND (CAST(:exclude AS uuid) IS NULL OR b.id <> :exclude)"
        f" AND (b.search @@ {words} OR b.error_fingerprints && probe.fps"
        "      OR (lower(b.title) % probe.title"
        f"          AND similarity(lower(b.title), probe.title) > {TITLE_SIMILARITY}))"
        f" ORDER BY ts_rank(b.search, probe.q) DESC, b.id LIMIT {RETRIEVED}"
    )
    params = {**_params(probe), "exclude": exclude_id}
    if terms is not None:
        params["match"] = _tsquery(terms)
    # the candidate CTE reads the probe CTE: both are defined in one WITH
    return _signals_sql(found), params


def _dot(a: str, b: str) -> str:
    """SQL for the dot product of two ``real[]`` columns: the cosine of two unit vectors
    (0 when either is missing)."""
    return f"coalesce((SELECT sum(x * y) FROM unnest({a}, {b}) AS v(x, y)), 0)"


def _signals_sql(candidates: str) -> str:
    """The signals of ``similarity.Signals`` for every row of ``candidates`` (which yields
    id, title, search, error_fingerprints, embedding, embedding_model and symptom_slots)
    against the probe; the slot conflicts are decided in Python (``_signals``) from the
    returned slots. A candidate embedded by another encoder than the probe's scores
    semantic 0, as one not embedded: vectors of two encoders are never compared."""
    return f"""
    WITH probe AS ({_PROBE}), cand AS ({candidates})
    SELECT cand.id,
           coalesce(2.0 * cardinality(ARRAY(
               SELECT unnest(tsvector_to_array(cand.search))
               INTERSECT SELECT unnest(tsvector_to_array(probe.tv))))
             / nullif(length(cand.search) + length(probe.tv), 0), 0) AS fulltext,
           ts_rank(cand.search, probe.q) AS rank,
           similarity(lower(cand.title), probe.title) AS title,
           coalesce(2.0 * cardinality(ARRAY(
               SELECT unnest(tsvector_to_array(to_tsvector('english', cand.title)))
               INTERSECT SELECT unnest(tsvector_to_array(to_tsvector('english', probe.title)))))
             / nullif(length(to_tsvector('english', cand.title))
                      + length(to_tsvector('english', probe.title)), 0), 0) AS title_words,
           cand.error_fingerprints && probe.fps AS error,
           -- counter-evidence: both carry error messages and none is the same
           (cardinality(cand.error_fingerprints) > 0 AND cardinality(probe.fps) > 0
            AND NOT cand.error_fingerprints && probe.fps) AS error_conflict,
           cand.symptom_slots,
           -- both are unit vectors: the dot product is the cosine (0: not embedded yet, or
           -- by another encoder until `escalation-service reembed` has re-embedded it)
           CASE WHEN cand.embedding_model = probe.emb_model
                THEN {_dot("cand.embedding", "probe.emb")} ELSE 0 END AS semantic
    FROM cand, probe
    """


def _params(probe: Probe) -> dict[str, Any]:
    return {
        "title": probe.title,
        "body": probe.body,
        "fps": probe.fingerprints,
        "emb": probe.embedding,
        "emb_model": EMBEDDING_MODEL,
    }


_SLOT_KINDS = {
    "symptom:": "different symptom",
    "format:": "different format",
    "operation:": "different operation",
}


def _differing(probe: Probe, theirs: list[str]) -> tuple[str, ...]:
    """The counter-evidence as reasons: "different symptom: blank vs server_error"."""
    found = []
    for kind, label in _SLOT_KINDS.items():
        if disjoint(probe.slots, theirs, kind):
            mine = ", ".join(s.removeprefix(kind) for s in probe.slots if s.startswith(kind))
            other = ", ".join(s.removeprefix(kind) for s in theirs if s.startswith(kind))
            found.append(f"{label}: {mine} vs {other}")
    return tuple(found)


def _signals(row: Any, probe: Probe) -> Signals:
    theirs = list(row.symptom_slots or [])
    differing = _differing(probe, theirs)
    if row.error_conflict:
        differing += ("different error message",)
    return Signals(
        fulltext=float(row.fulltext),
        rank=float(row.rank),
        title=float(row.title),
        title_words=float(row.title_words),
        error=bool(row.error),
        semantic=float(row.semantic),
        error_conflict=bool(row.error_conflict),
        # ``symptom_conflict``, ``format_conflict``, ``operation_conflict``
        **{f"{kind[:-1]}_conflict": disjoint(probe.slots, theirs, kind) for kind in _SLOT_KINDS},
        differing=differing,
    )


async def duplicate_candidates(
    session: AsyncSession,
    *,
    probe: Probe,
    min_score: float,
    limit: int = 5,
    exclude_id: uuid.UUID | None = None,
    model: DuplicateModel = SHIPPED,
) -> list[Candidate]:
    """Open bugs scoring at least ``min_score`` against ``probe`` (by ``model``'s weights),
    best first.

    PostgreSQL finds the bugs sharing one of the report's rarer words (``match_terms``; GIN
    on ``search``), a close title (trigram GIN on ``lower(title)``) or an error fingerprint
    (GIN), keeps the ``RETRIEVED`` that share most words with it (``ts_rank`` over all its
    words), and computes each one's signals."""
    await embedded(probe)
    terms = await search_terms(session, probe)
    # ``%`` (indexable, unlike ``similarity() >``) is ``similarity() >= the limit``: set for
    # this transaction; the search then tests ``similarity() >`` exactly, as before
    await session.execute(
        select(func.set_config("pg_trgm.similarity_threshold", str(TITLE_SIMILARITY), True))
    )
    sql, params = retrieval(probe, terms=terms, exclude_id=exclude_id)
    rows = (await session.execute(text(sql), params)).all()
    # Scores equal to the shown precision (both near 1: the sigmoid saturates) are ordered
    # by shared words, so a report identical to a bug is linked to it and not to a sibling
    # whose slightly different title the (negative) title weight happens to favour.
    scored = sorted(
        ((row.id, _signals(row, probe)) for row in rows),
        key=lambda pair: (-round(pair[1].score(model), 3), -pair[1].fulltext, str(pair[0])),
    )
    kept = [(i, s) for i, s in scored if s.score(model) >= min_score][:limit]
    if not kept:
        return []
    bugs = {
        b.id: b
        for b in (await session.scalars(select(Bug).where(Bug.id.in_([i for i, _ in kept])))).all()
    }
    return [
        Candidate(bug=bugs[i], score=round(s.score(model), 3), reasons=s.reasons(model))
        for i, s in kept
        if i in bugs
    ]


async def pair_signals(session: AsyncSession, *, existing: Probe, new: Probe) -> Signals:
    """The signals of report ``new`` against an ``existing`` one, by the same SQL as a
    search over stored bugs (for the labelled pairs of the benchmark and tests)."""
    candidate = (
        " SELECT NULL::uuid AS id, CAST(:c_title AS text) AS title,"
        " setweight(to_tsvector('english', :c_title), 'A')"
        " || setweight(to_tsvector('english', :c_body), 'B') AS search,"
        " CAST(:c_fps AS varchar[]) AS error_fingerprints,"
        " CAST(:c_emb AS real[]) AS embedding,"
        " CAST(:emb_model AS varchar) AS embedding_model,"  # both probes: the current encoder
        " CAST(:c_slots AS varchar[]) AS symptom_slots"
    )
    row = (
        await session.execute(
            text(_signals_sql(candidate)),
            {
                **_params(new),
                "c_title": existing.title,
                "c_body": existing.body,
                "c_fps": existing.fingerprints,
                "c_emb": existing.embedding,
                "c_slots": existing.slots,
            },
        )
    ).one()
    return _signals(row, new)


async def lock_filing(session: AsyncSession) -> None:
    """Serialise filing until the transaction ends.

    Duplicate detection compares a new report with every open bug, so two reports of the
    same bug filed at once would each find nothing and both file a new bug. Filing is
    rare enough that one transaction-level lock over the whole service is cheap; each
    filing then sees every bug committed before it (READ COMMITTED takes a new snapshot
    per statement, after the lock is granted)."""
    await session.execute(select(func.pg_advisory_xact_lock(FILING_LOCK_KEY)))


def add(session: AsyncSession, *rows: Bug | BugHistory | Reproduction) -> None:
    """Stage new rows; they are inserted at the caller's next ``flush()``."""
    session.add_all(rows)


async def get(session: AsyncSession, bug_id: uuid.UUID, *, for_update: bool = False) -> Bug | None:
    stmt = select(Bug).where(Bug.id == bug_id)
    if for_update:
        # Locked rows are read again: a copy loaded earlier in this session may be stale.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one_or_none()


async def lock_all(session: AsyncSession, bug_ids: list[uuid.UUID]) -> dict[uuid.UUID, Bug]:
    """Lock several bugs in one stable order (by id), so two requests locking the same
    pair in opposite orders cannot deadlock."""
    stmt = (
        select(Bug)
        .where(Bug.id.in_(bug_ids))
        .order_by(Bug.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {bug.id: bug for bug in (await session.scalars(stmt)).all()}


async def insert_link(
    session: AsyncSession,
    *,
    bug_id: uuid.UUID,
    ticket_id: str,
    tenant_id: str,
    is_duplicate: bool,
    linked_at: datetime,
    linked_by_model: str | None = None,
) -> bool:
    """Link a ticket unless it is linked already (to any bug); True when this call linked it.

    ``ON CONFLICT`` on the unique ticket id makes concurrent links of one ticket safe: the
    second waits for the first to commit and then inserts nothing."""
    inserted = await session.execute(
        insert(BugLink)
        .values(
            id=uuid.uuid4(),
            bug_id=bug_id,
            ticket_id=ticket_id,
            tenant_id=tenant_id,
            is_duplicate=is_duplicate,
            linked_at=linked_at,
            linked_by_model=linked_by_model,
        )
        .on_conflict_do_nothing(index_elements=[BugLink.ticket_id])
        .returning(BugLink.id)
    )
    return inserted.first() is not None


def affects_tenant(tenant_id: str) -> ColumnElement[bool]:
    """Bugs that affect a tenant: first reported from it, listing it among the affected
    tenants, or linked to one of its tickets."""
    return or_(
        Bug.tenant_id == tenant_id,
        cast(Bug.affected_tenants, JSONB).contains([tenant_id]),
        exists().where(BugLink.bug_id == Bug.id, BugLink.tenant_id == tenant_id),
    )


async def is_visible_to(session: AsyncSession, bug_id: uuid.UUID, tenant_id: str) -> bool:
    return bool(
        await session.scalar(select(exists().where(Bug.id == bug_id, affects_tenant(tenant_id))))
    )


async def visible_among(
    session: AsyncSession, bug_ids: Collection[uuid.UUID], tenant_id: str
) -> set[uuid.UUID]:
    """Which of ``bug_ids`` affect ``tenant_id``, in one query."""
    if not bug_ids:
        return set()
    stmt = select(Bug.id).where(Bug.id.in_(list(bug_ids)), affects_tenant(tenant_id))
    return set((await session.scalars(stmt)).all())


async def links_of(session: AsyncSession, bug_id: uuid.UUID) -> list[BugLink]:
    stmt = select(BugLink).where(BugLink.bug_id == bug_id).order_by(BugLink.seq)
    return list((await session.scalars(stmt)).all())


async def links_of_page(
    session: AsyncSession, bug_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[BugLink]]:
    """The links of every bug of a page, in one query (each bug's in link order)."""
    found: dict[uuid.UUID, list[BugLink]] = {bug_id: [] for bug_id in bug_ids}
    if not found:
        return found
    stmt = select(BugLink).where(BugLink.bug_id.in_(list(found))).order_by(BugLink.seq)
    for link in (await session.scalars(stmt)).all():
        found[link.bug_id].append(link)
    return found


async def link_of_ticket(session: AsyncSession, ticket_id: str) -> BugLink | None:
    return (
        await session.scalars(select(BugLink).where(BugLink.ticket_id == ticket_id))
    ).one_or_none()


async def history_of(session: AsyncSession, bug_id: uuid.UUID) -> list[BugHistory]:
    stmt = select(BugHistory).where(BugHistory.bug_id == bug_id).order_by(BugHistory.seq)
    return list((await session.scalars(stmt)).all())


async def has_successful_reproduction(session: AsyncSession, bug_id: uuid.UUID) -> bool:
    count = await session.scalar(
        select(func.count())
        .select_from(Reproduction)
        .where(Reproduction.bug_id == bug_id, Reproduction.outcome == "reproduced")
    )
    return bool(count)


async def reproduced_among(session: AsyncSession, bug_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``bug_ids`` have a successful reproduction, in one query."""
    if not bug_ids:
        return set()
    stmt = (
        select(Reproduction.bug_id)
        .where(Reproduction.bug_id.in_(list(bug_ids)), Reproduction.outcome == "reproduced")
        .distinct()
    )
    return set((await session.scalars(stmt)).all())


async def tenants_of(session: AsyncSession, bug_id: uuid.UUID) -> frozenset[str] | None:
    """Every tenant a bug affects: the reporter's, those listed as affected and those of
    its linked tickets (None: no such bug)."""
    row = (
        await session.execute(select(Bug.tenant_id, Bug.affected_tenants).where(Bug.id == bug_id))
    ).one_or_none()
    if row is None:
        return None
    linked = await session.scalars(select(BugLink.tenant_id).where(BugLink.bug_id == bug_id))
    return frozenset({row.tenant_id, *(row.affected_tenants or []), *linked})


async def lock_by_external_key(session: AsyncSession, issue_key: str) -> Bug | None:
    """The bug escalated as the QA tracker's ``issue_key``, locked."""
    stmt = select(Bug).where(Bug.external_issue_key == issue_key).with_for_update()
    return (await session.scalars(stmt)).one_or_none()


def list_statement(
    *,
    tenant_id: str | None,
    status: str | None,
    severity: str | None,
    ticket_id: str | None,
    ticket_of_tenant_only: bool = False,
) -> Select[Any]:
    stmt = select(Bug)
    if tenant_id is not None:
        stmt = stmt.where(affects_tenant(tenant_id))
    if status is not None:
        stmt = stmt.where(Bug.status == status)
    if severity is not None:
        stmt = stmt.where(Bug.severity == severity)
    if ticket_id is not None:
        # A tenant-scoped caller finds bugs by its own tickets only: probing with another
        # tenant's ticket id must not tell which bug that ticket is linked to.
        links = select(BugLink.bug_id).where(BugLink.ticket_id == ticket_id)
        if tenant_id is not None and ticket_of_tenant_only:
            links = links.where(BugLink.tenant_id == tenant_id)
        stmt = stmt.where(Bug.id.in_(links))
    return stmt


async def list_page(
    session: AsyncSession,
    *,
    params: PageParams,
    tenant_id: str | None,
    status: str | None,
    severity: str | None,
    ticket_id: str | None,
    ticket_of_tenant_only: bool = False,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[Bug], str | None]:
    """One page of the bug list, newest first unless ``asc`` (keyset on ``created_at, id``)."""
    stmt = list_statement(
        tenant_id=tenant_id,
        status=status,
        severity=severity,
        ticket_id=ticket_id,
        ticket_of_tenant_only=ticket_of_tenant_only,
    )
    rows, cursor = await paginate(
        session, stmt, keys=[Bug.created_at, Bug.id], params=params, direction=direction
    )
    return list(rows), cursor


async def reproductions_of(session: AsyncSession, bug_id: uuid.UUID) -> list[Reproduction]:
    stmt = (
        select(Reproduction)
        .where(Reproduction.bug_id == bug_id)
        .order_by(Reproduction.recorded_at, Reproduction.id)
    )
    return list((await session.scalars(stmt)).all())


async def move_links_and_history(
    session: AsyncSession, *, source_id: uuid.UUID, target_id: uuid.UUID, origin_bug_key: str
) -> None:
    await session.execute(
        update(BugLink)
        .where(BugLink.bug_id == source_id)
        .values(bug_id=target_id, is_duplicate=True)
    )
    await session.execute(
        update(BugHistory)
        .where(BugHistory.bug_id == source_id)
        .values(
            bug_id=target_id,
            origin_bug_key=func.coalesce(BugHistory.origin_bug_key, origin_bug_key),
        )
    )
    await session.execute(
        update(Reproduction).where(Reproduction.bug_id == source_id).values(bug_id=target_id)
    )


# --- verdicts and duplicate models (decision 0053) ----------------------------------------


def probe_from(bug: Bug) -> Probe:
    """A stored bug's report as filing read it (pasted log excerpts are part of the actual
    result), not embedded yet."""
    logs = [str(a.get("content")) for a in bug.attachments if a.get("kind") == "log_excerpt"]
    return Probe(
        title=bug.title,
        description=bug.summary,
        steps=tuple(bug.steps),
        actual="\n".join([bug.actual, *logs]),
    )


async def probe_of_bug(session: AsyncSession, bug: Bug) -> Probe:
    """A stored bug as a probe, with its stored embedding when the current encoder wrote it
    (encoded again otherwise: never a vector of another encoder)."""
    probe = probe_from(bug)
    stored = (
        await session.execute(select(Bug.embedding, Bug.embedding_model).where(Bug.id == bug.id))
    ).one_or_none()
    if stored is not None and stored.embedding and stored.embedding_model == EMBEDDING_MODEL:
        probe.__dict__["embedding"] = list(stored.embedding)  # the cached_property's own slot
    return await embedded(probe)


# --- re-embedding with the current encoder (decision 0057) --------------------------------


REEMBED_BATCH = 100
"""Bugs re-embedded per transaction: ~0.5-1 s of encoding, so the rows stay locked briefly."""


async def count_stale_embeddings(session: AsyncSession) -> int:
    """Bugs whose embedding is not the current encoder's (or missing)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Bug)
        .where(Bug.embedding_model.is_distinct_from(EMBEDDING_MODEL))
    )
    return int(count or 0)


async def reembed_batch(
    session: AsyncSession, *, size: int, among: Collection[uuid.UUID] | None = None
) -> int:
    """Re-embed up to ``size`` bugs (of ``among`` if given) whose embedding is not the
    current encoder's, the lowest ids first, locked meanwhile so an edit cannot interleave;
    how many. The encoder runs in its worker thread, off the event loop. ``updated_at`` and
    ``version`` stay: the report did not change."""
    stmt = select(Bug).where(Bug.embedding_model.is_distinct_from(EMBEDDING_MODEL))
    if among is not None:
        stmt = stmt.where(Bug.id.in_(list(among)))
    bugs = list(
        (
            await session.scalars(
                stmt.order_by(Bug.id)
                .limit(size)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    if not bugs:
        return 0
    probes = [probe_from(bug) for bug in bugs]
    vectors = await off_loop(lambda: [p.embedding for p in probes])
    await session.execute(
        update(Bug),
        [
            {"id": bug.id, "embedding": vector, "embedding_model": EMBEDDING_MODEL}
            for bug, vector in zip(bugs, vectors, strict=True)
        ],
    )
    return len(bugs)


async def store_verdict(
    session: AsyncSession,
    *,
    bug_a_id: uuid.UUID,
    bug_b_id: uuid.UUID,
    verdict: str,
    signals: list[float],
    score: float,
    model_version: str,
    source: str,
    judged_by: str | None,
    judged_at: datetime,
    encoder: str = EMBEDDING_MODEL,
) -> DuplicateVerdict:
    """Insert the pair's verdict, or replace the one it had (the latest wins). The revision
    moves only when the verdict or the signals change, so a verdict given again unchanged
    leaves nothing waiting for a refit."""
    revision = func.nextval("duplicate_verdict_revisions")
    values = {
        "verdict": verdict,
        "signals": signals,
        "score": score,
        "model_version": model_version,
        "encoder": encoder,
        "source": source,
        "judged_by": judged_by,
        "judged_at": judged_at,
    }
    stmt = insert(DuplicateVerdict).values(
        id=uuid.uuid4(), bug_a_id=bug_a_id, bug_b_id=bug_b_id, revision=revision, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[DuplicateVerdict.bug_a_id, DuplicateVerdict.bug_b_id],
        set_={**{k: stmt.excluded[k] for k in values}, "revision": revision},
        where=or_(
            DuplicateVerdict.verdict != stmt.excluded.verdict,
            DuplicateVerdict.signals != stmt.excluded.signals,
            DuplicateVerdict.encoder != stmt.excluded.encoder,
        ),
    )
    await session.execute(stmt)
    found = await session.scalars(
        select(DuplicateVerdict)
        .where(DuplicateVerdict.bug_a_id == bug_a_id, DuplicateVerdict.bug_b_id == bug_b_id)
        .execution_options(populate_existing=True)
    )
    return found.one()


async def bugs_of_other_encoders_verdicts(session: AsyncSession) -> set[uuid.UUID]:
    """The bugs of the verdicts whose stored signals were computed from another encoder's
    embeddings."""
    rows = await session.execute(
        select(DuplicateVerdict.bug_a_id, DuplicateVerdict.bug_b_id).where(
            DuplicateVerdict.encoder != EMBEDDING_MODEL
        )
    )
    return {bug_id for row in rows for bug_id in row}


async def recompute_verdict_semantics(session: AsyncSession) -> int:
    """Give the verdicts of another encoder the ``semantic`` signal of their two bugs'
    current embeddings (the other signals do not depend on the encoder), computed as the
    search computes it (the newer report's vector against the older's, in PostgreSQL), and
    the current encoder's name; each such verdict takes a new revision (its signals
    changed). Their bugs must be embedded by the current encoder (``reembed_batch``)."""
    index = SIGNALS.index("semantic")
    changed = await session.execute(
        text(
            "UPDATE duplicate_verdicts v"
            " SET signals = jsonb_set(v.signals, CAST(:path AS text[]),"
            f"       to_jsonb(CAST({_dot('a.embedding', 'b.embedding')} AS double precision))),"
            "     encoder = :m, revision = nextval('duplicate_verdict_revisions')"
            " FROM bugs a, bugs b"
            " WHERE a.id = v.bug_a_id AND b.id = v.bug_b_id AND v.encoder <> :m"
            "   AND a.embedding_model = :m AND b.embedding_model = :m"
            " RETURNING v.id"
        ),
        {"path": [str(index)], "m": EMBEDDING_MODEL},
    )
    return len(changed.all())


async def all_verdicts(session: AsyncSession) -> list[DuplicateVerdict]:
    """Every verdict in a stable order (the pair's ids): what a refit fits on."""
    stmt = select(DuplicateVerdict).order_by(DuplicateVerdict.bug_a_id, DuplicateVerdict.bug_b_id)
    return list((await session.scalars(stmt)).all())


async def verdicts_after(session: AsyncSession, revision: int) -> int:
    """How many verdicts changed after ``revision`` (waiting for the next refit)."""
    count = await session.scalar(
        select(func.count())
        .select_from(DuplicateVerdict)
        .where(DuplicateVerdict.revision > revision)
    )
    return int(count or 0)


async def verdict_page(
    session: AsyncSession, *, params: PageParams, bug_id: uuid.UUID | None = None
) -> tuple[list[DuplicateVerdict], str | None]:
    """Verdicts, the latest change first (keyset on ``revision, id``)."""
    stmt = select(DuplicateVerdict)
    if bug_id is not None:
        stmt = stmt.where(
            or_(DuplicateVerdict.bug_a_id == bug_id, DuplicateVerdict.bug_b_id == bug_id)
        )
    rows, cursor = await paginate(
        session,
        stmt,
        keys=[DuplicateVerdict.revision, DuplicateVerdict.id],
        params=params,
        direction="desc",
    )
    return list(rows), cursor


async def newest_model(
    session: AsyncSession, *, accepted_only: bool = True, encoder: str | None = None
) -> DuplicateModelVersion | None:
    """The newest recorded refit (accepted only and of the current ``encoder``: the one
    serving uses; one indexed row)."""
    stmt = select(DuplicateModelVersion)
    if accepted_only:
        stmt = stmt.where(DuplicateModelVersion.accepted.is_(True))
    if encoder is not None:
        stmt = stmt.where(DuplicateModelVersion.encoder == encoder)
    stmt = stmt.order_by(DuplicateModelVersion.seq.desc()).limit(1)
    return (await session.scalars(stmt)).one_or_none()


async def model_version(session: AsyncSession, version: str) -> DuplicateModelVersion | None:
    return await session.get(DuplicateModelVersion, version)


async def add_model(session: AsyncSession, row: DuplicateModelVersion) -> bool:
    """Record a refit unless its version is recorded (two refits of the same data at once);
    True when this call recorded it."""
    values = {c.name: getattr(row, c.key) for c in DuplicateModelVersion.__table__.columns}
    values.pop("seq")
    inserted = await session.execute(
        insert(DuplicateModelVersion)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[DuplicateModelVersion.version])
        .returning(DuplicateModelVersion.version)
    )
    return inserted.first() is not None
