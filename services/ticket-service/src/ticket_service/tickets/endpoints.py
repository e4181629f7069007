"""``/v1/tickets``: intake, list and search, one ticket with its timeline, updates, messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.authz import STAFF, owned
from servicekit.deps import SessionDep
from servicekit.errors import Forbidden
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate
from supportops_events.tickets import TicketPriority, TicketStatus
from ticket_service.clock import ClockDep
from ticket_service.models import AccountUser, Ticket
from ticket_service.roles import TicketReader, ensure_staff
from ticket_service.sla.clock import SlaState
from ticket_service.sla.service import sla_state_is
from ticket_service.tickets import service
from ticket_service.tickets.schemas import (
    MessageIn,
    TicketDetail,
    TicketIn,
    TicketOut,
    TicketSettable,
    TimelineEntryOut,
)

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
CLOCK_STATES_OF_ACTIVE_TICKETS = frozenset(
    {SlaState.running, SlaState.paused, SlaState.warning, SlaState.breached}
)
ACTIVE_TICKET = text("tickets.status IN ('new', 'open', 'pending', 'on_hold')")
Filter = Annotated[str | None, Query(min_length=1, max_length=64)]


async def ensure_own_requester(session: AsyncSession, principal: Principal, body: TicketIn) -> None:
    """A tenant-confined token (a customer's portal session) files tickets as itself only:
    the requester's e-mail is its subject or e-mail claim, and a requester ``user_id`` is
    the caller (its subject) or the tenant's user with that e-mail."""
    if principal.tenant_id is None:
        return  # staff file tickets on behalf of customers
    caller = {i.casefold() for i in (principal.subject, principal.email) if i}
    email = body.requester.email.casefold()
    wrong = []
    if email not in caller:
        wrong.append("requester.email")
    user_id = body.requester.user_id
    if user_id is not None and user_id.casefold() not in caller:
        user = await session.get(AccountUser, user_id)
        if user is None or user.tenant_id != principal.tenant_id or user.email.casefold() != email:
            wrong.append("requester.user_id")
    if wrong:
        raise Forbidden(
            "a customer's token files tickets as its own requester only",
            code="requester-not-caller",
            fields=wrong,
        )


@router.post(
    "",
    dependencies=[owned(body={"tenant_id": "tenant", "requester.user_id": "user"})],
    status_code=201,
    summary="Open a ticket (Idempotency-Key honoured)",
)
async def create_ticket(
    body: TicketIn,
    session: SessionDep,
    principal: TicketReader,
    idem: IdempotencyDep,
    clock: ClockDep,
    response: Response,
) -> TicketOut:
    await idem.start(session, body)
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    await ensure_own_requester(session, principal, body)
    at = clock()
    ticket = await service.create_ticket(
        session, body=body, actor=service.Actor.of(principal), at=at
    )
    out = service.to_out(ticket, now=at)
    headers = {"ETag": etag(ticket.version), "Location": f"/v1/tickets/{ticket.id}"}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=201, headers=headers)


@router.get(
    "",
    dependencies=[owned(query={"tenant_id": "tenant"})],
    summary="List and search tickets (newest first)",
)
async def list_tickets(
    session: SessionDep,
    principal: TicketReader,
    page: PageDep,
    clock: ClockDep,
    status: TicketStatus | None = None,
    priority: TicketPriority | None = None,
    queue: Filter = None,
    category: Filter = None,
    assignee: Filter = None,
    tenant_id: Filter = None,
    tag: Filter = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Full-text search")
    ] = None,
    sla_state: Annotated[
        SlaState | None,
        Query(
            description="The ticket's SLA state now (its most urgent clock): breached, "
            "warning, running, paused, missed or met; computed from the stored deadlines "
            "and the current time, not from what the last scan published"
        ),
    ] = None,
) -> Page[TicketOut]:
    now = clock()
    stmt = select(Ticket)
    tenant = principal.tenant_filter(tenant_id)
    if tenant is not None:
        stmt = stmt.where(Ticket.tenant_id == tenant)
    if status is not None:
        stmt = stmt.where(Ticket.status == status.value)
    if priority is not None:
        stmt = stmt.where(Ticket.priority == priority.value)
    if queue is not None:
        stmt = stmt.where(Ticket.queue == queue)
    if category is not None:
        main, _, sub = category.partition("/")
        stmt = stmt.where(Ticket.category == main)
        if sub:
            stmt = stmt.where(Ticket.subcategory == sub)
    if assignee is not None:
        stmt = stmt.where(Ticket.assignee_id == assignee)
    if tag is not None:
        stmt = stmt.where(Ticket.tags.contains([tag]))
    if q is not None:
        stmt = stmt.where(Ticket.search.op("@@")(func.websearch_to_tsquery("english", q)))
    if sla_state is not None:
        stmt = stmt.where(sla_state_is(sla_state, now=now))
        if sla_state in CLOCK_STATES_OF_ACTIVE_TICKETS:
            # implied by the state; spelled out (as a constant) so the planner walks the
            # partial index of active tickets instead of every ticket ever solved
            stmt = stmt.where(ACTIVE_TICKET)
    if q is not None or sla_state is not None:
        # The plan of these depends on the values (a common word or a rare one, the time
        # now): a cached generic plan for the prepared statement was 3x slower at 1M
        # tickets, so plan each execution for its values.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows, cursor = await paginate(
        session, stmt, keys=[Ticket.created_at, Ticket.id], params=page, direction="desc"
    )
    return Page[TicketOut](items=[service.to_out(t, now=now) for t in rows], next_cursor=cursor)


@router.get(
    "/{ticket_id}",
    # ``ticket_detail``: the check reads the ticket with its detail's context, one
    # statement the endpoint then reuses (a ticket page stays at three statements)
    dependencies=[owned(path={"ticket_id": "ticket_detail"})],
    summary="One ticket with its timeline and account context",
)
async def get_ticket(
    ticket_id: uuid.UUID,
    session: SessionDep,
    principal: TicketReader,
    response: Response,
    clock: ClockDep,
) -> TicketDetail:
    out = await service.get_detail(session, ticket_id, principal=principal, now=clock())
    response.headers["ETag"] = etag(out.version)
    return out


@router.patch(
    "/{ticket_id}",
    dependencies=[owned(path={"ticket_id": "ticket"}, exempt={"assignee_id": STAFF})],
    summary="Change status, priority, routing, tags or assignee (If-Match required)",
    **merge_patch_route(TicketSettable),
)
async def update_ticket(
    ticket_id: uuid.UUID,
    patch: MergePatch,
    session: SessionDep,
    principal: TicketReader,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> TicketOut:
    ensure_staff(principal)
    ticket = await service.load_ticket(session, ticket_id, principal=principal, for_update=True)
    merged = service.merged_ticket(ticket, patch)  # 422 before 412
    if_match.require(ticket.version)
    at = clock()
    await service.update_ticket(
        session, ticket=ticket, merged=merged, actor=service.Actor.of(principal), at=at
    )
    response.headers["ETag"] = etag(ticket.version)
    return service.to_out(ticket, now=at)


@router.post(
    "/{ticket_id}/messages",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    status_code=201,
    summary="Add a public reply or an internal note (Idempotency-Key honoured)",
)
async def add_message(
    ticket_id: uuid.UUID,
    body: MessageIn,
    session: SessionDep,
    principal: TicketReader,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> TimelineEntryOut:
    await idem.start(session, body)
    ticket = await service.load_ticket(session, ticket_id, principal=principal, for_update=True)
    entry = await service.add_message(
        session,
        ticket=ticket,
        kind=body.kind,
        body=body.body,
        actor=service.Actor.of(principal),
        at=clock(),
    )
    out = TimelineEntryOut.model_validate(entry, from_attributes=True)
    return await idem.complete(session, out, status_code=201)
