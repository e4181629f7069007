"""Every query of the scheduled scans: tenants whose suspension or churn date came, and active
users without a recent sign-in. Each locks what it returns and skips rows a request holds
(``SKIP LOCKED``): the next run gets them, and two runs never act on a row twice."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Tenant, User
from onboarding_service.tenants.lifecycle import TenantStatus
from onboarding_service.users.status import UserStatus


async def due_suspensions(session: AsyncSession, *, now: datetime) -> list[Tenant]:
    """Tenants whose scheduled suspension (their subscription's end) has come."""
    due = await session.scalars(
        select(Tenant)
        .where(Tenant.scheduled_suspension_at <= now)
        .order_by(Tenant.scheduled_suspension_at, Tenant.id)
        .with_for_update(skip_locked=True)
    )
    return list(due.all())


async def due_churns(session: AsyncSession, *, now: datetime) -> list[Tenant]:
    """Tenants whose scheduled churn (the grace period after suspension) has come."""
    due = await session.scalars(
        select(Tenant)
        .where(Tenant.scheduled_churn_at <= now)
        .order_by(Tenant.scheduled_churn_at, Tenant.id)
        .with_for_update(skip_locked=True)
    )
    return list(due.all())


async def inactive_users(
    session: AsyncSession,
    *,
    now: datetime,
    after_days: int,
    open_statuses: frozenset[TenantStatus],
    tenant_id: uuid.UUID | None = None,
) -> list[tuple[User, Tenant, int]]:
    """Active users of tenants in ``open_statuses`` with no sign-in (or, never signed in,
    no activation) for longer than the tenant's ``inactive_after_days`` (its
    configuration) or else ``after_days``: ``(user, tenant, days)``, users locked."""
    threshold = func.coalesce(
        cast(Tenant.configuration["inactive_after_days"].astext, Integer), after_days
    )
    last_seen = func.coalesce(User.last_sign_in_at, User.activated_at, User.created_at)
    cutoff = cast(literal(now), DateTime(timezone=True)) - func.make_interval(0, 0, 0, threshold)
    stmt = (
        select(User, Tenant, threshold)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(
            User.status == UserStatus.active.value,
            Tenant.status.in_([s.value for s in open_statuses]),
            last_seen < cutoff,
        )
        .order_by(User.tenant_id, User.id)
        .with_for_update(of=User, skip_locked=True)
    )
    if tenant_id is not None:
        stmt = stmt.where(User.tenant_id == tenant_id)
    return [(user, tenant, days) for user, tenant, days in (await session.execute(stmt)).all()]
