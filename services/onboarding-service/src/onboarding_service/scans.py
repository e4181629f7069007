"""Scheduled scans (Kubernetes CronJobs): suspensions that came due, inactive users."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from onboarding_service.billing.service import suspend_for_cancellation
from onboarding_service.domain import UserStatus
from onboarding_service.models import Tenant, User
from onboarding_service.users.service import set_user_status
from servicekit.db import Database


async def apply_scheduled_suspensions(db: Database, *, now: datetime) -> int:
    """Suspend every tenant whose scheduled suspension (period end) has come."""
    async with db.unit_of_work() as session:
        due = await session.scalars(
            select(Tenant)
            .where(Tenant.scheduled_suspension_at <= now)
            .order_by(Tenant.scheduled_suspension_at, Tenant.id)
            .with_for_update(skip_locked=True)
        )
        tenants = list(due.all())
        for tenant in tenants:
            await suspend_for_cancellation(session, tenant=tenant, now=now)
            tenant.scheduled_suspension_at = None
        await session.flush()
        return len(tenants)


async def mark_inactive_users(db: Database, *, now: datetime, after_days: int) -> int:
    """Active users with no sign-in (or activation) for ``after_days`` become inactive."""
    cutoff = now - timedelta(days=after_days)
    async with db.unit_of_work() as session:
        last_seen = func.coalesce(User.last_sign_in_at, User.activated_at, User.created_at)
        found = await session.scalars(
            select(User)
            .where(User.status == UserStatus.active.value, last_seen < cutoff)
            .order_by(User.id)
            .with_for_update(skip_locked=True)
        )
        users = list(found.all())
        for user in users:
            tenant = await session.get(Tenant, user.tenant_id)
            assert tenant is not None
            await set_user_status(
                session,
                tenant=tenant,
                user=user,
                target=UserStatus.inactive,
                now=now,
                actor="inactive-user-scan",
            )
        return len(users)
