"""Read models of tickets and tenant plans, and the customer impact of a bug built on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.impact import repository
from escalation_service.impact.schemas import Impact
from escalation_service.models import BugLink, TenantPlan, TicketView
from supportops_events.billing import SubscriptionEvent
from supportops_events.tickets import TicketEvent, TicketSlaBreached, TicketSlaWarning

TIER_RANK = {"starter": 1, "team": 2, "business": 3, "enterprise": 4}
CLOSED_TICKET_STATES = ("solved", "closed")


async def record_ticket(
    session: AsyncSession,
    *,
    ticket_id: str,
    tenant_id: str,
    status: str,
    at: datetime,
    priority: str | None = None,
    sla_state: str | None = None,
) -> None:
    """Apply a ticket event; an event older than what we hold changes nothing."""
    if await repository.insert_ticket_if_absent(
        session,
        ticket_id=ticket_id,
        tenant_id=tenant_id,
        status=status,
        priority=priority,
        sla_state=sla_state or "ok",
        at=at,
    ):
        return
    view = await repository.lock_ticket(session, ticket_id)
    if at >= view.updated_at:
        view.status = status
        view.updated_at = at
        if priority is not None:
            view.priority = priority
        if sla_state is not None and _sla_rank(sla_state) >= _sla_rank(view.sla_state):
            view.sla_state = sla_state
    await session.flush()


async def record_ticket_event(session: AsyncSession, *, event: TicketEvent, at: datetime) -> None:
    """Apply any ``ticket.*`` event: its status, its priority when it carries one, and the
    SLA state an SLA warning or breach announces."""
    match event:
        case TicketSlaBreached():
            sla_state: str | None = "breached"
        case TicketSlaWarning():
            sla_state = "warning"
        case _:
            sla_state = None
    priority = getattr(event, "priority", None)  # carried by some ticket events only
    await record_ticket(
        session,
        ticket_id=event.ticket_id,
        tenant_id=event.tenant_id,
        status=event.status.value,
        priority=str(priority.value) if priority is not None else None,
        sla_state=sla_state,
        at=at,
    )


def _sla_rank(state: str) -> int:
    return {"ok": 0, "warning": 1, "breached": 2}.get(state, 0)


async def record_subscription_event(
    session: AsyncSession, *, event: SubscriptionEvent, at: datetime
) -> None:
    """Apply a ``subscription.*`` event to the tenant's plan."""
    await record_plan(
        session,
        tenant_id=event.tenant_id,
        plan_tier=event.plan_tier.value,
        status=event.status.value,
        at=at,
    )


async def record_plan(
    session: AsyncSession, *, tenant_id: str, plan_tier: str, status: str, at: datetime
) -> None:
    if await repository.insert_plan_if_absent(
        session, tenant_id=tenant_id, plan_tier=plan_tier, status=status, at=at
    ):
        return
    plan = await repository.lock_plan(session, tenant_id)
    if at >= plan.updated_at:
        plan.plan_tier = plan_tier
        plan.subscription_status = status
        plan.updated_at = at
    await session.flush()


def impact_of(
    *,
    links: Sequence[BugLink],
    affected_tenants: Sequence[str],
    views: Mapping[str, TicketView],
    plans: Mapping[str, TenantPlan],
) -> Impact:
    """The impact of a bug with ``links``, from the ticket views and plans read for a whole
    page at once (``repository.ticket_views``, ``repository.plans_of``)."""
    own_views = [views[link.ticket_id] for link in links if link.ticket_id in views]
    tenants = sorted(set(affected_tenants) | {link.tenant_id for link in links})
    tiers = {t: plans[t].plan_tier for t in tenants if t in plans}
    highest = max(tiers.values(), key=lambda tier: TIER_RANK.get(tier, 0), default=None)
    open_views = [v for v in own_views if v.status not in CLOSED_TICKET_STATES]
    return Impact(
        affected_tenants=tenants,
        highest_customer_tier=highest,
        tiers=tiers,
        open_linked_tickets=len([link for link in links if link.ticket_id not in views])
        + len(open_views),
        sla_breached_tickets=len([v for v in open_views if v.sla_state == "breached"]),
        sla_at_risk_tickets=len([v for v in open_views if v.sla_state == "warning"]),
    )
