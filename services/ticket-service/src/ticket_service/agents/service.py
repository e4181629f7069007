"""The agents registry: who works which queue, and who is available."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.merge_patch import apply_merge_patch
from servicekit.pagination import PageParams
from ticket_service.agents import repository
from ticket_service.agents.schemas import AgentIn, AgentOut, AgentSettable
from ticket_service.models import Agent


async def to_out(session: AsyncSession, agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        available=agent.available,
        queues=list(agent.queues),
        open_tickets=await repository.active_ticket_count(session, agent.id),
        created_at=agent.created_at,
    )


async def register(session: AsyncSession, body: AgentIn) -> Agent:
    agent = Agent(
        id=body.id,
        name=body.name,
        email=body.email,
        available=body.available,
        queues=list(body.queues),
    )
    if not await repository.insert(session, agent):
        raise Conflict("an agent with this id exists", code="agent-exists")
    return agent


async def get_agent(session: AsyncSession, agent_id: str, *, for_update: bool = False) -> Agent:
    agent = await repository.get(session, agent_id, for_update=for_update)
    if agent is None:
        raise NotFound("agent not found")
    return agent


async def agents_page(session: AsyncSession, params: PageParams) -> tuple[list[Agent], str | None]:
    return await repository.page(session, params)


async def update_agent(session: AsyncSession, agent_id: str, patch: dict[str, Any]) -> Agent:
    """Merge-patch the agent's name, availability or queues."""
    agent = await get_agent(session, agent_id, for_update=True)
    current = {"name": agent.name, "available": agent.available, "queues": list(agent.queues)}
    merged = apply_merge_patch(AgentSettable, document=current, patch=patch)
    agent.name, agent.available, agent.queues = merged.name, merged.available, merged.queues
    await session.flush()
    return agent
