"""HTTP API of bug reports: /v1/bugs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository, service
from escalation_service.bugs.schemas import (
    BugCreate,
    BugCreateResult,
    BugDetail,
    BugOut,
    BugSettable,
    BugState,
    LinkIn,
    MergeIn,
    ReproductionIn,
    ReproductionOut,
    SimilarBug,
    SimilarIn,
    SimilarOut,
    TransitionIn,
)
from escalation_service.clock import ClockDep
from escalation_service.config import EscalationSettings
from escalation_service.models import Bug, Reproduction
from escalation_service.ownership import ensure_ticket_tenants
from escalation_service.tracker.base import QaTracker
from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.errors import (
    BadRequest,
    Forbidden,
    NotFound,
)
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate
from supportops_events.escalation import BugSeverity

router = APIRouter(prefix="/v1", tags=["bugs"])

IDENT_PATTERN = r"^[A-Za-z0-9_.:\-]+$"

Reporter = Annotated[Principal, Depends(require_roles(Role.agent, Role.qa))]
Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.qa, Role.service))]
Qa = Annotated[Principal, Depends(require_roles(Role.qa))]


async def _settings(request: Request) -> EscalationSettings:
    settings: EscalationSettings = request.app.state.settings
    return settings


async def _tracker(request: Request) -> QaTracker:
    tracker: QaTracker = request.app.state.qa_tracker
    return tracker


SettingsDep = Annotated[EscalationSettings, Depends(_settings)]
TrackerDep = Annotated[QaTracker, Depends(_tracker)]


async def _visible_bug(
    session: AsyncSession,
    principal: Principal,
    bug_id: uuid.UUID,
    *,
    for_update: bool = False,
    to_change: bool = False,
) -> Bug:
    """The bug if the caller may see it: a tenant-scoped token sees the bugs affecting its
    tenant (404 otherwise, as if it did not exist). With ``to_change`` it must also be
    the tenant the bug was first reported from (403: it can see the bug, not change it)."""
    bug = await repository.get(session, bug_id, for_update=for_update)
    if bug is None:
        raise NotFound("bug not found")
    await _ensure_visible(session, principal, bug)
    if to_change and principal.tenant_id is not None and bug.tenant_id != principal.tenant_id:
        raise Forbidden(
            "this token may change only bugs first reported from its tenant",
            code="bug-of-another-tenant",
        )
    return bug


async def _ensure_visible(session: AsyncSession, principal: Principal, bug: Bug) -> None:
    tenant = principal.tenant_id
    if tenant is None or bug.tenant_id == tenant:
        return
    if not await repository.is_visible_to(session, bug.id, tenant):
        raise NotFound("bug not found")


def _ctx(principal: Principal, clock: ClockDep) -> service.Context:
    return service.Context(actor_id=principal.subject, now=clock.now())


@router.post(
    "/bugs",
    dependencies=[
        owned(
            body={
                "tenant_id": "tenant",
                "linked_tickets[].ticket_id": "ticket",
                "linked_tickets[].tenant_id": "tenant",
                "affected_tenants": "tenant",
            }
        )
    ],
    status_code=201,
    responses={200: {"model": BugCreateResult, "description": "linked to a duplicate"}},
)
async def create_bug(
    body: BugCreate,
    session: SessionDep,
    principal: Reporter,
    idem: IdempotencyDep,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> BugCreateResult:
    """File a bug report; a duplicate of an open bug links its tickets there instead."""
    await idem.start(session, body)
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    for ref in body.linked_tickets:
        principal.ensure_tenant(ref.tenant_id, resource="tenant")
    for tenant in body.affected_tenants:
        principal.ensure_tenant(tenant, resource="tenant")
    await ensure_ticket_tenants(session, list(body.linked_tickets), listed_in="linked_tickets")
    result = await service.file_report(
        session,
        report=body,
        ctx=_ctx(principal, clock),
        duplicate_threshold=settings.duplicate_threshold,
    )
    candidates = result.candidates
    if principal.tenant_id is not None:
        # Only the bugs this tenant may see: the one it was linked to, its own others.
        candidates = [
            c
            for c in candidates
            if await repository.is_visible_to(session, c.bug.id, principal.tenant_id)
        ]
    out = BugCreateResult(
        outcome="created" if result.outcome == "created" else "linked_to_duplicate",
        bug=await service.to_out(session, result.bug, tenant_scope=principal.tenant_id),
        candidates=service.candidates_out(candidates),
    )
    status = 201 if result.outcome == "created" else 200
    response.status_code = status
    headers = {"ETag": etag(result.bug.version), "Location": f"/v1/bugs/{result.bug.id}"}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=status, headers=headers)


@router.post(
    "/bugs/similar",
    summary="Open bugs like a report, before filing it",
    dependencies=[owned()],
)
async def similar_bugs(
    body: SimilarIn, session: SessionDep, principal: Reporter, settings: SettingsDep
) -> SimilarOut:
    """Scores the whole report (title, description, steps, actual and the error messages in
    them) against every open bug: PostgreSQL full-text and trigram signals plus an error
    fingerprint, combined into one score. Nothing is written."""
    probe = repository.Probe(
        title=body.title, description=body.description, steps=tuple(body.steps), actual=body.actual
    )
    found = await service.similar(session, probe=probe, limit=body.limit)
    if principal.tenant_id is not None:
        found = [
            c
            for c in found
            if await repository.is_visible_to(session, c.bug.id, principal.tenant_id)
        ]
    return SimilarOut(
        items=[
            SimilarBug(
                bug_id=c.bug.id,
                key=c.bug.key,
                title=c.bug.title,
                status=BugState(c.bug.status),
                score=c.score,
                reasons=c.reasons,
            )
            for c in found
        ],
        auto_link_threshold=settings.duplicate_threshold,
    )


@router.get("/bugs", dependencies=[owned(query={"tenant_id": "tenant", "ticket_id": "ticket"})])
async def list_bugs(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    tenant_id: Annotated[str | None, Query(max_length=64, pattern=IDENT_PATTERN)] = None,
    status: BugState | None = None,
    severity: BugSeverity | None = None,
    ticket_id: Annotated[str | None, Query(max_length=64, pattern=IDENT_PATTERN)] = None,
) -> Page[BugOut]:
    """Bugs, oldest first; ``tenant_id``: the bugs affecting that tenant (first reported
    from it, listing it among the affected tenants, or linked to one of its tickets)."""
    stmt = repository.list_statement(
        tenant_id=principal.tenant_filter(tenant_id),
        status=status.value if status else None,
        severity=severity.value if severity else None,
        ticket_id=ticket_id,
        ticket_of_tenant_only=principal.tenant_id is not None,
    )
    rows, cursor = await paginate(session, stmt, keys=[Bug.created_at, Bug.id], params=page)
    return Page[BugOut](
        items=[
            await service.to_out(session, bug, tenant_scope=principal.tenant_id) for bug in rows
        ],
        next_cursor=cursor,
    )


@router.get("/bugs/{bug_id}", dependencies=[owned(path={"bug_id": "bug"})])
async def get_bug(
    bug_id: uuid.UUID, session: SessionDep, principal: Reader, response: Response
) -> BugDetail:
    bug = await _visible_bug(session, principal, bug_id)
    response.headers["ETag"] = etag(bug.version)
    return await service.to_detail(session, bug, tenant_scope=principal.tenant_id)


@router.patch(
    "/bugs/{bug_id}",
    dependencies=[owned(path={"bug_id": "bug"}, body={"affected_tenants": "tenant"})],
    **merge_patch_route(
        BugSettable,
        description="Edit the report; `If-Match` is required (428 without it, 412 when stale).",
    ),
)
async def update_bug(
    bug_id: uuid.UUID,
    body: MergePatch,
    session: SessionDep,
    principal: Reporter,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> BugDetail:
    if_match.require_present()  # 428 before anything else
    bug = await _visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    merged = service.merged_report(bug, patch=body, tenant_scope=principal.tenant_id)
    if "affected_tenants" in body:
        for tenant in merged.affected_tenants:
            principal.ensure_tenant(tenant, resource="tenant")
    await service.update_report(
        session,
        bug=bug,
        merged=merged,
        if_match=if_match,
        ctx=_ctx(principal, clock),
        tenant_scope=principal.tenant_id,
    )
    response.headers["ETag"] = etag(bug.version)
    return await service.to_detail(session, bug, tenant_scope=principal.tenant_id)


@router.post("/bugs/{bug_id}/transitions", dependencies=[owned(path={"bug_id": "bug"})])
async def transition_bug(
    bug_id: uuid.UUID,
    body: TransitionIn,
    session: SessionDep,
    principal: Qa,
    clock: ClockDep,
    settings: SettingsDep,
    tracker: TrackerDep,
    response: Response,
    if_match: IfMatchHeader,
) -> BugDetail:
    """Move the bug along its workflow (409 ``invalid-transition`` when not allowed)."""
    bug = await _visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    if_match.check(bug.version)
    await service.transition(
        session,
        bug=bug,
        change=body,
        ctx=_ctx(principal, clock),
        tracker=tracker,
        public_base_url=settings.public_base_url,
    )
    response.headers["ETag"] = etag(bug.version)
    return await service.to_detail(session, bug, tenant_scope=principal.tenant_id)


@router.post(
    "/bugs/{bug_id}/reproductions", dependencies=[owned(path={"bug_id": "bug"})], status_code=201
)
async def record_reproduction(
    bug_id: uuid.UUID,
    body: ReproductionIn,
    session: SessionDep,
    principal: Qa,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> ReproductionOut:
    await idem.start(session, body)
    bug = await _visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    reproduction = await service.record_reproduction(
        session, bug=bug, attempt=body, ctx=_ctx(principal, clock)
    )
    out = _reproduction_out(reproduction)
    return await idem.complete(session, out, status_code=201)


@router.get("/bugs/{bug_id}/reproductions", dependencies=[owned(path={"bug_id": "bug"})])
async def list_reproductions(
    bug_id: uuid.UUID, session: SessionDep, principal: Reader
) -> list[ReproductionOut]:
    bug = await _visible_bug(session, principal, bug_id)
    return [_reproduction_out(r) for r in await repository.reproductions_of(session, bug.id)]


@router.post(
    "/bugs/{bug_id}/links",
    dependencies=[
        owned(path={"bug_id": "bug"}, body={"ticket_id": "ticket", "tenant_id": "tenant"})
    ],
)
async def link_ticket(
    bug_id: uuid.UUID,
    body: LinkIn,
    session: SessionDep,
    principal: Reporter,
    clock: ClockDep,
    response: Response,
) -> BugDetail:
    """Link a ticket by hand; linking after a fix reopens the bug (a regression)."""
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    await ensure_ticket_tenants(session, [body])
    bug = await _visible_bug(session, principal, bug_id, for_update=True)
    if bug.duplicate_of_id is not None:
        raise BadRequest("the bug was merged; link to the bug it was merged into")
    await service.link_ticket(
        session, bug=bug, ref=body, is_duplicate=False, ctx=_ctx(principal, clock)
    )
    response.headers["ETag"] = etag(bug.version)
    return await service.to_detail(session, bug, tenant_scope=principal.tenant_id)


@router.post(
    "/bugs/{bug_id}/merge",
    dependencies=[owned(path={"bug_id": "bug"}, body={"into_bug_id": "bug"})],
)
async def merge_bug(
    bug_id: uuid.UUID,
    body: MergeIn,
    session: SessionDep,
    principal: Qa,
    clock: ClockDep,
    response: Response,
) -> BugDetail:
    """Fold this bug into ``into_bug_id``: links, reproductions and history move there."""
    locked = await repository.lock_all(session, [bug_id, body.into_bug_id])
    source, target = locked.get(bug_id), locked.get(body.into_bug_id)
    if source is None or target is None:
        raise NotFound("bug not found")
    for bug in (source, target):
        await _visible_bug(session, principal, bug.id, to_change=True)
    await service.merge(session, source=source, target=target, ctx=_ctx(principal, clock))
    response.headers["ETag"] = etag(target.version)
    return await service.to_detail(session, target, tenant_scope=principal.tenant_id)


def _reproduction_out(reproduction: Reproduction) -> ReproductionOut:
    return ReproductionOut.model_validate(reproduction, from_attributes=True)
