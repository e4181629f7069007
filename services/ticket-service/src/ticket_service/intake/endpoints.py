"""``POST /v1/inbound-email``: the mail provider's webhook (service token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.roles import ensure_staff
from ticket_service.intake.schemas import InboundEmailIn, InboundEmailOut
from ticket_service.intake.service import take_in

router = APIRouter(tags=["intake"])
ServiceCaller = Annotated[Principal, Depends(require_roles(Role.service))]


@router.post(
    "/v1/inbound-email",
    operation_id="inboundEmail.receive",
    dependencies=[
        owned(body={"tenant_id": "tenant"}, exempt={"message_id": "the e-mail's own Message-ID"})
    ],
    status_code=201,
    summary="Take in an e-mail: new ticket, or a reply threaded onto its ticket",
    responses={
        200: {"description": "A Message-ID already taken in; nothing new happened"},
        202: {"description": "An auto-reply, bulk mail or bounce: recorded, no ticket, no mail"},
        413: {"description": "A raw message over the size limit: nothing stored"},
    },
    # the raw form is served by ticket_service.mail.endpoints (docs/email.md)
    openapi_extra={
        "requestBody": {
            "content": {
                "message/rfc822": {
                    "schema": {"type": "string", "format": "binary"},
                }
            }
        }
    },
)
async def inbound_email(
    mail: InboundEmailIn,
    session: SessionDep,
    principal: ServiceCaller,
    clock: ClockDep,
    response: Response,
) -> InboundEmailOut:
    ensure_staff(principal)
    out = await take_in(session, mail=mail, at=clock.now())
    if out.duplicate:
        response.status_code = 200
    return out
