"""``/v1/agents``: who works which queue, and who is available."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from servicekit.authz import STAFF, owned
from servicekit.deps import SessionDep
from servicekit.errors import Conflict, NotFound
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, apply_merge_patch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate
from ticket_service.agents.schemas import AgentIn, AgentOut, AgentSettable
from ticket_service.agents.service import open_ticket_count
from ticket_service.models import Agent
from ticket_service.roles import Admin, AgentOnly

router = APIRouter(prefix="/v1/agents", tags=["agents"])
AgentId = Annotated[str, Path(min_length=1, max_length=64)]


async def _out(session: SessionDep, agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        available=agent.available,
        queues=list(agent.queues),
        open_tickets=await open_ticket_count(session, agent.id),
        created_at=agent.created_at,
    )


@router.post(
    "",
    dependencies=[owned(exempt={"id": STAFF})],
    status_code=201,
    summary="Register an agent (admin)",
)
async def create_agent(
    body: AgentIn, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> AgentOut:
    await idem.start(session, body)
    agent = Agent(
        id=body.id,
        name=body.name,
        email=body.email,
        available=body.available,
        queues=list(body.queues),
    )
    session.add(agent)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("an agent with this id exists", code="agent-exists") from exc
    await session.refresh(agent)
    out = await _out(session, agent)
    return await idem.complete(session, out, status_code=201)


@router.get("", summary="Agents, by id")
async def list_agents(session: SessionDep, principal: AgentOnly, page: PageDep) -> Page[AgentOut]:
    rows, cursor = await paginate(session, select(Agent), keys=[Agent.id], params=page)
    return Page[AgentOut](items=[await _out(session, a) for a in rows], next_cursor=cursor)


@router.get("/{agent_id}", dependencies=[owned(exempt={"agent_id": STAFF})], summary="One agent")
async def get_agent(agent_id: AgentId, session: SessionDep, principal: AgentOnly) -> AgentOut:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent not found")
    return await _out(session, agent)


@router.patch(
    "/{agent_id}",
    dependencies=[owned(exempt={"agent_id": STAFF})],
    summary="Change availability or queues",
    **merge_patch_route(AgentSettable),
)
async def update_agent(
    agent_id: AgentId, patch: MergePatch, session: SessionDep, principal: AgentOnly
) -> AgentOut:
    agent = await session.get(Agent, agent_id, with_for_update=True)
    if agent is None:
        raise NotFound("agent not found")
    current = {"name": agent.name, "available": agent.available, "queues": list(agent.queues)}
    merged = apply_merge_patch(AgentSettable, document=current, patch=patch)
    agent.name, agent.available, agent.queues = merged.name, merged.available, merged.queues
    await session.flush()
    return await _out(session, agent)
