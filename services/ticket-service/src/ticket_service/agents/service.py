"""The agents registry and the choice of an assignee."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.models import Agent

ACTIVE_STATUSES = ("new", "open", "pending", "on_hold")


async def open_ticket_count(session: AsyncSession, agent_id: str) -> int:
    count = await session.scalar(select(Agent.active_tickets).where(Agent.id == agent_id))
    return int(count or 0)
