"""``/v1/tickets``: intake, list and search, one ticket with its timeline, updates, messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from servicekit.authz import STAFF, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import IfMatchHeader, etag
from servicekit.guard import AgentOrServiceCtx
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.responses import model_response
from servicekit.roles import AgentOrService, ensure_staff
from supportops_events.tickets import TicketPriority, TicketStatus
from ticket_service.sla.business_hours import SlaState
from ticket_service.tickets import creation, service
from ticket_service.tickets.repository import TicketFilters
from ticket_service.tickets.schemas import (
    MessageIn,
    TicketDetail,
    TicketIn,
    TicketOut,
    TicketSettable,
    TimelineEntryOut,
)
from ticket_service.tickets.timeline import Actor

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
Filter = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.post(
    "",
    dependencies=[owned(body={"tenant_id": "tenant", "requester.user_id": "user"})],
    status_code=201,
    summary="Open a ticket (Idempotency-Key honoured)",
    response_model=TicketOut,
)
async def create_ticket(body: TicketIn, ctx: AgentOrServiceCtx, idem: IdempotencyDep) -> Response:
    session, principal = ctx.session, ctx.principal
    await idem.start(session, body)
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    await service.ensure_own_requester(session, principal, body)
    at = ctx.now()
    ticket = await creation.create_ticket(session, body=body, actor=Actor.of(principal), at=at)
    out = service.to_out(ticket, now=at)
    headers = {"ETag": etag(ticket.version), "Location": f"/v1/tickets/{ticket.id}"}
    await idem.complete(session, out, status_code=201, headers=headers)
    # validated once, where it is built; FastAPI sends its JSON as it is
    return model_response(out, status_code=201, headers=headers)


@router.get(
    "",
    dependencies=[owned(query={"tenant_id": "tenant"})],
    summary="List and search tickets (newest first; `sort`)",
)
async def list_tickets(
    ctx: AgentOrServiceCtx,
    page: PageDep,
    sort: SortDep,
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
    now = ctx.now()
    filters = TicketFilters(
        tenant_id=ctx.principal.tenant_filter(tenant_id),
        status=status,
        priority=priority,
        queue=queue,
        category=category,
        assignee=assignee,
        tag=tag,
        q=q,
        sla_state=sla_state,
    )
    rows, cursor = await service.tickets_page(
        ctx.session, filters, params=page, now=now, direction=sort.direction
    )
    return Page[TicketOut](items=[service.to_out(t, now=now) for t in rows], next_cursor=cursor)


@router.get(
    "/{ticket_id}",
    # ``ticket_detail``: the check reads the ticket with its detail's context, one
    # statement the endpoint then reuses (a ticket page stays one statement)
    dependencies=[owned(path={"ticket_id": "ticket_detail"})],
    summary="One ticket with its timeline and account context",
    response_model=TicketDetail,
)
async def get_ticket(ticket_id: uuid.UUID, ctx: AgentOrServiceCtx) -> Response:
    out = await service.get_detail(ctx.session, ticket_id, principal=ctx.principal, now=ctx.now())
    # the detail is validated once, where it is built; FastAPI sends its JSON as it is
    return model_response(out, headers={"ETag": etag(out.version)})


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
    principal: AgentOrService,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> TicketOut:
    ensure_staff(principal)
    ticket = await service.load_ticket(session, ticket_id, principal=principal, for_update=True)
    merged = service.merged_ticket(ticket, patch)  # 422 before 412
    if_match.require(ticket.version)
    at = clock.now()
    await service.update_ticket(
        session, ticket=ticket, merged=merged, actor=Actor.of(principal), at=at
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
    principal: AgentOrService,
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
        actor=Actor.of(principal),
        at=clock.now(),
    )
    out = TimelineEntryOut.model_validate(entry, from_attributes=True)
    return await idem.complete(session, out, status_code=201)
