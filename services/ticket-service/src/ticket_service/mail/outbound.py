"""Every public reply the customer should read goes out by e-mail.

``mail_reply`` is called by ``tickets.service.add_message`` for each public reply written
by an agent or by the system (template replies, bug-fix and access-outcome replies, the
CSAT survey on solve): the message is queued in the reply's transaction (kit mail
outbox) and sent after commit by the worker's ``MailSender``.

The mail: ``To`` the requester, ``From`` ``MAIL_FROM``, ``Subject`` the ticket's subject
with its reference token (``[ref:…]``, which threads an answer even when a mail client
drops the headers), our ``Message-ID`` (recorded on the timeline entry with its delivery
status, and stored as a known Message-ID of the ticket so the customer's answer threads),
``In-Reply-To``/``References`` the customer's latest message. Plain text plus an HTML
alternative: the approved template's HTML when the reply came from one, otherwise the
text, escaped.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.mail import MailStatus, bare_id, build_message, domain_of, queue_mail
from servicekit.mail_sender import MailOutcome
from ticket_service.mail.models import OutboundMail
from ticket_service.models import InboundMessage, Ticket, TimelineEntry
from ticket_service.tickets.service import PublicReply

MAIL_INFO_KEY = "ticket_service.mail"
KIND = "ticket.reply"
REF_PREFIX = "timeline_entry:"
UNDELIVERABLE_DOMAINS = (".invalid",)
"""Placeholder requester addresses (``billing-contact@unknown.invalid``): never mailed."""

REF_TOKEN = re.compile(r"\[ref:([0-9a-f]{12})\]", re.IGNORECASE)


@dataclass(frozen=True)
class TicketMail:
    """What outbound mail needs from the settings: the From address."""

    sender: str

    @property
    def domain(self) -> str:
        return domain_of(self.sender)


def mail_of(session: AsyncSession) -> TicketMail:
    found = session.info.get(MAIL_INFO_KEY)
    if isinstance(found, TicketMail):
        return found
    from ticket_service.config import TicketSettings  # a session made outside the app

    return TicketMail(sender=TicketSettings().mail_from)


def ref_token(ticket_id: uuid.UUID) -> str:
    return ticket_id.hex[:12]


def subject_for(ticket: Ticket) -> str:
    return f"{ticket.subject} [ref:{ref_token(ticket.id)}]"


def ticket_id_range(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids a subject's ``[ref:…]`` token can name (a prefix of the ticket's id)."""
    token = token.lower()
    return uuid.UUID(token + "0" * 20), uuid.UUID(token + "f" * 20)


def _html_of(body: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)


async def on_public_reply(reply: PublicReply) -> None:
    """The ``public_reply_added`` hook's handler (added at app start): mail the reply."""
    await mail_reply(reply.session, ticket=reply.ticket, entry=reply.entry)


async def mail_reply(session: AsyncSession, *, ticket: Ticket, entry: TimelineEntry) -> None:
    """Queue the e-mail of a public reply (agent or system) to the requester."""
    if entry.kind != "reply" or entry.author_type == "customer":
        return
    to = ticket.requester_email
    if "@" not in to or to.endswith(UNDELIVERABLE_DOMAINS):
        return
    config = mail_of(session)
    customer_ids = (
        await session.scalars(
            select(InboundMessage.message_id)
            .where(InboundMessage.ticket_id == ticket.id)
            .order_by(InboundMessage.created_at.desc())
            .limit(10)
        )
    ).all()
    latest = customer_ids[0] if customer_ids else None
    data: dict[str, Any] = dict(entry.data or {})
    template_html = data.get("html")
    message = build_message(
        sender=config.sender,
        to=to,
        subject=subject_for(ticket),
        text=entry.body,
        html=template_html if isinstance(template_html, str) else _html_of(entry.body),
        in_reply_to=latest,
        references=list(reversed(customer_ids)),
        auto_submitted=entry.author_type == "system",
    )
    queued = await queue_mail(
        session,
        message,
        kind=KIND,
        ref=f"{REF_PREFIX}{entry.id}",
        tenant_id=ticket.tenant_id,
    )
    data["email"] = {
        "message_id": f"<{queued.message_id}>",
        "to": to,
        "status": MailStatus.queued.value,
    }
    entry.data = data  # a new dict: the JSONB column sees the change
    # our Message-ID names the ticket: the customer's answer to it threads (intake)
    if queued.created:
        session.add(
            OutboundMail(
                message_id=bare_id(queued.message_id),
                ticket_id=ticket.id,
                entry_id=entry.id,
                created_at=entry.created_at,
            )
        )
    await session.flush()


async def record_outcome(session: AsyncSession, outcome: MailOutcome) -> None:
    """The sender's status hook: the delivery status on the reply's timeline entry."""
    if outcome.ref is None or not outcome.ref.startswith(REF_PREFIX):
        return
    await session.execute(
        text(
            "UPDATE timeline_entries SET data = jsonb_set(data, '{email}', "
            "coalesce(data->'email', '{}'::jsonb) || CAST(:patch AS jsonb)) WHERE id = :id"
        ),
        {
            "id": uuid.UUID(outcome.ref.removeprefix(REF_PREFIX)),
            "patch": _json({"status": outcome.status.value, "error": outcome.error}),
        },
    )


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)
