"""Read models of tickets and tenant plans, and the customer impact of a bug built on them."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.schemas import Impact
from escalation_service.models import Base, BugLink, TenantPlan, TicketView

M = TypeVar("M", bound=Base)

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
    # Insert-if-absent first: two events of a new ticket handled at once cannot collide.
    created = await session.execute(
        insert(TicketView)
        .values(
            ticket_id=ticket_id,
            tenant_id=tenant_id,
            status=status,
            priority=priority,
            sla_state=sla_state or "ok",
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=[TicketView.ticket_id])
        .returning(TicketView.ticket_id)
    )
    if created.first() is not None:
        return
    view = await _locked(session, TicketView, TicketView.ticket_id == ticket_id)
    if at >= view.updated_at:
        view.status = status
        view.updated_at = at
        if priority is not None:
            view.priority = priority
        if sla_state is not None and _sla_rank(sla_state) >= _sla_rank(view.sla_state):
            view.sla_state = sla_state
    await session.flush()


def _sla_rank(state: str) -> int:
    return {"ok": 0, "warning": 1, "breached": 2}.get(state, 0)


async def record_plan(
    session: AsyncSession, *, tenant_id: str, plan_tier: str, status: str, at: datetime
) -> None:
    created = await session.execute(
        insert(TenantPlan)
        .values(tenant_id=tenant_id, plan_tier=plan_tier, subscription_status=status, updated_at=at)
        .on_conflict_do_nothing(index_elements=[TenantPlan.tenant_id])
        .returning(TenantPlan.tenant_id)
    )
    if created.first() is not None:
        return
    plan = await _locked(session, TenantPlan, TenantPlan.tenant_id == tenant_id)
    if at >= plan.updated_at:
        plan.plan_tier = plan_tier
        plan.subscription_status = status
        plan.updated_at = at
    await session.flush()


async def _locked(session: AsyncSession, model: type[M], where: ColumnElement[bool]) -> M:
    stmt = select(model).where(where).with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one()


async def ticket_views(session: AsyncSession, ticket_ids: list[str]) -> dict[str, TicketView]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(TicketView).where(TicketView.ticket_id.in_(ticket_ids)))
    return {v.ticket_id: v for v in rows}


async def impact_of(
    session: AsyncSession, *, links: list[BugLink], affected_tenants: list[str]
) -> Impact:
    views = await ticket_views(session, [link.ticket_id for link in links])
    tenants = sorted(set(affected_tenants) | {link.tenant_id for link in links})
    plans = (
        {
            p.tenant_id: p
            for p in await session.scalars(
                select(TenantPlan).where(TenantPlan.tenant_id.in_(tenants))
            )
        }
        if tenants
        else {}
    )
    tiers = {t: plans[t].plan_tier for t in tenants if t in plans}
    highest = max(tiers.values(), key=lambda tier: TIER_RANK.get(tier, 0), default=None)
    open_views = [v for v in views.values() if v.status not in CLOSED_TICKET_STATES]
    return Impact(
        affected_tenants=tenants,
        highest_customer_tier=highest,
        tiers=tiers,
        open_linked_tickets=len([link for link in links if link.ticket_id not in views])
        + len(open_views),
        sla_breached_tickets=len([v for v in open_views if v.sla_state == "breached"]),
        sla_at_risk_tickets=len([v for v in open_views if v.sla_state == "warning"]),
    )
