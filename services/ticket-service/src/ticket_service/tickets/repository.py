"""Queries of the ticket create, get and list paths, each shaped to be one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.config_cache import version_column
from ticket_service.models import Account, Agent, Bug, Ticket, TicketBug


@dataclass(frozen=True)
class IntakeContext:
    plan_tier: str | None
    config_version: int | None


async def intake_context(session: AsyncSession, *, tenant_id: str) -> IntakeContext:
    """What a new ticket needs from the database before its insert, in one statement:
    the tenant's plan tier (triage conditions, SLA targets) and the config version."""
    row = (
        await session.execute(
            select(
                select(Account.plan_tier)
                .where(Account.tenant_id == tenant_id)
                .scalar_subquery()
                .label("plan_tier"),
                version_column().label("config_version"),
            )
        )
    ).one()
    return IntakeContext(plan_tier=row.plan_tier, config_version=row.config_version)


async def least_loaded(session: AsyncSession, *, candidates: Sequence[str]) -> str | None:
    """The candidate with the fewest active tickets (ties: by id): the load is the
    agents' trigger-kept counter, so this reads one row per candidate, not their tickets."""
    if not candidates:
        return None
    found: str | None = await session.scalar(
        select(Agent.id)
        .where(Agent.id.in_(list(candidates)), Agent.available.is_(True))
        .order_by(Agent.active_tickets, Agent.id)
        .limit(1)
    )
    return found


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    plan_tier: str | None
    config_version: int | None
    linked_bugs: list[dict[str, Any]]


async def ticket_with_context(
    session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False
) -> TicketRow | None:
    """A ticket with what its detail needs besides the timeline, in one statement: the
    tenant's plan tier, the config version and its linked bugs."""
    bugs = (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(
                            "bug_id",
                            Bug.bug_id,
                            "key",
                            Bug.key,
                            "title",
                            Bug.title,
                            "status",
                            Bug.status,
                        ),
                        Bug.key,
                    )
                ),
                func.jsonb_build_array(),
            )
        )
        .join(TicketBug, TicketBug.bug_id == Bug.bug_id)
        .where(TicketBug.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )
    stmt = select(
        Ticket,
        select(Account.plan_tier)
        .where(Account.tenant_id == Ticket.tenant_id)
        .correlate(Ticket)
        .scalar_subquery(),
        version_column(),
        bugs,
    ).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update(of=Ticket)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return TicketRow(
        ticket=row[0], plan_tier=row[1], config_version=row[2], linked_bugs=list(row[3] or [])
    )
