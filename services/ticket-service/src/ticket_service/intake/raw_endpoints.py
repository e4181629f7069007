"""Raw inbound mail: ``POST /v1/inbound-email`` with ``Content-Type: message/rfc822``.

The JSON form stays in ``intake.endpoints``. The raw route is matched only for that
content type (``RawMailRoute``), so the two share one documented operation. Parsing,
loop protection and attachments come from ``ticket_service.mail`` (docs/email.md).
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import Scope

from servicekit.auth import Principal, Role, require_roles
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import ProblemError, Unprocessable
from servicekit.roles import ensure_staff
from ticket_service.intake.schemas import Address, InboundEmailIn
from ticket_service.intake.service import take_in
from ticket_service.mail.attachments import store_attachments
from ticket_service.mail.inbound import MAX_TEXT, UnreadableMail, parse
from ticket_service.mail.models import IgnoredMail
from ticket_service.mail.schemas import AttachmentOut
from ticket_service.models import Ticket

RAW_MEDIA_TYPE = "message/rfc822"
logger = logging.getLogger("ticket_service.mail")
ServiceCaller = Annotated[Principal, Depends(require_roles(Role.service))]


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload-too-large", "Message too large"


class RawMailRoute(APIRoute):
    """Matches only requests whose body is a raw mail."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http":
            headers = dict(scope.get("headers") or [])
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media != RAW_MEDIA_TYPE.encode():
                return Match.NONE, {}
        return super().matches(scope)


raw_router = APIRouter(tags=["intake"], route_class=RawMailRoute)


class RawInboundOut(BaseModel):
    """What became of a raw mail: a ticket or a reply (with its attachments), a
    duplicate of a Message-ID taken in before, or ignored (``ignored`` says why)."""

    ticket_id: uuid.UUID | None = None
    entry_id: uuid.UUID | None = None
    threaded: bool = False
    duplicate: bool = False
    follow_up_of: uuid.UUID | None = None
    ignored: str | None = None
    """Loop protection: ``auto-submitted``, ``precedence``, ``auto-reply`` or ``bounce``."""
    attachments: list[AttachmentOut] = []


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


@raw_router.post(
    "/v1/inbound-email",
    status_code=201,
    include_in_schema=False,  # documented on the JSON operation (intake.endpoints)
)
async def inbound_raw_email(
    request: Request,
    session: SessionDep,
    principal: ServiceCaller,
    clock: ClockDep,
    response: Response,
) -> RawInboundOut:
    ensure_staff(principal)
    limit = int(request.app.state.settings.inbound_email_max_bytes)
    raw = await _read_limited(request, limit)
    try:
        mail = parse(raw)
    except UnreadableMail as exc:
        raise Unprocessable(str(exc), code="unreadable-mail") from None
    except Exception:  # malformed beyond what the stdlib parser tolerates: the sender's bytes
        logger.warning("unparseable inbound mail (%d bytes)", len(raw), exc_info=True)
        raise Unprocessable("the message cannot be parsed", code="unreadable-mail") from None
    at = clock.now()
    if mail.loop_reason is not None:
        # no ticket and no mail (RFC 3834): answering would start a mail loop
        session.add(
            IgnoredMail(
                message_id=mail.message_id[:998],
                sender=mail.sender_email[:320],
                subject=mail.subject,
                reason=mail.loop_reason,
                detail=mail.loop_detail,
                received_at=at,
            )
        )
        await session.flush()
        response.status_code = 202
        return RawInboundOut(ignored=mail.loop_reason)
    try:
        inbound = InboundEmailIn(
            message_id=mail.message_id[:998],
            in_reply_to=mail.in_reply_to[:998] if mail.in_reply_to else None,
            references=[r[:998] for r in mail.references],
            sender=Address(email=mail.sender_email, name=(mail.sender_name or "")[:200] or None),
            subject=mail.subject,
            text=mail.text[:MAX_TEXT],
        )
    except ValueError as exc:
        raise Unprocessable(
            f"the message cannot be taken in: {exc}", code="unreadable-mail"
        ) from None
    out = await take_in(session, mail=inbound, at=at)
    if out.duplicate:
        response.status_code = 200
        return RawInboundOut(ticket_id=out.ticket_id, entry_id=out.entry_id, duplicate=True)
    ticket = await session.get(Ticket, out.ticket_id)
    assert ticket is not None
    stored = await store_attachments(
        session,
        files=mail.attachments,
        ticket_id=out.ticket_id,
        entry_id=out.entry_id,
        tenant_id=ticket.tenant_id,
        at=at,
    )
    return RawInboundOut(
        ticket_id=out.ticket_id,
        entry_id=out.entry_id,
        threaded=out.threaded,
        follow_up_of=out.follow_up_of,
        attachments=[AttachmentOut.model_validate(a, from_attributes=True) for a in stored],
    )
