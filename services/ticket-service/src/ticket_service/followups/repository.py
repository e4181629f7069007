"""Queries of billing follow-ups: the ticket of a follow-up key, the tickets of an
invoice, and the tenant's account."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import Account, Ticket


async def ticket_of_key(
    session: AsyncSession, followup_key: str, *, for_update: bool = False
) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.followup_key == followup_key)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def lock_tickets_of_invoice(
    session: AsyncSession, *, tenant_id: str, invoice_id: str
) -> Sequence[Ticket]:
    return (
        await session.scalars(
            select(Ticket)
            .where(Ticket.followup_invoice_id == invoice_id, Ticket.tenant_id == tenant_id)
            .with_for_update()
        )
    ).all()


async def get_account(session: AsyncSession, tenant_id: str) -> Account | None:
    return await session.get(Account, tenant_id)
