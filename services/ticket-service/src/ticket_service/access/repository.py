"""Queries of access actions: the users a request names, the account, the requests and
their tickets (locked), and what tells how a ticket came in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import (
    AccessRequest,
    Account,
    AccountUser,
    InboundMessage,
    Ticket,
    TimelineEntry,
)


async def users_known_as(
    session: AsyncSession, *, email: str | None, user_id: str | None, tenant_first: str
) -> Sequence[AccountUser]:
    """The users with this e-mail (any case) or id; those of ``tenant_first`` first."""
    conditions: list[ColumnElement[bool]] = []
    if email is not None:
        conditions.append(func.lower(AccountUser.email) == email.lower())
    if user_id is not None:
        conditions.append(AccountUser.user_id == user_id)
    if not conditions:
        return []
    return (
        await session.scalars(
            select(AccountUser)
            .where(or_(*conditions))
            .order_by((AccountUser.tenant_id != tenant_first), AccountUser.user_id)
        )
    ).all()


async def get_account(session: AsyncSession, tenant_id: str) -> Account | None:
    return await session.get(Account, tenant_id)


async def came_by_mail(session: AsyncSession, ticket_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(InboundMessage.message_id).where(InboundMessage.ticket_id == ticket_id).limit(1)
    )
    return found is not None


async def opening_entry(session: AsyncSession, ticket_id: uuid.UUID) -> TimelineEntry | None:
    """The timeline entry of the ticket's opening message."""
    found: TimelineEntry | None = await session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.action == "created")
        .order_by(TimelineEntry.seq)
        .limit(1)
    )
    return found


async def add_request(session: AsyncSession, request: AccessRequest) -> None:
    session.add(request)
    await session.flush()


async def lock_request(session: AsyncSession, request_id: uuid.UUID) -> AccessRequest | None:
    return await session.get(AccessRequest, request_id, with_for_update=True)


async def lock_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id, with_for_update=True)
