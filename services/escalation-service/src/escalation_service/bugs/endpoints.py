"""HTTP API of bug reports: /v1/bugs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from escalation_service.bugs.schemas import (
    BugCreate,
    BugCreateResult,
    BugDetail,
    BugOut,
    BugSettable,
    BugState,
    DuplicateModelOut,
    DuplicateRefitOut,
    DuplicateVerdictIn,
    DuplicateVerdictOut,
    LinkIn,
    MergeIn,
    ReproductionIn,
    ReproductionOut,
    SimilarBug,
    SimilarIn,
    SimilarOut,
    TransitionIn,
)
from escalation_service.bugs.service import (
    access,
    editing,
    filing,
    links,
    transitions,
    verdicts,
    views,
)
from escalation_service.bugs.service.common import Context
from escalation_service.deps import (
    BugReader,
    DuplicateJudge,
    DuplicateModelReader,
    SettingsDep,
    TrackerDep,
)
from escalation_service.models import Reproduction
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import BadRequest
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.roles import AdminOnly, AgentOrQa, Qa
from supportops_events.escalation import BugSeverity

router = APIRouter(prefix="/v1", tags=["bugs"])

IDENT_PATTERN = r"^[A-Za-z0-9_.:\-]+$"


def _ctx(principal: Principal, clock: ClockDep) -> Context:
    return Context(actor_id=principal.subject, now=clock.now())


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
    principal: AgentOrQa,
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
    await links.ensure_ticket_tenants(
        session, list(body.linked_tickets), listed_in="linked_tickets"
    )
    result = await filing.file_report(
        session,
        report=body,
        ctx=_ctx(principal, clock),
        duplicate_threshold=settings.duplicate_threshold,
    )
    # Only the bugs this tenant may see: the one it was linked to, its own others.
    candidates = await access.visible_candidates(session, principal, result.candidates)
    out = BugCreateResult(
        outcome="created" if result.outcome == "created" else "linked_to_duplicate",
        bug=await views.to_out(session, result.bug, tenant_scope=principal.tenant_id),
        candidates=views.candidates_out(candidates),
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
    body: SimilarIn, session: SessionDep, principal: AgentOrQa, settings: SettingsDep
) -> SimilarOut:
    """Scores the whole report (title, description, steps, actual and the error messages in
    them) against every open bug: PostgreSQL full-text and trigram signals plus an error
    fingerprint, combined into one score by the duplicate model in use (the newest accepted
    refit, else the shipped weights). Nothing is written."""
    found, threshold, version = await filing.similar(
        session,
        title=body.title,
        description=body.description,
        steps=body.steps,
        actual=body.actual,
        limit=body.limit,
        duplicate_threshold=settings.duplicate_threshold,
    )
    found = await access.visible_candidates(session, principal, found)
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
        auto_link_threshold=threshold,
        model_version=version,
    )


@router.get("/bugs", dependencies=[owned(query={"tenant_id": "tenant", "ticket_id": "ticket"})])
async def list_bugs(
    session: SessionDep,
    principal: BugReader,
    page: PageDep,
    sort: SortDep,
    tenant_id: Annotated[str | None, Query(max_length=64, pattern=IDENT_PATTERN)] = None,
    status: BugState | None = None,
    severity: BugSeverity | None = None,
    ticket_id: Annotated[str | None, Query(max_length=64, pattern=IDENT_PATTERN)] = None,
) -> Page[BugOut]:
    """Bugs, newest first (``sort``); ``tenant_id``: the bugs affecting that tenant (first reported
    from it, listing it among the affected tenants, or linked to one of its tickets)."""
    return await views.list_page(
        session,
        params=page,
        tenant_id=principal.tenant_filter(tenant_id),
        status=status,
        severity=severity,
        ticket_id=ticket_id,
        tenant_scope=principal.tenant_id,
        direction=sort.direction,
    )


@router.get("/bugs/{bug_id}", dependencies=[owned(path={"bug_id": "bug"})])
async def get_bug(
    bug_id: uuid.UUID, session: SessionDep, principal: BugReader, response: Response
) -> BugDetail:
    bug = await access.visible_bug(session, principal, bug_id)
    response.headers["ETag"] = etag(bug.version)
    return await views.to_detail(session, bug, tenant_scope=principal.tenant_id)


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
    principal: AgentOrQa,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> BugDetail:
    if_match.require_present()  # 428 before anything else
    bug = await access.visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    merged = editing.merged_report(bug, patch=body, tenant_scope=principal.tenant_id)
    if "affected_tenants" in body:
        for tenant in merged.affected_tenants:
            principal.ensure_tenant(tenant, resource="tenant")
    await editing.update_report(
        session,
        bug=bug,
        merged=merged,
        if_match=if_match,
        ctx=_ctx(principal, clock),
        tenant_scope=principal.tenant_id,
    )
    response.headers["ETag"] = etag(bug.version)
    return await views.to_detail(session, bug, tenant_scope=principal.tenant_id)


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
    bug = await access.visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    if_match.check(bug.version)
    await transitions.transition(
        session,
        bug=bug,
        change=body,
        ctx=_ctx(principal, clock),
        tracker=tracker,
        public_base_url=settings.public_base_url,
    )
    response.headers["ETag"] = etag(bug.version)
    return await views.to_detail(session, bug, tenant_scope=principal.tenant_id)


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
    bug = await access.visible_bug(session, principal, bug_id, for_update=True, to_change=True)
    reproduction = await editing.record_reproduction(
        session, bug=bug, attempt=body, ctx=_ctx(principal, clock)
    )
    out = _reproduction_out(reproduction)
    return await idem.complete(session, out, status_code=201)


@router.get("/bugs/{bug_id}/reproductions", dependencies=[owned(path={"bug_id": "bug"})])
async def list_reproductions(
    bug_id: uuid.UUID, session: SessionDep, principal: BugReader
) -> list[ReproductionOut]:
    bug = await access.visible_bug(session, principal, bug_id)
    return [_reproduction_out(r) for r in await editing.reproductions_of(session, bug)]


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
    principal: AgentOrQa,
    clock: ClockDep,
    response: Response,
) -> BugDetail:
    """Link a ticket by hand; linking after a fix reopens the bug (a regression)."""
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    await links.ensure_ticket_tenants(session, [body])
    bug = await access.visible_bug(session, principal, bug_id, for_update=True)
    if bug.duplicate_of_id is not None:
        raise BadRequest("the bug was merged; link to the bug it was merged into")
    await links.link_ticket(
        session, bug=bug, ref=body, is_duplicate=False, ctx=_ctx(principal, clock)
    )
    response.headers["ETag"] = etag(bug.version)
    return await views.to_detail(session, bug, tenant_scope=principal.tenant_id)


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
    settings: SettingsDep,
    response: Response,
) -> BugDetail:
    """Fold this bug into ``into_bug_id``: links, reproductions and history move there; a
    staff merge stores the pair as a ``duplicate`` verdict the next duplicates refit learns
    from (a tenant-scoped token's merge does not: the model is every tenant's)."""
    source, target = await access.lock_pair_to_change(
        session, principal, source_id=bug_id, target_id=body.into_bug_id
    )
    await editing.merge(
        session,
        source=source,
        target=target,
        ctx=_ctx(principal, clock),
        duplicate_threshold=settings.duplicate_threshold,
        # a verdict trains the model every tenant is scored by: staff merges only
        learn=not principal.is_tenant_scoped,
    )
    response.headers["ETag"] = etag(target.version)
    return await views.to_detail(session, target, tenant_scope=principal.tenant_id)


@router.post(
    "/bugs/{bug_id}/duplicate-verdicts",
    dependencies=[owned(path={"bug_id": "bug"}, body={"other_bug_id": "bug"})],
    status_code=201,
    summary="Judge a listed duplicate candidate: the same defect, or a different one",
)
async def record_duplicate_verdict(
    bug_id: uuid.UUID,
    body: DuplicateVerdictIn,
    session: SessionDep,
    principal: DuplicateJudge,
    clock: ClockDep,
    settings: SettingsDep,
) -> DuplicateVerdictOut:
    """Stores the pair's verdict with its signals (the latest verdict on a pair wins); the
    next duplicates refit learns from it. ``duplicate`` records the judgement only: merging
    is ``POST /v1/bugs/{bug_id}/merge`` (which records ``duplicate`` too)."""
    bug = await access.visible_bug(session, principal, bug_id, to_change=True)
    verdicts.refuse_self(bug_id, body.other_bug_id)  # 422
    other = await access.visible_bug(session, principal, body.other_bug_id, to_change=True)
    stored = await verdicts.record_verdict(
        session,
        bugs=(bug, other),
        verdict=body.verdict,
        source="verdict",
        ctx=_ctx(principal, clock),
        default_threshold=settings.duplicate_threshold,
    )
    return await verdicts.verdict_out(session, stored)


@router.get(
    "/duplicate-verdicts",
    dependencies=[owned(query={"bug_id": "bug"})],
    summary="Agents' duplicate verdicts, the latest change first",
)
async def list_duplicate_verdicts(
    session: SessionDep,
    principal: DuplicateModelReader,
    page: PageDep,
    bug_id: uuid.UUID | None = None,
) -> Page[DuplicateVerdictOut]:
    """``bug_id``: the verdicts naming that bug. Each says whether the newest refit saw it."""
    return await verdicts.verdict_page(session, params=page, bug_id=bug_id)


@router.get(
    "/duplicate-model",
    dependencies=[owned()],
    summary="The duplicate model in use: version, threshold, weights, verdicts",
)
async def get_duplicate_model(
    session: SessionDep, principal: DuplicateModelReader, settings: SettingsDep
) -> DuplicateModelOut:
    """The newest accepted refit (else the shipped weights and the configured threshold),
    the verdicts it saw, those waiting for the next refit, and the newest refit's outcome."""
    return await verdicts.model_info(session, default_threshold=settings.duplicate_threshold)


@router.post(
    "/duplicate-model/refit",
    dependencies=[owned()],
    summary="Refit the duplicate weights from the corpus and the verdicts (admin)",
)
async def refit_duplicate_model(
    session: SessionDep, principal: AdminOnly, clock: ClockDep
) -> DuplicateRefitOut:
    """Fits the corpus's training pairs plus every verdict, picks the threshold by the
    rule; the same data gives the same version (``created`` false). A refit the guard
    rejects (``accepted`` false, ``rejection`` says why) is recorded and never used."""
    return verdicts.refit_out(await verdicts.refit(session, at=clock.now()))


def _reproduction_out(reproduction: Reproduction) -> ReproductionOut:
    return ReproductionOut.model_validate(reproduction, from_attributes=True)
