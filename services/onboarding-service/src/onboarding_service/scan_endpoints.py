"""``POST /v1/scans/scheduled-suspensions``: the ``scheduled-suspensions`` CronJob's scan,
triggered by hand (an operator, the integration journeys)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from onboarding_service.billing.service import churn_delay
from onboarding_service.clock import ClockDep
from onboarding_service.config import OnboardingSettings
from onboarding_service.deps import PROBLEM_RESPONSES, Operator
from onboarding_service.scans import apply_scheduled_suspensions
from servicekit.db import Database
from servicekit.errors import Forbidden

router = APIRouter(prefix="/v1/scans", tags=["scans"], responses=PROBLEM_RESPONSES)


class ScheduledSuspensionsOut(BaseModel):
    scanned_at: datetime
    suspended: int
    """Tenants whose canceled subscription ended: suspended now (or churned, if they
    never went live)."""
    churned: int
    """Tenants whose grace period after that ended: churned now."""


@router.post(
    "/scheduled-suspensions",
    summary="Apply the suspensions and churns whose date came (what the CronJob runs)",
)
async def scheduled_suspensions(
    request: Request, principal: Operator, clock: ClockDep
) -> ScheduledSuspensionsOut:
    if principal.is_tenant_scoped:
        raise Forbidden("the scan covers every tenant; use an unscoped token", code="staff-only")
    settings: OnboardingSettings = request.app.state.settings
    db: Database = request.app.state.db
    now = clock.now()
    result = await apply_scheduled_suspensions(db, now=now, churn_after=churn_delay(settings))
    return ScheduledSuspensionsOut(
        scanned_at=now, suspended=result.suspended, churned=result.churned
    )
