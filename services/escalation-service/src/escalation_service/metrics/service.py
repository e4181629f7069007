"""The bug metrics from the aggregated totals: rounding and shares."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.metrics import repository
from escalation_service.metrics.schemas import BugMetrics


async def compute(session: AsyncSession, *, tenant_id: str | None) -> BugMetrics:
    t = await repository.totals(session, tenant_id=tenant_id)
    return BugMetrics(
        bugs=t.bugs,
        average_report_quality=round(t.average_quality, 1)
        if t.average_quality is not None
        else None,
        escalated=t.escalated,
        escalated_without_rework_share=round(t.escalated_without_rework / t.escalated, 3)
        if t.escalated
        else None,
        mean_time_to_reproduce_seconds=t.mean_seconds_to_reproduce,
        reproduction_rate=round(t.reproduced / t.attempted, 3) if t.attempted else None,
    )
