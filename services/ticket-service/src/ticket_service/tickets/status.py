"""The ticket's status machine, assignment, and closing solved tickets.

Every state change writes a timeline entry (who, when, what, why) and publishes its
event in the same transaction. ``ticket.status_changed`` is published for every status
change; ``ticket.solved`` and ``ticket.reopened`` additionally mark those two. What
other features do when a ticket is solved (the CSAT survey) hangs on ``ticket_solved``,
registered at app start, so this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import InvalidTransition
from servicekit.outbox import publish
from supportops_events.tickets import (
    ReplyAuthor,
    TicketAssigned,
    TicketReopened,
    TicketSolved,
    TicketStatus,
    TicketStatusChanged,
    TicketUnassigned,
)
from ticket_service.hooks import Hook
from ticket_service.models import Ticket
from ticket_service.tickets import repository
from ticket_service.tickets.sla_alerts import refresh
from ticket_service.tickets.timeline import SYSTEM, Actor, add_entry, touch

S = TicketStatus


@dataclass(frozen=True)
class Solved:
    """A ticket was just solved (in ``session``'s transaction, at ``at``)."""

    session: AsyncSession
    ticket: Ticket
    at: datetime


ticket_solved: Hook[Solved] = Hook("ticket_solved")
"""Called after a ticket is solved, in the same transaction (csat sends its survey)."""


# --- the status machine -----------------------------------------------------------------


def _kind(previous: TicketStatus, current: TicketStatus) -> str | None:
    match (previous, current):
        case (S.new, S.open | S.pending | S.on_hold):
            return "work"
        case (S.open, S.pending | S.on_hold) | (S.pending, S.open | S.on_hold):
            return "work"
        case (S.on_hold, S.open | S.pending):
            return "work"
        case (S.new | S.open | S.pending | S.on_hold, S.solved):
            return "solve"
        case (S.solved, S.open):
            return "reopen"
        case (S.solved, S.closed):
            return "close"
        case _:
            return None


def allowed_from(previous: TicketStatus) -> list[TicketStatus]:
    return [s for s in TicketStatus if _kind(previous, s) is not None]


def transition_kind(previous: TicketStatus, current: TicketStatus) -> str:
    """What a status change means; a change not allowed is refused (409)."""
    kind = _kind(previous, current)
    if kind is None:
        raise InvalidTransition(
            "ticket",
            current=previous.value,
            requested=current.value,
            allowed=[s.value for s in allowed_from(previous)],
        )
    return kind


async def change_status(
    session: AsyncSession,
    *,
    ticket: Ticket,
    to: TicketStatus,
    actor: Actor,
    at: datetime,
    reason: str | None = None,
    resolution: str | None = None,
) -> None:
    previous = TicketStatus(ticket.status)
    if previous is to:
        return
    kind = transition_kind(previous, to)
    ticket.status = to.value
    if kind == "solve":
        ticket.solved_at = at
    elif kind == "reopen":
        ticket.solved_at = None
    touch(ticket, at)
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="status_changed",
        body=f"status {previous.value} → {to.value}",
        reason=reason,
        data={"previous": previous.value, "current": to.value},
    )
    await publish(
        session,
        TicketStatusChanged(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=to,
            previous_status=previous,
            changed_by=actor.id,
            reason=reason,
            changed_at=at,
        ),
    )
    if kind == "solve":
        linked = await repository.linked_bug_ids(session, ticket.id)
        await publish(
            session,
            TicketSolved(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=to,
                solved_by=actor.id if actor.kind is ReplyAuthor.agent else None,
                automatic=actor.kind is ReplyAuthor.system,
                resolution=resolution or reason,
                linked_bug_ids=list(linked),
                solved_at=at,
            ),
        )
    elif kind == "reopen":
        await publish(
            session,
            TicketReopened(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=to,
                previous_status=previous,
                reopened_by=actor.id,
                reason=reason,
                reopened_at=at,
            ),
        )
    await refresh(session, ticket, at=at)
    if kind == "solve":
        await ticket_solved.call(Solved(session=session, ticket=ticket, at=at))


# --- assignment ---------------------------------------------------------------------------


async def assign(
    session: AsyncSession,
    *,
    ticket: Ticket,
    assignee_id: str | None,
    actor: Actor,
    at: datetime,
    reason: str,
) -> None:
    """Give the ticket to ``assignee_id``, or take it off its agent with None (a merge
    patch ``{"assignee_id": null}``: back to its queue). On the timeline, and announced:
    ``ticket.assigned`` or ``ticket.unassigned`` (live consoles, metrics)."""
    previous = ticket.assignee_id
    if previous == assignee_id:
        return
    ticket.assignee_id = assignee_id
    touch(ticket, at)
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="assigned" if assignee_id else "unassigned",
        body=f"assigned to {assignee_id}" if assignee_id else f"unassigned from {previous}",
        reason=reason,
        data={"previous_assignee_id": previous, "assignee_id": assignee_id},
    )
    tenant_id, ticket_ref, status = ticket.tenant_id, str(ticket.id), TicketStatus(ticket.status)
    event: TicketAssigned | TicketUnassigned
    if assignee_id is not None:
        event = TicketAssigned(
            tenant_id=tenant_id,
            ticket_id=ticket_ref,
            status=status,
            queue=ticket.queue,
            assignee_id=assignee_id,
            previous_assignee_id=previous,
            assigned_by=actor.id,
        )
    else:
        assert previous is not None  # equal values returned above
        event = TicketUnassigned(
            tenant_id=tenant_id,
            ticket_id=ticket_ref,
            status=status,
            queue=ticket.queue,
            previous_assignee_id=previous,
            unassigned_by=actor.id,
        )
    await publish(session, event)


# --- automation ---------------------------------------------------------------------------


async def auto_close(session: AsyncSession, *, now: datetime, solved_before: datetime) -> int:
    """Close tickets solved before ``solved_before``; returns how many were closed."""
    tickets = await repository.lock_solved_before(session, solved_before)
    for ticket in tickets:
        await change_status(
            session,
            ticket=ticket,
            to=S.closed,
            actor=SYSTEM,
            at=now,
            reason="solved long enough ago without a customer reply",
        )
    return len(tickets)
