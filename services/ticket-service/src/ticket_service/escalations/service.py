"""QA escalation: send a reproducible report, then follow the bug through QA."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.outbox import publish
from supportops_events.escalation import (
    BugEvent,
    BugResolution,
    BugResolved,
    Environment,
)
from supportops_events.tickets import Requester, TicketEscalated, TicketPriority, TicketStatus
from ticket_service.accounts.service import apply_bug_state
from ticket_service.escalations import repository
from ticket_service.escalations.schemas import EscalationIn
from ticket_service.models import Escalation, Ticket
from ticket_service.templates.service import send_approved_reply
from ticket_service.tickets.schemas import MessageKind
from ticket_service.tickets.service import add_message
from ticket_service.tickets.status import change_status
from ticket_service.tickets.timeline import SYSTEM, Actor, add_entry, system_note

DONE = (TicketStatus.solved.value, TicketStatus.closed.value)


async def escalate(
    session: AsyncSession, *, ticket: Ticket, body: EscalationIn, actor: Actor, at: datetime
) -> Escalation:
    title = body.title or ticket.subject
    escalation = Escalation(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        title=title,
        steps=list(body.steps),
        expected=body.expected,
        actual=body.actual,
        environment=body.environment.model_dump(mode="json"),
        severity=body.severity.value,
        escalated_by=actor.id or "system",
        created_at=at,
    )
    await repository.add_escalation(session, escalation)
    if ticket.status != TicketStatus.on_hold.value:
        await change_status(
            session,
            ticket=ticket,
            to=TicketStatus.on_hold,
            actor=actor,
            at=at,
            reason="escalated to QA as a potential bug",
        )
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="escalated",
        body=f"escalated to QA ({body.severity.value}): {title}",
        reason="potential bug with a reproducible report",
        data={"escalation_id": str(escalation.id), "severity": body.severity.value},
    )
    account = await repository.get_account(session, ticket.tenant_id)
    await publish(
        session,
        TicketEscalated(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=TicketStatus(ticket.status),
            title=title,
            description=ticket.body[:5000],
            steps=list(body.steps),
            expected=body.expected,
            actual=body.actual,
            environment=Environment.model_validate(body.environment.model_dump()),
            severity=body.severity,
            requester=Requester(
                user_id=ticket.requester_user_id,
                email=ticket.requester_email,
                name=ticket.requester_name,
            ),
            tenant_name=account.company_name if account else None,
            priority=TicketPriority(ticket.priority),
            escalated_by=escalation.escalated_by,
            escalated_at=at,
        ),
    )
    return escalation


def _describe(event: BugEvent) -> str:
    name = event.event_type.removeprefix("bug.").replace("_", " ")
    return f"{event.key} {name}: {event.title} (status {event.status.value})"


async def apply_bug_event(
    session: AsyncSession, event: BugEvent, *, time: datetime, at: datetime
) -> None:
    """Record the bug, link its tickets, and note the change on each linked ticket."""
    fresh = await apply_bug_state(session, event, time=time)
    for raw_id in event.linked_ticket_ids:
        try:
            ticket_id = uuid.UUID(raw_id)
        except ValueError:
            continue
        ticket = await repository.lock_ticket(session, ticket_id)
        if ticket is None:
            continue  # linked to a ticket this service does not know
        await repository.link_bug(session, ticket_id=ticket.id, bug_id=event.bug_id, at=at)
        if not fresh or await _already_noted(session, ticket=ticket, event=event):
            continue  # an older or a repeated state: link only
        await system_note(
            session,
            ticket=ticket,
            action=event.event_type,
            body=_describe(event),
            at=at,
            reason=getattr(event, "notes", None) or getattr(event, "reason", None),
            data={"bug_id": event.bug_id, "bug_key": event.key, "status": event.status.value},
        )
        if isinstance(event, BugResolved) and ticket.status not in DONE:
            await _tell_fixed(session, ticket=ticket, event=event, at=at)
    await session.flush()


async def _already_noted(session: AsyncSession, *, ticket: Ticket, event: BugEvent) -> bool:
    """Whether the ticket's latest entry about this bug already says the same thing
    (a different event id carrying a state already applied)."""
    last = await repository.last_entry_about_bug(session, ticket_id=ticket.id, bug_id=event.bug_id)
    return (
        last is not None
        and last.action == event.event_type
        and last.data.get("status") == event.status.value
    )


async def _tell_fixed(
    session: AsyncSession, *, ticket: Ticket, event: BugResolved, at: datetime
) -> None:
    await add_message(
        session,
        ticket=ticket,
        kind=MessageKind.note,
        body=f"{event.key} resolved as {event.resolution.value}"
        + (f" in {event.fixed_in_version}" if event.fixed_in_version else "")
        + (f": {event.resolution_note}" if event.resolution_note else ""),
        actor=SYSTEM,
        at=at,
    )
    if event.resolution is not BugResolution.fixed:
        return  # an agent tells the customer why it was not fixed
    await send_approved_reply(
        session,
        ticket=ticket,
        key="bug_fixed",
        values={
            "requester_name": ticket.requester_name or "there",
            "bug_key": event.key,
            "bug_title": event.title,
            "fixed_in_version": event.fixed_in_version or "",
        },
        actor=SYSTEM,
        at=at,
    )
    await change_status(
        session,
        ticket=ticket,
        to=TicketStatus.solved,
        actor=SYSTEM,
        at=at,
        reason=f"linked bug {event.key} was fixed",
        resolution="bug fixed",
    )


async def escalations_of(session: AsyncSession, ticket_id: uuid.UUID) -> list[Escalation]:
    return await repository.escalations_of(session, ticket_id)
