"""Queries of the support metrics: the tickets of a period (with their agent replies,
escalations and ratings) and the backlog by queue and status."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import CsatResponse, Escalation, Ticket, TimelineEntry

ACTIVE = ("new", "open", "pending", "on_hold")


@dataclass
class PeriodTickets:
    tickets: list[Ticket]
    agent_replies: Counter[uuid.UUID] = field(default_factory=Counter)
    escalated: set[uuid.UUID] = field(default_factory=set)
    ratings: dict[uuid.UUID, list[int]] = field(default_factory=lambda: defaultdict(list))


async def period_tickets(
    session: AsyncSession,
    *,
    created_from: datetime,
    created_to: datetime,
    queue: str | None,
    limit: int,
) -> PeriodTickets:
    """The tickets created in the period (at most ``limit``, oldest first), with how many
    public replies agents gave each, which were escalated, and their CSAT ratings."""
    stmt = select(Ticket).where(Ticket.created_at >= created_from, Ticket.created_at < created_to)
    if queue is not None:
        stmt = stmt.where(Ticket.queue == queue)
    stmt = stmt.order_by(Ticket.created_at, Ticket.id).limit(limit)
    found = PeriodTickets(tickets=list((await session.scalars(stmt)).all()))
    if not found.tickets:
        return found
    # the same tickets as a subquery: a list of 50,000 ids would exceed the bind limit
    ids = stmt.with_only_columns(Ticket.id).scalar_subquery()
    rows = await session.execute(
        select(TimelineEntry.ticket_id, func.count())
        .where(
            TimelineEntry.ticket_id.in_(ids),
            TimelineEntry.kind == "reply",
            TimelineEntry.author_type == "agent",
        )
        .group_by(TimelineEntry.ticket_id)
    )
    found.agent_replies.update({ticket_id: count for ticket_id, count in rows.tuples().all()})
    found.escalated = set(
        (
            await session.scalars(select(Escalation.ticket_id).where(Escalation.ticket_id.in_(ids)))
        ).all()
    )
    ratings = await session.execute(
        select(CsatResponse.ticket_id, CsatResponse.rating).where(CsatResponse.ticket_id.in_(ids))
    )
    for ticket_id, rating in ratings.tuples().all():
        found.ratings[ticket_id].append(rating)
    return found


async def backlog(session: AsyncSession, *, queue: str | None) -> dict[str, dict[str, int]]:
    """The active tickets by queue ("unrouted" for none) and status."""
    stmt = select(Ticket.queue, Ticket.status, func.count()).where(Ticket.status.in_(ACTIVE))
    if queue is not None:
        stmt = stmt.where(Ticket.queue == queue)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for q, status, count in (
        (await session.execute(stmt.group_by(Ticket.queue, Ticket.status))).tuples().all()
    ):
        counts[q or "unrouted"][status] = count
    return counts
