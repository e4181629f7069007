"""Every query on the read models of tickets and tenant plans."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.models import Base, TenantPlan, TicketView

M = TypeVar("M", bound=Base)


async def insert_ticket_if_absent(
    session: AsyncSession,
    *,
    ticket_id: str,
    tenant_id: str,
    status: str,
    priority: str | None,
    sla_state: str,
    at: datetime,
) -> bool:
    """Insert the ticket's view unless it exists; True when this call inserted it.

    Insert-if-absent first: two events of a new ticket handled at once cannot collide."""
    created = await session.execute(
        insert(TicketView)
        .values(
            ticket_id=ticket_id,
            tenant_id=tenant_id,
            status=status,
            priority=priority,
            sla_state=sla_state,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=[TicketView.ticket_id])
        .returning(TicketView.ticket_id)
    )
    return created.first() is not None


async def lock_ticket(session: AsyncSession, ticket_id: str) -> TicketView:
    return await _locked(session, TicketView, TicketView.ticket_id == ticket_id)


async def insert_plan_if_absent(
    session: AsyncSession, *, tenant_id: str, plan_tier: str, status: str, at: datetime
) -> bool:
    """Insert the tenant's plan unless it exists; True when this call inserted it."""
    created = await session.execute(
        insert(TenantPlan)
        .values(tenant_id=tenant_id, plan_tier=plan_tier, subscription_status=status, updated_at=at)
        .on_conflict_do_nothing(index_elements=[TenantPlan.tenant_id])
        .returning(TenantPlan.tenant_id)
    )
    return created.first() is not None


async def lock_plan(session: AsyncSession, tenant_id: str) -> TenantPlan:
    return await _locked(session, TenantPlan, TenantPlan.tenant_id == tenant_id)


async def _locked(session: AsyncSession, model: type[M], where: ColumnElement[bool]) -> M:
    stmt = select(model).where(where).with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one()


async def ticket_views(session: AsyncSession, ticket_ids: Collection[str]) -> dict[str, TicketView]:
    """The views of ``ticket_ids`` (those known), in one query."""
    if not ticket_ids:
        return {}
    rows = await session.scalars(
        select(TicketView).where(TicketView.ticket_id.in_(sorted(set(ticket_ids))))
    )
    return {v.ticket_id: v for v in rows}


async def plans_of(session: AsyncSession, tenant_ids: Collection[str]) -> dict[str, TenantPlan]:
    """The known plans of ``tenant_ids``, in one query."""
    if not tenant_ids:
        return {}
    rows = await session.scalars(
        select(TenantPlan).where(TenantPlan.tenant_id.in_(sorted(set(tenant_ids))))
    )
    return {p.tenant_id: p for p in rows}


def ticket_tenant_statement(ticket_id: str) -> Select[tuple[str]]:
    """The tenant of a known ticket (for ``servicekit.authz.owner_of``)."""
    return select(TicketView.tenant_id).where(TicketView.ticket_id == ticket_id)


async def tenant_of_ticket(session: AsyncSession, ticket_id: str) -> str | None:
    found = await session.scalar(ticket_tenant_statement(ticket_id))
    return None if found is None else str(found)
