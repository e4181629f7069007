"""``POST /v1/tickets/{id}/escalations``: escalate a potential bug to QA."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from ticket_service.clock import ClockDep
from ticket_service.escalations.schemas import EscalationIn, EscalationOut
from ticket_service.escalations.service import escalate, escalations_of
from ticket_service.roles import AgentOnly, TicketReader, ensure_staff
from ticket_service.tickets.service import Actor, load_ticket

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
        session, ticket=ticket, body=body, actor=Actor.of(principal), at=clock()
    )
    return await idem.complete(session, _out(escalation), status_code=201)


@router.get(
    "/{ticket_id}/escalations",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    summary="Escalations of a ticket",
)
async def list_escalations(
    ticket_id: uuid.UUID, session: SessionDep, principal: TicketReader
) -> list[EscalationOut]:
    ensure_staff(principal)
    await load_ticket(session, ticket_id, principal=principal)
    return [_out(e) for e in await escalations_of(session, ticket_id)]
