"""GET /v1/metrics: how good the reports are and how well reproduction goes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.repository import affects_tenant
from escalation_service.models import Bug, Reproduction
from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import owned
from servicekit.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["metrics"])

Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.qa))]


class BugMetrics(BaseModel):
    bugs: int
    average_report_quality: float | None
    """Mean completeness score (0-100) of the reports."""
    escalated: int
    escalated_without_rework_share: float | None
    """Share of escalated bugs that never went back for information or reproduction."""
    mean_time_to_reproduce_seconds: float | None
    reproduction_rate: float | None
    """Reproduced bugs among bugs with at least one reproduction attempt."""


@router.get("/metrics", dependencies=[owned(query={"tenant_id": "tenant"})])
async def bug_metrics(
    session: SessionDep,
    principal: Reader,
    tenant_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")] = None,
) -> BugMetrics:
    """Over the bugs affecting ``tenant_id`` (a tenant-scoped token: its own tenant)."""
    return await compute(session, tenant_id=principal.tenant_filter(tenant_id))


async def compute(session: AsyncSession, *, tenant_id: str | None) -> BugMetrics:
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
    return BugMetrics(
        bugs=total,
        average_report_quality=round(float(quality), 1) if quality is not None else None,
        escalated=escalated,
        escalated_without_rework_share=round(clean / escalated, 3) if escalated else None,
        mean_time_to_reproduce_seconds=float(ttr) if ttr is not None else None,
        reproduction_rate=round(reproduced / tried, 3) if tried else None,
    )
