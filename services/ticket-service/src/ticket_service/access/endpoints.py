"""``POST /v1/tickets/{id}/access-actions``: verified access actions for a named user."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from ticket_service.access.schemas import AccessActionIn, AccessRequestOut
from ticket_service.access.service import request_action
from ticket_service.clock import ClockDep
from ticket_service.roles import AgentOnly, ensure_staff
from ticket_service.tickets.service import Actor, load_ticket

router = APIRouter(prefix="/v1/tickets", tags=["access actions"])


@router.post(
    "/{ticket_id}/access-actions",
    dependencies=[owned(path={"ticket_id": "ticket"}, body={"user_id": "user"})],
    status_code=202,
    summary="Request an access action after the verification gate (409 listing reasons)",
)
async def create_access_action(
    ticket_id: uuid.UUID,
    body: AccessActionIn,
    session: SessionDep,
    principal: AgentOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> AccessRequestOut:
    if (replay := await idem.begin(session, body)) is not None:
        return replay  # type: ignore[return-value]
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    request = await request_action(
        session, ticket=ticket, body=body, actor=Actor.of(principal), at=clock()
    )
    out = AccessRequestOut.model_validate(request, from_attributes=True)
    return await idem.complete(session, out, status_code=202)  # type: ignore[no-any-return]
