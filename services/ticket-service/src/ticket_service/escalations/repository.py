"""Queries of escalations: the escalations of a ticket, bug links, and what the
timeline last said about a bug."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import Account, Escalation, Ticket, TicketBug, TimelineEntry


async def add_escalation(session: AsyncSession, escalation: Escalation) -> None:
    session.add(escalation)
    await session.flush()


async def get_account(session: AsyncSession, tenant_id: str) -> Account | None:
    return await session.get(Account, tenant_id)


async def lock_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id, with_for_update=True)


async def link_bug(
    session: AsyncSession, *, ticket_id: uuid.UUID, bug_id: str, at: datetime
) -> None:
    """Link the bug to the ticket (once: a repeated link is ignored)."""
    await session.execute(
        insert(TicketBug)
        .values(ticket_id=ticket_id, bug_id=bug_id, linked_at=at)
        .on_conflict_do_nothing()
    )


async def last_entry_about_bug(
    session: AsyncSession, *, ticket_id: uuid.UUID, bug_id: str
) -> TimelineEntry | None:
    return (
        await session.scalars(
            select(TimelineEntry)
            .where(
                TimelineEntry.ticket_id == ticket_id,
                TimelineEntry.data["bug_id"].astext == bug_id,
            )
            .order_by(TimelineEntry.seq.desc())
            .limit(1)
        )
    ).first()


async def escalations_of(session: AsyncSession, ticket_id: uuid.UUID) -> list[Escalation]:
    return list(
        (
            await session.scalars(
                select(Escalation)
                .where(Escalation.ticket_id == ticket_id)
                .order_by(Escalation.created_at)
            )
        ).all()
    )
