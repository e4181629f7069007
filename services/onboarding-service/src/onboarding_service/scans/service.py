"""Scheduled scans (Kubernetes CronJobs, the in-process scheduler and the admin endpoints):
suspensions and churns whose date came, users without a recent sign-in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.billing.service import churn_after_cancellation, suspend_for_cancellation
from onboarding_service.scans import repository
from onboarding_service.users.service import OPEN_TENANT, mark_inactive
from servicekit.db import Database

INACTIVE_SCAN = "inactive-user-scan"


@dataclass(frozen=True)
class ScheduledResult:
    suspended: int
    churned: int


async def apply_scheduled_suspensions(
    db: Database, *, now: datetime, churn_after: timedelta | None
) -> ScheduledResult:
    """Suspend every tenant whose subscription end (scheduled suspension) has come, then
    churn every tenant whose grace period after that is over."""
    async with db.unit_of_work() as session:
        suspended = await repository.due_suspensions(session, now=now)
        for tenant in suspended:
            await suspend_for_cancellation(session, tenant=tenant, now=now, churn_after=churn_after)
            tenant.scheduled_suspension_at = None
        await session.flush()
    async with db.unit_of_work() as session:
        churned = 0
        for tenant in await repository.due_churns(session, now=now):
            churned += await churn_after_cancellation(session, tenant=tenant, now=now)
        await session.flush()
    return ScheduledResult(suspended=len(suspended), churned=churned)


@dataclass(frozen=True)
class MarkedInactive:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    last_sign_in_at: datetime | None
    inactive_days: int


async def mark_inactive_users(
    session: AsyncSession,
    *,
    now: datetime,
    after_days: int,
    tenant_id: uuid.UUID | None = None,
) -> list[MarkedInactive]:
    """Active users of live tenants with no sign-in (or, never signed in, no activation)
    for longer than the tenant's ``inactive_after_days`` (its configuration) or else
    ``after_days`` become ``inactive`` (``user.marked_inactive``).

    Users whose row is held by a request are skipped (``SKIP LOCKED``): the next run gets
    them, and two runs never mark a user twice.
    """
    found = await repository.inactive_users(
        session, now=now, after_days=after_days, open_statuses=OPEN_TENANT, tenant_id=tenant_id
    )
    marked = []
    for user, tenant, days in found:
        await mark_inactive(
            session, tenant=tenant, user=user, now=now, inactive_days=days, actor=INACTIVE_SCAN
        )
        marked.append(
            MarkedInactive(
                user_id=user.id,
                tenant_id=user.tenant_id,
                last_sign_in_at=user.last_sign_in_at,
                inactive_days=days,
            )
        )
    return marked


async def run_inactive_user_scan(
    db: Database, *, now: datetime, after_days: int
) -> list[MarkedInactive]:
    """The CronJob's run: the whole scan in one transaction."""
    async with db.unit_of_work() as session:
        return await mark_inactive_users(session, now=now, after_days=after_days)
