"""``/v1/scans``: the CronJobs' scans, triggered by hand (an operator, the integration
journeys): scheduled suspensions and churns, and users without a recent sign-in."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Body, Request

from onboarding_service.billing.service import churn_delay
from onboarding_service.deps import SettingsDep
from onboarding_service.scans import service
from onboarding_service.scans.schemas import (
    InactiveScanIn,
    InactiveScanOut,
    MarkedInactiveOut,
    ScheduledSuspensionsOut,
)
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.db import Database
from servicekit.deps import SessionDep
from servicekit.errors import Forbidden
from servicekit.roles import Operator

router = APIRouter(prefix="/v1/scans", tags=["scans"])


@router.post(
    "/scheduled-suspensions",
    summary="Apply the suspensions and churns whose date came (what the CronJob runs)",
)
async def scheduled_suspensions(
    request: Request, principal: Operator, clock: ClockDep, settings: SettingsDep
) -> ScheduledSuspensionsOut:
    if principal.is_tenant_scoped:
        raise Forbidden("the scan covers every tenant; use an unscoped token", code="staff-only")
    db: Database = request.app.state.db
    now = clock.now()
    result = await service.apply_scheduled_suspensions(
        db, now=now, churn_after=churn_delay(settings)
    )
    return ScheduledSuspensionsOut(
        scanned_at=now, suspended=result.suspended, churned=result.churned
    )


@router.post(
    "/inactive-users",
    dependencies=[owned(body={"tenant_id": "tenant"})],
    summary="Mark users inactive after days without a sign-in (what the CronJob runs)",
)
async def inactive_user_scan(
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    settings: SettingsDep,
    body: Annotated[InactiveScanIn | None, Body()] = None,
) -> InactiveScanOut:
    body = body or InactiveScanIn()
    tenant_id = body.tenant_id
    if principal.tenant_id is not None:
        if tenant_id is not None:
            principal.ensure_tenant(str(tenant_id), resource="tenant")
        tenant_id = _uuid_or_nil(principal.tenant_id)
    now = clock.now()
    after_days = body.after_days or settings.inactive_after_days
    marked = await service.mark_inactive_users(
        session, now=now, after_days=after_days, tenant_id=tenant_id
    )
    return InactiveScanOut(
        scanned_at=now,
        after_days=after_days,
        marked=[MarkedInactiveOut(**asdict(m)) for m in marked],
    )


def _uuid_or_nil(value: str) -> uuid.UUID:
    """A tenant claim that is no UUID names no tenant of ours: scan nothing."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)
