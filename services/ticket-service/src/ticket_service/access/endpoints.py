"""``POST /v1/tickets/{id}/access-actions``: verified access actions for a named user."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import PROBLEM_JSON, problem_response
from servicekit.idempotency import IdempotencyDep
from servicekit.roles import AgentOnly, ensure_staff
from ticket_service.access.gate import VerificationRefused
from ticket_service.access.schemas import AccessActionIn, AccessRequestOut, ConfirmationIn
from ticket_service.access.service import request_action, submit_confirmation
from ticket_service.tickets.service import load_ticket
from ticket_service.tickets.timeline import Actor

PROBLEM_HEADERS = {"content-type": PROBLEM_JSON}
router = APIRouter(prefix="/v1/tickets", tags=["access actions"])


@router.post(
    "/{ticket_id}/access-actions",
    dependencies=[owned(path={"ticket_id": "ticket"}, body={"user_id": "user"})],
    status_code=202,
    # declared: the annotation also admits the refusal's Response, which is not a model
    response_model=AccessRequestOut,
    summary="Request an access action after the verification gate (409 listing reasons)",
    responses={
        409: {
            "description": "verification-failed: `reasons` (the failed checks) and `checks` "
            "(all of them, also recorded on the ticket's timeline)"
        }
    },
)
async def create_access_action(
    ticket_id: uuid.UUID,
    body: AccessActionIn,
    session: SessionDep,
    principal: AgentOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
    http: Request,
) -> AccessRequestOut | Response:
    await idem.start(session, body)
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    try:
        request = await request_action(
            session, ticket=ticket, body=body, actor=Actor.of(principal), at=clock.now()
        )
    except VerificationRefused as refused:
        # answered, not raised: the checks on the timeline commit with the refusal
        problem = refused.to_problem(instance=http.url.path)
        await idem.complete(session, problem, status_code=409, headers=PROBLEM_HEADERS)
        return problem_response(problem)
    out = AccessRequestOut.model_validate(request, from_attributes=True)
    return await idem.complete(session, out, status_code=202)


@router.post(
    "/{ticket_id}/access-actions/{request_id}/confirmations",
    dependencies=[owned(path={"ticket_id": "ticket", "request_id": "access_request"})],
    status_code=202,
    summary="Enter the one-time code the user read back for a pending MFA reset",
    responses={409: {"description": "no code is awaited for this request"}},
)
async def confirm_access_action(
    ticket_id: uuid.UUID,
    request_id: uuid.UUID,
    body: ConfirmationIn,
    session: SessionDep,
    principal: AgentOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> AccessRequestOut:
    await idem.start(session, body)
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    request = await submit_confirmation(
        session,
        ticket=ticket,
        request_id=request_id,
        code=body.code,
        actor=Actor.of(principal),
        at=clock.now(),
    )
    out = AccessRequestOut.model_validate(request, from_attributes=True)
    return await idem.complete(session, out, status_code=202)
