"""``/v1/triage-rules``: ordered triage rules and dry runs; ``/v1/triage-model``: the
classifier in use, the agents' labelled examples and a refit."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from servicekit.authz import GLOBAL_CONFIG, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly, AgentOnly
from ticket_service.triage import service
from ticket_service.triage.schemas import (
    DryRunIn,
    TriageExampleOut,
    TriageModelOut,
    TriageOutcome,
    TriageRefitOut,
    TriageRuleIn,
    TriageRuleOut,
)

router = APIRouter(prefix="/v1/triage-rules", tags=["triage"])


@router.get("", summary="Triage rules in evaluation order")
async def list_rules(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[TriageRuleOut]:
    rows, cursor = await service.rules_page(session, page)
    return Page[TriageRuleOut](items=[service.to_out(r) for r in rows], next_cursor=cursor)


@router.post("", status_code=201, summary="Add a triage rule (admin)")
async def create_rule(
    body: TriageRuleIn,
    session: SessionDep,
    principal: AdminOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> TriageRuleOut:
    await idem.start(session, body)
    rule = await service.create_rule(session, body=body, at=clock.now())
    out = service.to_out(rule)
    return await idem.complete(session, out, status_code=201)


@router.post("/dry-run", summary="What the rules would do to a ticket text")
async def dry_run(body: DryRunIn, session: SessionDep, principal: AgentOnly) -> TriageOutcome:
    return await service.dry_run(session, body=body)


@router.get(
    "/{rule_id}", dependencies=[owned(exempt={"rule_id": GLOBAL_CONFIG})], summary="One triage rule"
)
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: AgentOnly, response: Response
) -> TriageRuleOut:
    rule = await service.get_rule(session, rule_id)
    response.headers["ETag"] = etag(rule.version)
    return service.to_out(rule)


@router.patch(
    "/{rule_id}",
    dependencies=[owned(exempt={"rule_id": GLOBAL_CONFIG})],
    summary="Change a triage rule (admin; If-Match required)",
    **merge_patch_route(TriageRuleIn),
)
async def update_rule(
    rule_id: uuid.UUID,
    patch: MergePatch,
    session: SessionDep,
    principal: AdminOnly,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> TriageRuleOut:
    rule = await service.get_rule(session, rule_id)
    merged = service.merged_rule(rule, patch)  # 422 before 412
    if_match.require(rule.version)
    rule = await service.update_rule(session, rule=rule, merged=merged, at=clock.now())
    response.headers["ETag"] = etag(rule.version)
    return service.to_out(rule)


@router.delete(
    "/{rule_id}",
    dependencies=[owned(exempt={"rule_id": GLOBAL_CONFIG})],
    status_code=204,
    summary="Remove a triage rule (admin; If-Match)",
)
async def delete_rule(
    rule_id: uuid.UUID,
    session: SessionDep,
    principal: AdminOnly,
    if_match: IfMatchHeader,
) -> Response:
    rule = await service.get_rule(session, rule_id)
    if_match.require(rule.version)
    await service.delete_rule(session, rule)
    return Response(status_code=204)


model_router = APIRouter(prefix="/v1/triage-model", tags=["triage"])


@model_router.get("", summary="The triage classifier in use by this process")
async def current_model(session: SessionDep, principal: AgentOnly) -> TriageModelOut:
    return await service.model_info(session)


@model_router.get("/examples", summary="Tickets agents re-triaged: the labelled examples")
async def list_examples(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[TriageExampleOut]:
    rows, cursor = await service.examples_page(session, page)
    return Page[TriageExampleOut](
        items=[TriageExampleOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


@model_router.post("/refit", summary="Refit from the corpus and the agents' examples (admin)")
async def refit_model(session: SessionDep, principal: AdminOnly, clock: ClockDep) -> TriageRefitOut:
    return await service.refit_now(session, at=clock.now())
