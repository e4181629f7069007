"""Event handlers of the escalation-service: decode an event, call a service function."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.schemas import BugCreate, EnvironmentIn, TicketRef
from escalation_service.bugs.service import filing
from escalation_service.bugs.service.common import Context
from escalation_service.clock import Clock, SystemClock
from escalation_service.impact.service import record_plan, record_ticket
from escalation_service.ownership import hear_tenant
from servicekit.consumer import EventRouter, Reject
from supportops_events import Envelope
from supportops_events.billing import (
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionEvent,
    SubscriptionUpdated,
)
from supportops_events.onboarding import (
    TenantActivated,
    TenantChurned,
    TenantCreated,
    TenantOnboarded,
    TenantReactivated,
    TenantSuspended,
)
from supportops_events.tickets import (
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketReopened,
    TicketReplied,
    TicketSlaBreached,
    TicketSlaWarning,
    TicketSolved,
    TicketStatusChanged,
    TicketTriaged,
)

DEFAULT_DUPLICATE_THRESHOLD = 0.72


def build_events(
    *, clock: Clock, duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
) -> EventRouter:
    events = EventRouter()

    @events.on(TicketEscalated)
    async def on_ticket_escalated(session: AsyncSession, envelope: Envelope) -> None:
        data = envelope.data
        assert isinstance(data, TicketEscalated)
        try:
            report = report_from_ticket(data)
        except ValidationError as exc:
            raise Reject(f"escalated ticket cannot be filed: {exc}") from exc
        await record_ticket(
            session,
            ticket_id=data.ticket_id,
            tenant_id=data.tenant_id,
            status=data.status.value,
            priority=data.priority.value,
            at=envelope.time,
        )
        # A different event id for a ticket we already filed changes nothing (None).
        await filing.file_escalated_ticket(
            session,
            report=report,
            ctx=Context(actor_id=data.escalated_by, now=clock.now()),
            duplicate_threshold=duplicate_threshold,
        )

    for ticket_event in (
        TicketCreated,
        TicketTriaged,
        TicketAssigned,
        TicketReplied,
        TicketStatusChanged,
        TicketSolved,
        TicketReopened,
        TicketSlaWarning,
        TicketSlaBreached,
    ):
        events.on(ticket_event)(on_ticket_event)

    for subscription_event in (
        SubscriptionCreated,
        SubscriptionActivated,
        SubscriptionUpdated,
        SubscriptionCanceled,
    ):
        events.on(subscription_event)(on_subscription_event)

    for tenant_event in (
        TenantCreated,
        TenantActivated,
        TenantOnboarded,
        TenantSuspended,
        TenantReactivated,
        TenantChurned,
    ):
        events.on(tenant_event)(hear_tenant)

    return events


async def on_ticket_event(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    assert isinstance(data, TicketEvent)
    sla_state: str | None = None
    if isinstance(data, TicketSlaBreached):
        sla_state = "breached"
    elif isinstance(data, TicketSlaWarning):
        sla_state = "warning"
    priority = getattr(data, "priority", None)
    await record_ticket(
        session,
        ticket_id=data.ticket_id,
        tenant_id=data.tenant_id,
        status=data.status.value,
        priority=str(priority.value) if priority is not None else None,
        sla_state=sla_state,
        at=envelope.time,
    )


async def on_subscription_event(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    assert isinstance(data, SubscriptionEvent)
    await record_plan(
        session,
        tenant_id=data.tenant_id,
        plan_tier=data.plan_tier.value,
        status=data.status.value,
        at=envelope.time,
    )


def report_from_ticket(data: TicketEscalated) -> BugCreate:
    env = data.environment
    return BugCreate(
        tenant_id=data.tenant_id,
        title=data.title[:200] or data.ticket_id,
        summary=(data.description or "")[:10_000],
        steps=[s[:2000] for s in data.steps if s.strip()][:50],
        expected=data.expected[:10_000],
        actual=data.actual[:10_000],
        environment=EnvironmentIn(
            app_version=(env.app_version or None) and env.app_version[:64],
            browser=(env.browser or None) and env.browser[:120],
            os=(env.os or None) and env.os[:120],
            tenant_configuration={k[:200]: v[:500] for k, v in list(env.extra.items())[:50] if k},
        ),
        severity=data.severity,
        # Ids are not cut to fit: a shortened id would name another ticket (or tenant).
        linked_tickets=[TicketRef(ticket_id=data.ticket_id, tenant_id=data.tenant_id)],
    )


events = build_events(clock=SystemClock())
