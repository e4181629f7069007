"""Which ticket an inbound mail answers, beyond the customer Message-IDs intake stores:
one of our outbound Message-IDs in ``In-Reply-To``/``References``, or the ``[ref:…]``
token of our subjects (for mail clients that drop the headers)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.mail import bare_id
from ticket_service.mail.models import OutboundMail
from ticket_service.mail.outbound import REF_TOKEN, ticket_id_range
from ticket_service.models import Account, Ticket


async def thread_of(
    session: AsyncSession, *, parents: list[str], subject: str, sender: str
) -> uuid.UUID | None:
    keys = [bare_id(p) for p in parents if p]
    if keys:
        found = await session.scalar(
            select(OutboundMail.ticket_id).where(OutboundMail.message_id.in_(keys)).limit(1)
        )
        if found is not None:
            return found
    match = REF_TOKEN.search(subject or "")
    if match is None:
        return None
    low, high = ticket_id_range(match.group(1))
    ticket = (
        await session.scalars(
            select(Ticket).where(Ticket.id >= low, Ticket.id <= high).order_by(Ticket.id).limit(2)
        )
    ).all()
    if len(ticket) != 1:
        return None
    # a token alone is guessable: only the requester or a colleague (same verified
    # domain) threads by it; anyone else opens a ticket of their own
    candidate = ticket[0]
    sender = sender.lower()
    if sender == candidate.requester_email:
        return candidate.id
    account = await session.get(Account, candidate.tenant_id)
    domain = sender.rsplit("@", 1)[-1]
    if account is not None and domain in (account.domains or []):
        return candidate.id
    return None
