"""Every query on checklist steps, stuck onboardings and welcome messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository as base
from onboarding_service.models import OnboardingStep, Tenant, WelcomeMessage
from onboarding_service.tenants.lifecycle import TenantStatus
from servicekit.pagination import PageParams, paginate


async def add_steps(session: AsyncSession, steps: list[OnboardingStep]) -> None:
    await base.add(session, *steps)


async def steps_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[OnboardingStep]:
    rows = await session.scalars(
        select(OnboardingStep)
        .where(OnboardingStep.tenant_id == tenant_id)
        .order_by(OnboardingStep.position)
    )
    return list(rows.all())


async def get_step(session: AsyncSession, tenant_id: uuid.UUID, step: str) -> OnboardingStep | None:
    return await base.get(session, OnboardingStep, (tenant_id, step))


def stuck_onboardings(now: datetime) -> Select[tuple[Tenant]]:
    """Tenants not onboarded (nor churned) with a checklist step overdue at ``now``."""
    overdue = (OnboardingStep.completed_at.is_(None)) & (OnboardingStep.due_at < now)
    return select(Tenant).where(
        Tenant.onboarded_at.is_(None),
        Tenant.status != TenantStatus.churned.value,
        exists().where(OnboardingStep.tenant_id == Tenant.id, overdue),
    )


async def stuck_page(
    session: AsyncSession,
    *,
    now: datetime,
    tenant_id: uuid.UUID | None,
    only_tenant: bool,
    page: PageParams,
) -> tuple[list[Tenant], str | None]:
    """One page of stuck onboardings, oldest first; ``only_tenant`` confines it to
    ``tenant_id`` (``None``: a claim that names no tenant, so nothing)."""
    stmt = stuck_onboardings(now)
    if only_tenant:
        stmt = stmt.where(Tenant.id == tenant_id)
    rows, cursor = await paginate(session, stmt, keys=[Tenant.created_at, Tenant.id], params=page)
    return list(rows), cursor


async def count_stuck(session: AsyncSession, now: datetime) -> int:
    stuck = stuck_onboardings(now).subquery()
    return int(await session.scalar(select(func.count()).select_from(stuck)) or 0)


async def add_welcome(session: AsyncSession, message: WelcomeMessage) -> None:
    await base.add(session, message)
