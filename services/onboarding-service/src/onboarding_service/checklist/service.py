"""The onboarding checklist: steps tick from events and actions; all done → onboarded. Also
the two actions that are checklist steps themselves: net terms accepted, welcome sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist import repository
from onboarding_service.checklist.steps import DUE_AFTER, Step
from onboarding_service.checklist.welcome import WelcomeTemplate, render
from onboarding_service.mail.outbound import mail_onboarded, mail_welcome
from onboarding_service.models import OnboardingStep, Tenant, WelcomeMessage
from onboarding_service.tenants.lifecycle import (
    TenantStatus,
    event_tenant_status,
    tenant_timezone,
    transition_tenant,
)
from onboarding_service.tenants.repository import domains_of
from servicekit.errors import Conflict
from servicekit.outbox import publish
from servicekit.pagination import PageParams
from supportops_events import onboarding as ev
from supportops_events.billing import CollectionMethod


async def start_checklist(session: AsyncSession, *, tenant: Tenant, now: datetime) -> None:
    await repository.add_steps(
        session,
        [
            OnboardingStep(
                tenant_id=tenant.id,
                step=step.value,
                position=position,
                started_at=now,
                due_at=now + DUE_AFTER[step],
            )
            for position, step in enumerate(Step)
        ],
    )


async def steps_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[OnboardingStep]:
    return await repository.steps_of(session, tenant_id)


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
    row = await repository.get_step(session, tenant.id, step.value)
    if row is None or row.completed_at is not None:
        return False
    row.completed_at = now
    row.completed_by = by[:200]
    row.source = source[:64]
    await session.flush()
    steps = await repository.steps_of(session, tenant.id)
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
            timezone=tenant_timezone(tenant),
            completed_steps=[s.step for s in steps],
            onboarded_at=now,
        ),
    )
    await mail_onboarded(session, tenant=tenant)
    await session.flush()


async def accept_net_terms(
    session: AsyncSession, *, tenant: Tenant, by: str, now: datetime
) -> None:
    """Net-terms customers confirm payment by accepting the terms, not by paying first."""
    if tenant.collection_method != CollectionMethod.send_invoice:
        raise Conflict(
            "net terms apply only to send_invoice customers; card customers confirm by paying",
            code="not-net-terms",
        )
    if tenant.net_terms_accepted_at is None:
        tenant.net_terms_accepted_at = now
        tenant.updated_at = now
    await tick_step(
        session, tenant=tenant, step=Step.payment_confirmed, now=now, by=by, source="net_terms"
    )
    await session.flush()


async def send_welcome(
    session: AsyncSession, *, tenant: Tenant, template: WelcomeTemplate, by: str, now: datetime
) -> WelcomeMessage:
    """Render an approved welcome template for the tenant's admin and record it as sent."""
    domains = (await domains_of(session, [tenant.id]))[tenant.id]
    subject, text = render(
        template,
        {
            "company_name": tenant.company_name,
            "admin_name": tenant.admin_name,
            "admin_email": tenant.admin_email,
            "plan_code": tenant.plan_code,
            "seats": tenant.seat_limit,
            "domains": domains,
            "billing_email": tenant.billing_email,
            "days_until_due": tenant.days_until_due,
        },
    )
    message = WelcomeMessage(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        template=template.value,
        recipient=tenant.admin_email,
        subject=subject[:300],
        body=text,
        sent_by=by[:200],
        sent_at=now,
    )
    await repository.add_welcome(session, message)
    await mail_welcome(session, tenant=tenant, to=message.recipient, subject=subject, text=text)
    await tick_step(
        session, tenant=tenant, step=Step.welcome_sent, now=now, by=by, source="welcome"
    )
    return message


async def stuck_page(
    session: AsyncSession,
    *,
    now: datetime,
    tenant_id: uuid.UUID | None,
    only_tenant: bool,
    page: PageParams,
) -> tuple[list[Tenant], str | None]:
    """One page of onboardings with a step overdue at ``now`` (``only_tenant``: of
    ``tenant_id`` alone)."""
    return await repository.stuck_page(
        session, now=now, tenant_id=tenant_id, only_tenant=only_tenant, page=page
    )


async def count_stuck(session: AsyncSession, now: datetime) -> int:
    """Onboardings with a step overdue at ``now``."""
    return await repository.count_stuck(session, now)
