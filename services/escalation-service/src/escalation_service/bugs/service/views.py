"""Bugs as each caller may see them: the response of one bug, of a page of bugs (with a
constant number of queries whatever the page size), and of a bug's history."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.quality import completeness
from escalation_service.bugs.schemas import (
    Attachment,
    BugDetail,
    BugOut,
    BugState,
    Completeness,
    DuplicateCandidate,
    EnvironmentIn,
    HistoryEntry,
    LinkedTicket,
)
from escalation_service.bugs.service.common import facts_of
from escalation_service.impact import repository as impact_repository
from escalation_service.impact.service import impact_of
from escalation_service.models import Bug, BugLink, TenantPlan, TicketView
from servicekit.pagination import Page, PageParams
from supportops_events.escalation import BugResolution, BugSeverity


@dataclass(frozen=True)
class _Scoped:
    """What of a bug one caller may see: a tenant-scoped caller sees its own tickets and
    tenant only, never other tenants' ticket or tenant ids (nor the reporting tenant's
    attachments and configuration when the bug was reported from another tenant)."""

    links: list[BugLink]
    affected_tenants: list[str]
    own_report: bool
    hidden_ids: frozenset[str]


def _scoped(bug: Bug, links: list[BugLink], tenant_scope: str | None) -> _Scoped:
    if tenant_scope is None:
        return _Scoped(
            links=links,
            affected_tenants=bug.affected_tenants,
            own_report=True,
            hidden_ids=frozenset(),
        )
    hidden = {
        *(link.ticket_id for link in links if link.tenant_id != tenant_scope),
        *(link.tenant_id for link in links),
        *bug.affected_tenants,
        bug.tenant_id,
    } - {tenant_scope}
    return _Scoped(
        links=[link for link in links if link.tenant_id == tenant_scope],
        affected_tenants=[tenant_scope],
        own_report=bug.tenant_id == tenant_scope,
        hidden_ids=frozenset(hidden),
    )


@dataclass(frozen=True)
class _PageData:
    """Everything the responses of a page of bugs read, loaded with one query per table."""

    links: dict[uuid.UUID, list[BugLink]]
    reproduced: set[uuid.UUID]
    views: dict[str, TicketView]
    plans: dict[str, TenantPlan]


async def _load(
    session: AsyncSession, bugs: Sequence[Bug], tenant_scope: str | None
) -> tuple[_PageData, dict[uuid.UUID, _Scoped]]:
    links = await repository.links_of_page(session, [bug.id for bug in bugs])
    scoped = {bug.id: _scoped(bug, links[bug.id], tenant_scope) for bug in bugs}
    # only what the caller may see is read: another tenant's tickets and plans are not
    tickets = {link.ticket_id for s in scoped.values() for link in s.links}
    tenants = {t for s in scoped.values() for t in s.affected_tenants} | {
        link.tenant_id for s in scoped.values() for link in s.links
    }
    data = _PageData(
        links=links,
        reproduced=await repository.reproduced_among(session, [bug.id for bug in bugs]),
        views=await impact_repository.ticket_views(session, tickets),
        plans=await impact_repository.plans_of(session, tenants),
    )
    return data, scoped


async def page_out(
    session: AsyncSession, bugs: Sequence[Bug], *, tenant_scope: str | None = None
) -> list[BugOut]:
    """The bugs as ``tenant_scope`` may see them (None: everything), in four queries
    whatever the number of bugs (issue #15: no query per bug)."""
    if not bugs:
        return []
    data, scoped = await _load(session, bugs, tenant_scope)
    return [_out(bug, scoped[bug.id], data) for bug in bugs]


async def list_page(
    session: AsyncSession,
    *,
    params: PageParams,
    tenant_id: str | None,
    status: BugState | None,
    severity: BugSeverity | None,
    ticket_id: str | None,
    tenant_scope: str | None,
    direction: Literal["asc", "desc"] = "desc",
) -> Page[BugOut]:
    """A page of the bug list as ``tenant_scope`` sees it (``tenant_id``: the bugs
    affecting that tenant)."""
    rows, cursor = await repository.list_page(
        session,
        params=params,
        tenant_id=tenant_id,
        status=status.value if status else None,
        severity=severity.value if severity else None,
        ticket_id=ticket_id,
        ticket_of_tenant_only=tenant_scope is not None,
        direction=direction,
    )
    items = await page_out(session, rows, tenant_scope=tenant_scope)
    return Page[BugOut](items=items, next_cursor=cursor)


async def to_out(session: AsyncSession, bug: Bug, *, tenant_scope: str | None = None) -> BugOut:
    """The bug as ``tenant_scope`` may see it (None: everything)."""
    (out,) = await page_out(session, [bug], tenant_scope=tenant_scope)
    return out


def _out(bug: Bug, scoped: _Scoped, data: _PageData) -> BugOut:
    links, views = scoped.links, data.views
    score, missing = completeness(
        facts_of(bug, has_successful_reproduction=bug.id in data.reproduced)
    )
    impact = impact_of(
        links=links, affected_tenants=scoped.affected_tenants, views=views, plans=data.plans
    )
    environment = EnvironmentIn.model_validate(bug.environment)
    attachments = [Attachment.model_validate(a) for a in bug.attachments]
    if not scoped.own_report:
        environment = environment.model_copy(update={"tenant_configuration": {}})
        attachments = []
    return BugOut(
        id=bug.id,
        key=bug.key,
        tenant_id=bug.tenant_id if scoped.own_report else None,
        title=bug.title,
        summary=bug.summary,
        steps=bug.steps,
        expected=bug.expected,
        actual=bug.actual,
        environment=environment,
        severity=BugSeverity(bug.severity),
        attachments=attachments,
        status=BugState(bug.status),
        resolution=BugResolution(bug.resolution) if bug.resolution else None,
        fixed_in_version=bug.fixed_in_version,
        duplicate_of_id=bug.duplicate_of_id,
        external_issue_key=bug.external_issue_key,
        completeness=Completeness(score=score, missing=missing),
        linked_tickets=[
            LinkedTicket(
                ticket_id=link.ticket_id,
                tenant_id=link.tenant_id,
                is_duplicate=link.is_duplicate,
                linked_at=link.linked_at,
                linked_by_model=link.linked_by_model,
                ticket_status=views[link.ticket_id].status if link.ticket_id in views else None,
                sla_state=views[link.ticket_id].sla_state if link.ticket_id in views else None,
            )
            for link in links
        ],
        affected_tenants=impact.affected_tenants,
        impact=impact,
        version=bug.version,
        created_at=bug.created_at,
        updated_at=bug.updated_at,
    )


async def to_detail(
    session: AsyncSession, bug: Bug, *, tenant_scope: str | None = None
) -> BugDetail:
    data, scoped = await _load(session, [bug], tenant_scope)
    out = _out(bug, scoped[bug.id], data)
    hidden_ids = scoped[bug.id].hidden_ids
    history = await repository.history_of(session, bug.id)
    return BugDetail(
        **out.model_dump(),
        history=[
            HistoryEntry(
                from_status=h.from_status,
                to_status=h.to_status,
                note=redact(h.note, hidden_ids) if h.note else h.note,
                actor_id=h.actor_id,
                origin_bug_key=h.origin_bug_key,
                at=h.at,
            )
            for h in history
        ],
    )


def redact(text: str, hidden_ids: frozenset[str]) -> str:
    """``text`` with each of ``hidden_ids`` (standing alone) replaced by ``[hidden]``."""
    if not hidden_ids:
        return text
    alternatives = "|".join(re.escape(i) for i in sorted(hidden_ids, key=len, reverse=True))
    return re.sub(rf"(?<![A-Za-z0-9_\-])(?:{alternatives})(?![A-Za-z0-9_\-])", "[hidden]", text)


def candidates_out(candidates: list[repository.Candidate]) -> list[DuplicateCandidate]:
    return [
        DuplicateCandidate(
            bug_id=c.bug.id,
            key=c.bug.key,
            title=c.bug.title,
            status=BugState(c.bug.status),
            score=c.score,
            reasons=c.reasons,
        )
        for c in candidates
    ]
