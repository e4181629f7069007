"""Linking tickets to bugs: one ticket belongs to one bug; a link after the fix is a
regression and reopens the bug."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.schemas import BugState, TicketRef, TransitionIn
from escalation_service.bugs.service.common import Context, event_state
from escalation_service.bugs.service.transitions import transition
from escalation_service.bugs.workflow import is_after_fix
from escalation_service.impact import repository as impact_repository
from escalation_service.models import Bug
from servicekit.errors import Conflict, Unprocessable
from servicekit.outbox import publish
from supportops_events.escalation import BugLinked


async def refuse_if_linked_elsewhere(
    session: AsyncSession, *, ticket_id: str, bug_id: uuid.UUID | None
) -> None:
    """A 409 when the ticket is linked to a bug other than ``bug_id``."""
    existing = await repository.link_of_ticket(session, ticket_id)
    if existing is not None and existing.bug_id != bug_id:
        raise Conflict(
            f"ticket {ticket_id} is already linked to another bug",
            code="ticket-already-linked",
            ticket_id=ticket_id,
            bug_id=str(existing.bug_id),
        )


async def link_ticket(
    session: AsyncSession,
    *,
    bug: Bug,
    ref: TicketRef,
    is_duplicate: bool,
    ctx: Context,
    linked_by_model: str | None = None,
) -> bool:
    """Link a ticket (``bug.linked``); after a fix this is a regression and reopens the bug
    (``bug.reopened``). The caller holds the bug's row lock.

    Returns False when the ticket was already linked to this bug (nothing happens); a 409
    when it is linked to another bug, also when that link is being made concurrently.
    ``linked_by_model``: the duplicate model that decided an automatic link."""
    await refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
    linked = await repository.insert_link(
        session,
        bug_id=bug.id,
        ticket_id=ref.ticket_id,
        tenant_id=ref.tenant_id,
        is_duplicate=is_duplicate,
        linked_at=ctx.now,
        linked_by_model=linked_by_model,
    )
    if not linked:
        await refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
        return False
    if ref.tenant_id not in bug.affected_tenants:
        bug.affected_tenants = sorted({*bug.affected_tenants, ref.tenant_id})
    bug.version += 1
    bug.updated_at = ctx.now
    await session.flush()
    links = await repository.links_of(session, bug.id)
    await publish(
        session,
        BugLinked(
            **event_state(bug, links, ctx),
            ticket_id=ref.ticket_id,
            is_duplicate=is_duplicate,
            linked_at=ctx.now,
        ),
    )
    if is_after_fix(BugState(bug.status), bug.resolution):
        await transition(
            session,
            bug=bug,
            change=TransitionIn(
                to=BugState.reopened,
                note=f"regression: ticket {ref.ticket_id} linked after the fix",
            ),
            ctx=ctx,
        )
    return True


async def ensure_ticket_tenants(
    session: AsyncSession, refs: list[TicketRef], *, listed_in: str | None = None
) -> None:
    """A link records the ticket's real tenant: a body claiming another is refused (a
    staff token too), so a link can never put a ticket under the wrong tenant."""
    for index, ref in enumerate(refs):
        real = await impact_repository.tenant_of_ticket(session, ref.ticket_id)
        if real is not None and real != ref.tenant_id:
            raise Unprocessable(
                "the ticket belongs to another tenant than the one named",
                code="ticket-tenant-mismatch",
                errors=[
                    {
                        "field": f"linked_tickets.{index}.tenant_id"
                        if len(refs) > 1
                        else "tenant_id",
                        "in": "body",
                        "message": "not the tenant of this ticket",
                        "code": "ticket-tenant-mismatch",
                    }
                ],
            )
