"""CSAT: a signed survey token per solve, and one rating per token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, Unprocessable
from ticket_service.models import CsatResponse, Ticket

_CONTEXT = b"ticket-service csat v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def survey_token(*, secret: str, ticket_id: uuid.UUID, solved_at: datetime) -> str:
    """A token naming one solve of one ticket, signed with a key derived from the secret."""
    payload = f"{ticket_id}|{solved_at.isoformat()}".encode()
    signature = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(*, secret: str, token: str) -> tuple[uuid.UUID, datetime]:
    invalid = Unprocessable("the survey token is not valid", code="invalid-token", field="token")
    try:
        encoded_payload, encoded_signature = token.split(".", 1)
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except ValueError as exc:
        raise invalid from exc
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise invalid
    try:
        raw_id, raw_time = payload.decode().split("|", 1)
        return uuid.UUID(raw_id), datetime.fromisoformat(raw_time)
    except ValueError as exc:
        raise invalid from exc


async def record_rating(
    session: AsyncSession,
    *,
    secret: str,
    token: str,
    rating: int,
    comment: str | None,
    at: datetime,
) -> tuple[Ticket, CsatResponse]:
    ticket_id, solved_at = read_token(secret=secret, token=token)
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise Unprocessable("the survey token is not valid", code="invalid-token", field="token")
    if ticket.solved_at != solved_at:
        raise Conflict(
            "this survey belongs to an earlier solve of the ticket", code="survey-expired"
        )
    inserted = await session.execute(
        insert(CsatResponse)
        .values(
            ticket_id=ticket.id,
            solved_at=solved_at,
            tenant_id=ticket.tenant_id,
            queue=ticket.queue,
            rating=rating,
            comment=comment,
            created_at=at,
        )
        .on_conflict_do_nothing()
        .returning(CsatResponse.ticket_id)
    )
    if inserted.first() is None:
        raise Conflict("this survey was already answered", code="survey-answered")
    response = await session.get(CsatResponse, (ticket.id, solved_at))
    assert response is not None
    return ticket, response
