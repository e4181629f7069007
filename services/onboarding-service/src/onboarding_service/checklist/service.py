"""The onboarding checklist: steps tick from events and actions; all done → onboarded."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.steps import DUE_AFTER, Step
from onboarding_service.domain import TenantStatus, event_tenant_status
from onboarding_service.models import OnboardingStep, Tenant
from onboarding_service.tenants.lifecycle import transition_tenant
from servicekit.outbox import publish
from supportops_events import onboarding as ev


async def start_checklist(session: AsyncSession, *, tenant: Tenant, now: datetime) -> None:
    for position, step in enumerate(Step):
        session.add(
            OnboardingStep(
                tenant_id=tenant.id,
                step=step.value,
                position=position,
                started_at=now,
                due_at=now + DUE_AFTER[step],
            )
        )
    await session.flush()


async def steps_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[OnboardingStep]:
    rows = await session.scalars(
        select(OnboardingStep)
        .where(OnboardingStep.tenant_id == tenant_id)
        .order_by(OnboardingStep.position)
    )
    return list(rows.all())


async def tick_step(
    session: AsyncSession,
    *,
    tenant: Tenant,
    step: Step,
    now: datetime,
    by: str,
    source: str,
) -> bool:
    """Mark ``step`` done (once); completes the onboarding when it was the last one.

    The caller holds the tenant row (locked or freshly created), so two ticks of the
    last two steps cannot both miss the completion.
    """
    row = await session.get(OnboardingStep, (tenant.id, step.value))
    if row is None or row.completed_at is not None:
        return False
    row.completed_at = now
    row.completed_by = by[:200]
    row.source = source[:64]
    await session.flush()
    steps = await steps_of(session, tenant.id)
    if tenant.onboarded_at is None and all(s.completed_at is not None for s in steps):
        await _complete(session, tenant=tenant, steps=steps, now=now)
    return True


async def _complete(
    session: AsyncSession, *, tenant: Tenant, steps: list[OnboardingStep], now: datetime
) -> None:
    if tenant.status == TenantStatus.onboarding:
        await transition_tenant(session, tenant=tenant, target=TenantStatus.active, now=now)
    tenant.onboarded_at = now
    tenant.updated_at = now
    await publish(
        session,
        ev.TenantOnboarded(
            tenant_id=str(tenant.id),
            company_name=tenant.company_name,
            status=event_tenant_status(tenant.status),
            completed_steps=[s.step for s in steps],
            onboarded_at=now,
        ),
    )
    from onboarding_service.mail.outbound import mail_onboarded  # mail reads tenants

    await mail_onboarded(session, tenant=tenant)
    await session.flush()
