"""Every query on bugs, links, history and reproductions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.models import Bug, BugHistory, BugLink, Reproduction

TITLE_WEIGHT, STEPS_WEIGHT, ACTUAL_WEIGHT = 0.5, 0.2, 0.3


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


async def get(session: AsyncSession, bug_id: uuid.UUID, *, for_update: bool = False) -> Bug | None:
    stmt = select(Bug).where(Bug.id == bug_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


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
) -> Select[Any]:
    stmt = select(Bug)
    if tenant_id is not None:
        stmt = stmt.where(Bug.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(Bug.status == status)
    if severity is not None:
        stmt = stmt.where(Bug.severity == severity)
    if ticket_id is not None:
        stmt = stmt.where(Bug.id.in_(select(BugLink.bug_id).where(BugLink.ticket_id == ticket_id)))
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
