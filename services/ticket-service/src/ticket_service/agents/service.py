"""The agents registry and the choice of an assignee."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import Agent, Ticket

ACTIVE_STATUSES = ("new", "open", "pending", "on_hold")


def _load() -> object:
    return (
        select(func.count(Ticket.id))
        .where(Ticket.assignee_id == Agent.id, Ticket.status.in_(ACTIVE_STATUSES))
        .correlate(Agent)
        .scalar_subquery()
    )


async def least_loaded_agent(session: AsyncSession, *, queue: str) -> Agent | None:
    """The available agent of ``queue`` with the fewest active tickets (ties: by id)."""
    load = _load()
    stmt = (
        select(Agent)
        .where(Agent.available.is_(True), Agent.queues.contains([queue]))
        .order_by(load, Agent.id)  # type: ignore[arg-type]
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def open_ticket_count(session: AsyncSession, agent_id: str) -> int:
    count = await session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.assignee_id == agent_id, Ticket.status.in_(ACTIVE_STATUSES)
        )
    )
    return int(count or 0)
