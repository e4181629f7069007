"""The ticket timeline: who did what, when and why.

Every feature that changes a ticket writes here (status changes, replies, SLA warnings,
access checks, bug notes, surveys), so this module depends on nothing but the models and
the event catalog: importing it never pulls in the ticket service, and no feature has to
import the ticket service only to leave a note.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from supportops_events.tickets import ReplyAuthor
from ticket_service.models import Ticket, TimelineEntry


@dataclass(frozen=True)
class Actor:
    """Who did something: an agent, the customer, or the system (id None)."""

    kind: ReplyAuthor
    id: str | None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        kind = ReplyAuthor.customer if principal.is_tenant_scoped else ReplyAuthor.agent
        return cls(kind=kind, id=principal.subject)


SYSTEM = Actor(kind=ReplyAuthor.system, id=None)


def stage_entry(
    session: AsyncSession,
    *,
    ticket: Ticket,
    kind: str,
    actor: Actor,
    at: datetime,
    body: str = "",
    action: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    template_key: str | None = None,
    template_version: int | None = None,
) -> TimelineEntry:
    """A timeline entry added for the next flush (several go in one INSERT)."""
    entry = TimelineEntry(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        kind=kind,
        author_type=actor.kind.value,
        author_id=actor.id,
        action=action,
        body=body,
        reason=reason,
        data=data or {},
        template_key=template_key,
        template_version=template_version,
        created_at=at,
    )
    session.add(entry)
    return entry


async def add_entry(
    session: AsyncSession,
    *,
    ticket: Ticket,
    kind: str,
    actor: Actor,
    at: datetime,
    body: str = "",
    action: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    template_key: str | None = None,
    template_version: int | None = None,
) -> TimelineEntry:
    """A timeline entry, flushed now (its id and sequence number are read back)."""
    entry = stage_entry(
        session,
        ticket=ticket,
        kind=kind,
        actor=actor,
        at=at,
        body=body,
        action=action,
        reason=reason,
        data=data,
        template_key=template_key,
        template_version=template_version,
    )
    await session.flush()
    return entry


async def system_note(
    session: AsyncSession,
    *,
    ticket: Ticket,
    action: str,
    body: str,
    at: datetime,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """A note of the system itself (an SLA warning, a follow-up, a survey sent)."""
    return await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=SYSTEM,
        at=at,
        body=body,
        action=action,
        reason=reason,
        data=data,
    )


def touch(ticket: Ticket, at: datetime) -> None:
    """A change of the ticket itself: a new version (and ETag)."""
    ticket.version += 1
    ticket.updated_at = at
