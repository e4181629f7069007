"""Every query on bugs, links, history and reproductions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.models import Bug, BugHistory, BugLink, Reproduction

TITLE_WEIGHT, STEPS_WEIGHT, ACTUAL_WEIGHT = 0.5, 0.2, 0.3

FILING_LOCK_KEY = 0x4553_4331_4649_4C45
"""Transaction-level advisory lock serialising filing (duplicate search + insert)."""


@dataclass(frozen=True)
class Candidate:
    bug: Bug
    score: float


def score_weights(*, steps_text: str, actual: str) -> tuple[float, float, float]:
    """Weights of title, steps and actual; an empty part gives its weight to the title."""
    title = TITLE_WEIGHT
    steps = STEPS_WEIGHT if steps_text.strip() else 0.0
    actual_w = ACTUAL_WEIGHT if actual.strip() else 0.0
    title += (STEPS_WEIGHT - steps) + (ACTUAL_WEIGHT - actual_w)
    return title, steps, actual_w


def _score_sql() -> str:
    return (
        ":tw * similarity(lower({t}), lower(:title))"
        " + :sw * similarity(lower({s}), lower(:steps))"
        " + :aw * similarity(lower({a}), lower(:actual))"
    )


async def duplicate_candidates(
    session: AsyncSession,
    *,
    title: str,
    steps_text: str,
    actual: str,
    min_score: float,
    limit: int = 5,
    exclude_id: uuid.UUID | None = None,
) -> list[Candidate]:
    tw, sw, aw = score_weights(steps_text=steps_text, actual=actual)
    raw = await session.execute(
        text(
            "SELECT id, score FROM ("
            f" SELECT id, {_score_sql().format(t='title', s='steps_text', a='actual')} AS score"
            " FROM bugs WHERE status NOT IN ('closed', 'wont_fix')"
            " AND duplicate_of_id IS NULL AND (CAST(:exclude AS uuid) IS NULL OR id <> :exclude)"
            ") ranked WHERE score >= :min_score ORDER BY score DESC, id LIMIT :limit"
        ),
        {
            "tw": tw,
            "sw": sw,
            "aw": aw,
            "title": title,
            "steps": steps_text,
            "actual": actual,
            "exclude": exclude_id,
            "min_score": min_score,
            "limit": limit,
        },
    )
    scored = [(row.id, float(row.score)) for row in raw]
    if not scored:
        return []
    bugs = {
        b.id: b
        for b in (
            await session.scalars(select(Bug).where(Bug.id.in_([i for i, _ in scored])))
        ).all()
    }
    return [Candidate(bug=bugs[i], score=round(s, 3)) for i, s in scored if i in bugs]


async def pair_score(
    session: AsyncSession,
    *,
    a: dict[str, str],
    b: dict[str, str],
) -> float:
    """The duplicate score of report ``b`` against an existing report ``a`` (same formula)."""
    tw, sw, aw = score_weights(steps_text=b["steps"], actual=b["actual"])
    sql = _score_sql().format(t=":a_title", s=":a_steps", a=":a_actual")
    value = await session.scalar(
        text(f"SELECT {sql}"),
        {
            "tw": tw,
            "sw": sw,
            "aw": aw,
            "title": b["title"],
            "steps": b["steps"],
            "actual": b["actual"],
            "a_title": a["title"],
            "a_steps": a["steps"],
            "a_actual": a["actual"],
        },
    )
    return float(value or 0.0)


async def lock_filing(session: AsyncSession) -> None:
    """Serialise filing until the transaction ends.

    Duplicate detection compares a new report with every open bug, so two reports of the
    same bug filed at once would each find nothing and both file a new bug. Filing is
    rare enough that one transaction-level lock over the whole service is cheap; each
    filing then sees every bug committed before it (READ COMMITTED takes a new snapshot
    per statement, after the lock is granted)."""
    await session.execute(select(func.pg_advisory_xact_lock(FILING_LOCK_KEY)))


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


async def links_of(session: AsyncSession, bug_id: uuid.UUID) -> list[BugLink]:
    stmt = select(BugLink).where(BugLink.bug_id == bug_id).order_by(BugLink.seq)
    return list((await session.scalars(stmt)).all())


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
