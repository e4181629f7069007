"""Queries of e-mail intake: the messages seen (by Message-ID), the tenant of a sender's
domain, and the entries and tickets a message threads onto."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import Account, InboundMessage, Ticket, TimelineEntry


async def lock_message_id(session: AsyncSession, message_id: str) -> None:
    """Serialise the deliveries of one message: a concurrent one waits here until this
    transaction ends, then sees the message as seen."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"inbound-email:{message_id}"},
    )


async def seen_message(session: AsyncSession, message_id: str) -> InboundMessage | None:
    return await session.get(InboundMessage, message_id)


async def first_known(session: AsyncSession, message_ids: Sequence[str]) -> InboundMessage | None:
    """One of the messages with these ids that we took in, if any."""
    return (
        await session.scalars(
            select(InboundMessage).where(InboundMessage.message_id.in_(message_ids)).limit(1)
        )
    ).first()


async def tenant_of_domain(session: AsyncSession, domain: str) -> str | None:
    tenant_id: str | None = await session.scalar(
        select(Account.tenant_id).where(Account.domains.contains([domain])).limit(1)
    )
    return tenant_id


async def lock_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id, with_for_update=True)


async def opening_entry_id(session: AsyncSession, ticket_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(TimelineEntry.id)
        .where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.action == "created")
        .limit(1)
    )
    return found


async def add_message(session: AsyncSession, message: InboundMessage) -> None:
    session.add(message)
    await session.flush()
