"""Queries of CSAT: the surveyed ticket and the one response per solve."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import CsatResponse, Ticket


async def get_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool
) -> Ticket | None:
    return await session.get(Ticket, ticket_id, with_for_update=for_update)


async def add_response_once(
    session: AsyncSession,
    *,
    ticket: Ticket,
    solved_at: datetime,
    rating: int,
    comment: str | None,
    at: datetime,
) -> CsatResponse | None:
    """The response to this solve's survey; None if it was already answered."""
    inserted = await session.execute(
        insert(CsatResponse)
        .values(
            ticket_id=ticket.id,
            solved_at=solved_at,
            tenant_id=ticket.tenant_id,
            queue=ticket.queue,
            rating=rating,
            comment=comment,
            created_at=at,
        )
        .on_conflict_do_nothing()
        .returning(CsatResponse.ticket_id)
    )
    if inserted.first() is None:
        return None
    return await response_to(session, ticket_id=ticket.id, solved_at=solved_at)


async def response_to(
    session: AsyncSession, *, ticket_id: uuid.UUID, solved_at: datetime
) -> CsatResponse | None:
    """The answer to the survey of this solve, if given."""
    return await session.get(CsatResponse, (ticket_id, solved_at))
