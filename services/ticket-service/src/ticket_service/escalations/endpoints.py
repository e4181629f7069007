"""``POST /v1/tickets/{id}/escalations``: escalate a potential bug to QA."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.roles import AgentOnly, AgentOrService, ensure_staff
from ticket_service.escalations.schemas import EscalationIn, EscalationOut
from ticket_service.escalations.service import escalate, escalations_of
from ticket_service.tickets.service import load_ticket
from ticket_service.tickets.timeline import Actor

router = APIRouter(prefix="/v1/tickets", tags=["escalations"])


def _out(row: object) -> EscalationOut:
    return EscalationOut.model_validate(row, from_attributes=True)


@router.post(
    "/{ticket_id}/escalations",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    status_code=201,
    summary="Escalate to QA with steps, expected, actual, environment and severity",
)
async def create_escalation(
    ticket_id: uuid.UUID,
    body: EscalationIn,
    session: SessionDep,
    principal: AgentOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> EscalationOut:
    await idem.start(session, body)
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    escalation = await escalate(
        session, ticket=ticket, body=body, actor=Actor.of(principal), at=clock.now()
    )
    return await idem.complete(session, _out(escalation), status_code=201)


@router.get(
    "/{ticket_id}/escalations",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    summary="Escalations of a ticket",
)
async def list_escalations(
    ticket_id: uuid.UUID, session: SessionDep, principal: AgentOrService
) -> list[EscalationOut]:
    ensure_staff(principal)
    await load_ticket(session, ticket_id, principal=principal)
    return [_out(e) for e in await escalations_of(session, ticket_id)]
