"""E-mail intake: dedup by Message-ID, thread replies by In-Reply-To/References."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Unprocessable
from supportops_events.tickets import ReplyAuthor, TicketStatus
from ticket_service.categories import Channel
from ticket_service.intake import repository
from ticket_service.intake.schemas import InboundEmailIn, InboundEmailOut
from ticket_service.mail.threading import thread_of
from ticket_service.models import InboundMessage
from ticket_service.tickets.creation import create_ticket
from ticket_service.tickets.schemas import MessageKind, RequesterIn, TicketIn
from ticket_service.tickets.service import add_message
from ticket_service.tickets.timeline import Actor, system_note


def normalize(message_id: str) -> str:
    return message_id.strip().strip("<>").strip().lower()


async def _tenant_for(session: AsyncSession, email: str) -> str | None:
    domain = email.rsplit("@", 1)[-1].lower()
    return await repository.tenant_of_domain(session, domain)


async def take_in(session: AsyncSession, *, mail: InboundEmailIn, at: datetime) -> InboundEmailOut:
    message_id = normalize(mail.message_id)
    # concurrent deliveries of one message queue up here; the later one sees the first
    await repository.lock_message_id(session, message_id)
    seen = await repository.seen_message(session, message_id)
    if seen is not None:
        return InboundEmailOut(
            ticket_id=seen.ticket_id, entry_id=seen.entry_id, threaded=False, duplicate=True
        )
    parents = [normalize(m) for m in [mail.in_reply_to, *reversed(mail.references)] if m]
    parent = None
    if parents:
        parent = await repository.first_known(session, parents)
    customer = Actor(kind=ReplyAuthor.customer, id=mail.sender.email.lower())
    ticket = None
    if parent is not None:
        ticket = await repository.lock_ticket(session, parent.ticket_id)
        assert ticket is not None
    else:  # an answer to one of our mails (its Message-ID, or the subject's [ref:…])
        ours = await thread_of(
            session, parents=parents, subject=mail.subject, sender=mail.sender.email
        )
        if ours is not None:
            ticket = await repository.lock_ticket(session, ours)
    follow_up_of: uuid.UUID | None = None
    tenant_id: str | None
    if ticket is not None and ticket.status != TicketStatus.closed.value:
        entry = await add_message(
            session, ticket=ticket, kind=MessageKind.reply, body=mail.text, actor=customer, at=at
        )
        entry_id: uuid.UUID | None = entry.id
        threaded = True
    else:
        if ticket is not None:
            # a closed ticket takes no more replies: the answer opens a follow-up ticket
            follow_up_of, tenant_id = ticket.id, ticket.tenant_id
        else:
            tenant_id = mail.tenant_id or await _tenant_for(session, mail.sender.email)
        if tenant_id is None:
            raise Unprocessable(
                "no tenant is known for the sender's domain; pass tenant_id",
                code="tenant-unknown",
                field="tenant_id",
            )
        body = TicketIn(
            tenant_id=tenant_id,
            requester=RequesterIn(email=mail.sender.email, name=mail.sender.name),
            channel=Channel.email,
            subject=mail.subject or "(no subject)",
            body=mail.text,
        )
        ticket = await create_ticket(session, body=body, actor=customer, at=at)
        if follow_up_of is not None:
            await system_note(
                session,
                ticket=ticket,
                action="follow_up",
                body=f"follow-up of closed ticket {follow_up_of}",
                reason="the customer answered an e-mail of a closed ticket",
                at=at,
                data={"follow_up_of": str(follow_up_of)},
            )
        entry_id = None
        threaded = False
    if entry_id is None:
        entry_id = await repository.opening_entry_id(session, ticket.id)
        assert entry_id is not None
    await repository.add_message(
        session,
        InboundMessage(
            message_id=message_id, ticket_id=ticket.id, entry_id=entry_id, created_at=at
        ),
    )
    return InboundEmailOut(
        ticket_id=ticket.id,
        entry_id=entry_id,
        threaded=threaded,
        duplicate=False,
        follow_up_of=follow_up_of,
    )
