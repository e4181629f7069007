"""``/v1/templates`` and ``/v1/macros``; template replies and macro runs on tickets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from servicekit.authz import GLOBAL_CONFIG, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly, AgentOnly, ensure_staff
from ticket_service.models import Template
from ticket_service.templates import macros
from ticket_service.templates import service as templates
from ticket_service.templates.schemas import (
    MacroApplyIn,
    MacroIn,
    MacroOut,
    RenderIn,
    RenderOut,
    TemplateIn,
    TemplateOut,
    TemplateReplyIn,
    TemplateSettable,
)
from ticket_service.tickets.schemas import TicketOut, TimelineEntryOut
from ticket_service.tickets.service import load_ticket, to_out
from ticket_service.tickets.timeline import Actor

router = APIRouter(tags=["templates and macros"])
Key = Annotated[str, Path(min_length=1, max_length=100)]


def _template_out(t: Template) -> TemplateOut:
    return TemplateOut.model_validate(t, from_attributes=True)


@router.post("/v1/templates", status_code=201, summary="Add a response template (admin)")
async def create_template(
    body: TemplateIn, session: SessionDep, principal: AdminOnly, idem: IdempotencyDep
) -> TemplateOut:
    await idem.start(session, body)
    out = _template_out(await templates.create(session, body=body, author=principal.subject))
    return await idem.complete(session, out, status_code=201)


@router.get("/v1/templates", summary="Templates, latest version of each")
async def list_templates(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[TemplateOut]:
    rows, cursor = await templates.templates_page(session, page)
    return Page[TemplateOut](items=[_template_out(t) for t in rows], next_cursor=cursor)


@router.get(
    "/v1/templates/{key}",
    dependencies=[owned(exempt={"key": GLOBAL_CONFIG})],
    summary="A template (latest version, or ?version=)",
)
async def get_template(
    key: Key,
    session: SessionDep,
    principal: AgentOnly,
    response: Response,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> TemplateOut:
    if version is None:
        template = await templates.latest(session, key)
    else:
        template = await templates.version_of(session, key, version)
    response.headers["ETag"] = etag(template.version)
    return _template_out(template)


@router.patch(
    "/v1/templates/{key}",
    dependencies=[owned(exempt={"key": GLOBAL_CONFIG})],
    summary="Edit a template: adds an unapproved version (If-Match)",
    **merge_patch_route(TemplateSettable),
)
async def edit_template(
    key: Key,
    body: MergePatch,
    session: SessionDep,
    principal: AdminOnly,
    response: Response,
    if_match: IfMatchHeader,
) -> TemplateOut:
    current = await templates.latest(session, key)
    merged = templates.merged_edit(current, body)  # 422 before 412
    if_match.require(current.version)
    template = await templates.edit(
        session, current=current, merged=merged, author=principal.subject
    )
    response.headers["ETag"] = etag(template.version)
    return _template_out(template)


@router.post(
    "/v1/templates/{key}/render",
    dependencies=[owned(exempt={"key": GLOBAL_CONFIG})],
    summary="Preview a template with variables",
)
async def render_template(
    key: Key, body: RenderIn, session: SessionDep, principal: AgentOnly
) -> RenderOut:
    template = await templates.latest(session, key)
    sample = {name: f"<{name}>" for name in templates.BUILTINS}
    values = {**sample, **body.variables}
    declared = list(template.variables)
    text = templates.render(template.body, declared=declared, values=values)
    html = templates.render_html(template.body, declared=declared, values=values)
    return RenderOut(key=template.key, version=template.version, text=text, html=html)


@router.post(
    "/v1/templates/{key}/versions/{version}/approval",
    dependencies=[owned(exempt={"key": GLOBAL_CONFIG, "version": GLOBAL_CONFIG})],
    summary="Approve a template version (admin, not its author): replies then use it",
    responses={
        403: {"description": "the author cannot approve their own version (four eyes)"},
        409: {"description": "the version is approved already"},
    },
)
async def approve_template(
    key: Key,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: SessionDep,
    principal: AdminOnly,
    clock: ClockDep,
) -> TemplateOut:
    template = await templates.approve(
        session, key=key, version=version, approver=principal.subject, at=clock.now()
    )
    return _template_out(template)


@router.post(
    "/v1/tickets/{ticket_id}/template-replies",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    status_code=201,
    summary="Reply with an approved template (records the version sent)",
)
async def reply_with_template(
    ticket_id: uuid.UUID,
    body: TemplateReplyIn,
    session: SessionDep,
    principal: AgentOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> TimelineEntryOut:
    await idem.start(session, body)
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    entry = await templates.reply_with_template(
        session,
        ticket=ticket,
        key=body.template_key,
        variables=body.variables,
        actor=Actor.of(principal),
        at=clock.now(),
    )
    out = TimelineEntryOut.model_validate(entry, from_attributes=True)
    return await idem.complete(session, out, status_code=201)


@router.post("/v1/macros", status_code=201, summary="Add a macro (admin)")
async def create_macro(
    body: MacroIn, session: SessionDep, principal: AdminOnly, idem: IdempotencyDep, clock: ClockDep
) -> MacroOut:
    await idem.start(session, body)
    macro = await macros.create_macro(session, body=body, at=clock.now())
    out = MacroOut.model_validate(macro, from_attributes=True)
    return await idem.complete(session, out, status_code=201)


@router.get("/v1/macros", summary="Macros, by name")
async def list_macros(session: SessionDep, principal: AgentOnly, page: PageDep) -> Page[MacroOut]:
    rows, cursor = await macros.macros_page(session, page)
    return Page[MacroOut](
        items=[MacroOut.model_validate(m, from_attributes=True) for m in rows], next_cursor=cursor
    )


@router.post(
    "/v1/tickets/{ticket_id}/macros/{macro_id}",
    dependencies=[owned(path={"ticket_id": "ticket"}, exempt={"macro_id": GLOBAL_CONFIG})],
    summary="Apply a macro to a ticket, all or nothing (If-Match required)",
)
async def apply_macro(
    ticket_id: uuid.UUID,
    macro_id: uuid.UUID,
    body: MacroApplyIn,
    session: SessionDep,
    principal: AgentOnly,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> TicketOut:
    ensure_staff(principal)
    ticket = await load_ticket(session, ticket_id, principal=principal, for_update=True)
    if_match.require(ticket.version)
    macro = await macros.get_macro(session, macro_id)
    at = clock.now()
    await macros.apply_macro(
        session,
        ticket=ticket,
        macro=macro,
        variables=body.variables,
        actor=Actor.of(principal),
        at=at,
    )
    response.headers["ETag"] = etag(ticket.version)
    return to_out(ticket, now=at)
