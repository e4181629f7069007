"""``/v1/agents``: who works which queue, and who is available."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from servicekit.authz import STAFF, owned
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly, AgentOnly
from ticket_service.agents import service
from ticket_service.agents.schemas import AgentIn, AgentOut, AgentSettable

router = APIRouter(prefix="/v1/agents", tags=["agents"])
AgentId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post(
    "",
    dependencies=[owned(exempt={"id": STAFF})],
    status_code=201,
    summary="Register an agent (admin)",
)
async def create_agent(
    body: AgentIn, session: SessionDep, principal: AdminOnly, idem: IdempotencyDep
) -> AgentOut:
    await idem.start(session, body)
    agent = await service.register(session, body)
    out = await service.to_out(session, agent)
    return await idem.complete(session, out, status_code=201)


@router.get("", summary="Agents, by id")
async def list_agents(session: SessionDep, principal: AgentOnly, page: PageDep) -> Page[AgentOut]:
    rows, cursor = await service.agents_page(session, page)
    return Page[AgentOut](
        items=[await service.to_out(session, a) for a in rows], next_cursor=cursor
    )


@router.get("/{agent_id}", dependencies=[owned(exempt={"agent_id": STAFF})], summary="One agent")
async def get_agent(agent_id: AgentId, session: SessionDep, principal: AgentOnly) -> AgentOut:
    return await service.to_out(session, await service.get_agent(session, agent_id))


@router.patch(
    "/{agent_id}",
    dependencies=[owned(exempt={"agent_id": STAFF})],
    summary="Change availability or queues",
    **merge_patch_route(AgentSettable),
)
async def update_agent(
    agent_id: AgentId, patch: MergePatch, session: SessionDep, principal: AgentOnly
) -> AgentOut:
    agent = await service.update_agent(session, agent_id, patch)
    return await service.to_out(session, agent)
