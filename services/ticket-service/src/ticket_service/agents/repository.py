"""Queries of the agents registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageParams, paginate
from ticket_service.models import Agent


async def get(session: AsyncSession, agent_id: str, *, for_update: bool = False) -> Agent | None:
    return await session.get(Agent, agent_id, with_for_update=for_update)


async def insert(session: AsyncSession, agent: Agent) -> bool:
    """Insert ``agent`` and read back its defaults; False if its id is taken (the
    savepoint keeps the transaction usable)."""
    session.add(agent)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    await session.refresh(agent)
    return True


async def page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    """One page of the agents, by id."""
    return await paginate(session, select(Agent), keys=[Agent.id], params=params)


async def active_ticket_count(session: AsyncSession, agent_id: str) -> int:
    """The agent's active tickets (a counter kept by a trigger)."""
    count = await session.scalar(select(Agent.active_tickets).where(Agent.id == agent_id))
    return int(count or 0)


async def roster(session: AsyncSession) -> Sequence[Agent]:
    """Every agent, by id (the configuration cache keeps who works which queue)."""
    return (await session.scalars(select(Agent).order_by(Agent.id))).all()
