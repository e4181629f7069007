"""The one query of the bug metrics: every figure aggregated in a single pass."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.repository import affects_tenant
from escalation_service.models import Bug, Reproduction


@dataclass(frozen=True)
class Totals:
    bugs: int
    average_quality: float | None
    escalated: int
    escalated_without_rework: int
    mean_seconds_to_reproduce: float | None
    attempted: int
    reproduced: int


async def totals(session: AsyncSession, *, tenant_id: str | None) -> Totals:
    """Over the bugs that were not merged away, those affecting ``tenant_id`` if given."""
    scope: list[ColumnElement[bool]] = [Bug.duplicate_of_id.is_(None)]
    if tenant_id is not None:
        scope.append(affects_tenant(tenant_id))
    attempted = exists().where(Reproduction.bug_id == Bug.id)
    row = (
        await session.execute(
            select(
                func.count(),
                func.avg(cast(Bug.completeness_score, Float)),
                func.count(Bug.escalated_at),
                func.count(case((and_(Bug.escalated_at.is_not(None), Bug.rework_count == 0), 1))),
                func.avg(func.extract("epoch", Bug.reproduced_at - Bug.created_at)),
                func.count(case((attempted, 1))),
                func.count(case((and_(attempted, Bug.reproduced_at.is_not(None)), 1))),
            ).where(*scope)
        )
    ).one()
    total, quality, escalated, clean, ttr, tried, reproduced = row
    return Totals(
        bugs=total,
        average_quality=float(quality) if quality is not None else None,
        escalated=escalated,
        escalated_without_rework=clean,
        mean_seconds_to_reproduce=float(ttr) if ttr is not None else None,
        attempted=tried,
        reproduced=reproduced,
    )
