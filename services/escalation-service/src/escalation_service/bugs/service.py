"""Bug reports: filing (with duplicate detection), links, workflow, reproductions, merge."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.quality import ReportFacts, completeness, gate_failures
from escalation_service.bugs.schemas import (
    Attachment,
    BugCreate,
    BugDetail,
    BugOut,
    BugSettable,
    BugState,
    Completeness,
    DuplicateCandidate,
    EnvironmentIn,
    HistoryEntry,
    LinkedTicket,
    ReproductionIn,
    ReproductionOutcome,
    TicketRef,
    TransitionIn,
)
from escalation_service.bugs.similarity import error_fingerprints
from escalation_service.bugs.workflow import (
    TransitionEvent,
    event_status,
    is_after_fix,
    transition_event,
)
from escalation_service.impact.service import impact_of, ticket_views
from escalation_service.models import Bug, BugHistory, BugLink, Reproduction
from escalation_service.tracker.base import QaTracker, TrackerIssue
from servicekit.errors import Conflict, Unprocessable
from servicekit.etag import IfMatch
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish
from supportops_events.escalation import (
    BugCannotReproduce,
    BugClosed,
    BugEscalated,
    BugInProgress,
    BugLinked,
    BugNeedsInfo,
    BugReopened,
    BugReported,
    BugReproduced,
    BugReproducing,
    BugResolution,
    BugResolved,
    BugSeverity,
    BugVerified,
    Environment,
)


@dataclass(frozen=True)
class FilingResult:
    outcome: str
    bug: Bug
    candidates: list[repository.Candidate]


@dataclass(frozen=True)
class Context:
    """Who acts and when; the clock's reading is taken once per request."""

    actor_id: str | None
    now: datetime


# --- filing ---------------------------------------------------------------------------


async def file_report(
    session: AsyncSession,
    *,
    report: BugCreate,
    ctx: Context,
    duplicate_threshold: float,
) -> FilingResult:
    """File a new bug, or link its tickets to an open duplicate (``bug.linked``)."""
    await repository.lock_filing(session)
    return await _file(session, report=report, ctx=ctx, duplicate_threshold=duplicate_threshold)


async def file_escalated_ticket(
    session: AsyncSession,
    *,
    report: BugCreate,
    ctx: Context,
    duplicate_threshold: float,
) -> FilingResult | None:
    """File (or link) the bug of an escalated ticket; None when the ticket is linked
    already (another event carrying the same escalation changes nothing)."""
    await repository.lock_filing(session)
    for ref in report.linked_tickets:
        if await repository.link_of_ticket(session, ref.ticket_id) is not None:
            return None
    return await _file(session, report=report, ctx=ctx, duplicate_threshold=duplicate_threshold)


async def _file(
    session: AsyncSession, *, report: BugCreate, ctx: Context, duplicate_threshold: float
) -> FilingResult:
    # The caller holds the filing lock: no other report is being filed right now.
    steps_text = "\n".join(report.steps)
    probe = repository.Probe(
        title=report.title,
        description=report.summary,
        steps=tuple(report.steps),
        actual=_with_logs(report),
    )
    # Candidates above the suggestion floor are listed for a human; only those above the
    # (high-confidence) duplicate threshold are linked automatically.
    candidates = await repository.duplicate_candidates(
        session, probe=probe, min_score=min(SUGGEST_FLOOR, duplicate_threshold)
    )
    if not report.force_new:
        for candidate in (c for c in candidates if c.score >= duplicate_threshold):
            # Lock the bug and read it again: it may have been closed or merged meanwhile.
            target = await repository.get(session, candidate.bug.id, for_update=True)
            if target is None or not _takes_duplicates(target):
                continue
            await _link_duplicate(session, target=target, report=report, ctx=ctx)
            return FilingResult(outcome="linked_to_duplicate", bug=target, candidates=candidates)

    for ref in report.linked_tickets:
        await _refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=None)
    bug = Bug(
        id=uuid.uuid4(),
        tenant_id=report.tenant_id,
        title=report.title,
        summary=report.summary,
        steps=list(report.steps),
        steps_text=steps_text,
        expected=report.expected,
        actual=report.actual,
        environment=report.environment.model_dump(),
        error_fingerprints=probe.fingerprints,
        severity=report.severity.value,
        attachments=[a.model_dump() for a in report.attachments],
        affected_tenants=sorted({report.tenant_id, *report.affected_tenants}),
        status=BugState.reported.value,
        rework_count=0,
        completeness_score=0,
        reported_by=ctx.actor_id,
        version=1,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(bug)
    await session.flush()
    for ref in report.linked_tickets:
        linked = await repository.insert_link(
            session,
            bug_id=bug.id,
            ticket_id=ref.ticket_id,
            tenant_id=ref.tenant_id,
            is_duplicate=False,
            linked_at=ctx.now,
        )
        if not linked:  # linked by hand to another bug since we looked
            await _refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
    session.add(
        BugHistory(
            bug_id=bug.id, from_status=None, to_status="reported", actor_id=ctx.actor_id, at=ctx.now
        )
    )
    await refresh_quality(session, bug)
    links = await repository.links_of(session, bug.id)
    await publish(
        session,
        BugReported(
            **_state(bug, links, ctx),
            ticket_id=report.linked_tickets[0].ticket_id if report.linked_tickets else "",
            steps=list(report.steps),
            expected=report.expected,
            actual=report.actual,
            environment=_event_environment(bug.environment),
            reported_at=ctx.now,
        ),
    )
    return FilingResult(outcome="created", bug=bug, candidates=candidates)


SUGGEST_FLOOR = 0.2
"""Candidates scoring at least this are shown to the filer (never linked below the threshold)."""


def _log_texts(attachments: list[dict[str, Any]]) -> list[str]:
    return [str(a.get("content")) for a in attachments if a.get("kind") == "log_excerpt"]


async def similar(
    session: AsyncSession, *, probe: repository.Probe, limit: int
) -> list[repository.Candidate]:
    """Open bugs like ``probe``, best first, for an agent deciding before filing."""
    return await repository.duplicate_candidates(
        session, probe=probe, min_score=SUGGEST_FLOOR, limit=limit
    )


def _with_logs(report: BugCreate) -> str:
    """The actual result plus pasted log excerpts: error messages often live in the logs."""
    logs = [a.content for a in report.attachments if a.kind == "log_excerpt" and a.content]
    return "\n".join([report.actual, *logs])


def _takes_duplicates(bug: Bug) -> bool:
    return bug.duplicate_of_id is None and BugState(bug.status) not in (
        BugState.closed,
        BugState.wont_fix,
    )


async def _link_duplicate(
    session: AsyncSession, *, target: Bug, report: BugCreate, ctx: Context
) -> None:
    # Refuse before changing anything: one ticket cannot belong to two bugs.
    for ref in report.linked_tickets:
        await _refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=target.id)
    for ref in report.linked_tickets:
        await link_ticket(session, bug=target, ref=ref, is_duplicate=True, ctx=ctx)
    new_tenants = {report.tenant_id, *report.affected_tenants} - set(target.affected_tenants)
    if new_tenants:
        target.affected_tenants = sorted({*target.affected_tenants, *new_tenants})
        target.version += 1
        target.updated_at = ctx.now
    await session.flush()


async def _refuse_if_linked_elsewhere(
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
    session: AsyncSession, *, bug: Bug, ref: TicketRef, is_duplicate: bool, ctx: Context
) -> bool:
    """Link a ticket (``bug.linked``); after a fix this is a regression and reopens the bug
    (``bug.reopened``). The caller holds the bug's row lock.

    Returns False when the ticket was already linked to this bug (nothing happens); a 409
    when it is linked to another bug, also when that link is being made concurrently."""
    await _refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
    linked = await repository.insert_link(
        session,
        bug_id=bug.id,
        ticket_id=ref.ticket_id,
        tenant_id=ref.tenant_id,
        is_duplicate=is_duplicate,
        linked_at=ctx.now,
    )
    if not linked:
        await _refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
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
            **_state(bug, links, ctx),
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


# --- workflow -------------------------------------------------------------------------


async def transition(
    session: AsyncSession,
    *,
    bug: Bug,
    change: TransitionIn,
    ctx: Context,
    tracker: QaTracker | None = None,
    public_base_url: str = "",
) -> Bug:
    if bug.duplicate_of_id is not None:
        raise Conflict(
            f"{bug.key} was merged into another bug; move that one instead",
            code="bug-merged",
            duplicate_of_id=str(bug.duplicate_of_id),
        )
    previous, current = BugState(bug.status), change.to
    kind = transition_event(previous, current)
    await _check_preconditions(session, bug=bug, current=current, change=change)

    external_key: str | None = None
    if current == BugState.escalated and tracker is not None:
        links = await repository.links_of(session, bug.id)
        external_key = await tracker.create_issue(
            _tracker_issue(bug, links, public_base_url=public_base_url)
        )
        bug.external_issue_key = external_key

    bug.status = current.value
    bug.version += 1
    bug.updated_at = ctx.now
    match current:
        case BugState.reproduced:
            bug.reproduced_at = bug.reproduced_at or ctx.now
        case BugState.needs_info | BugState.cannot_reproduce:
            bug.rework_count += 1
        case BugState.escalated:
            bug.escalated_at = ctx.now
        case BugState.fixed:
            bug.resolution, bug.resolved_at = BugResolution.fixed.value, ctx.now
            bug.fixed_in_version = change.fixed_in_version
        case BugState.verified if change.fixed_in_version:
            bug.fixed_in_version = change.fixed_in_version
        case BugState.wont_fix:
            bug.resolution, bug.resolved_at = BugResolution.wont_fix.value, ctx.now
        case BugState.closed if bug.resolution is None:
            bug.resolution = (
                BugResolution.cannot_reproduce.value
                if previous == BugState.cannot_reproduce
                else BugResolution.fixed.value
            )
        case BugState.reopened:
            bug.resolution, bug.resolved_at = None, None
        case _:
            pass
    session.add(
        BugHistory(
            bug_id=bug.id,
            from_status=previous.value,
            to_status=current.value,
            note=change.note or change.question,
            actor_id=ctx.actor_id,
            at=ctx.now,
        )
    )
    await session.flush()
    await refresh_quality(session, bug)
    links = await repository.links_of(session, bug.id)
    await _publish_transition(
        session, bug=bug, links=links, kind=kind, previous=previous, change=change, ctx=ctx
    )
    return bug


async def _check_preconditions(
    session: AsyncSession, *, bug: Bug, current: BugState, change: TransitionIn
) -> None:
    match current:
        case BugState.reproduced:
            if not await repository.has_successful_reproduction(session, bug.id):
                raise Conflict(
                    "a bug is reproduced only after a successful reproduction attempt",
                    code="reproduction-required",
                    missing=["successful_reproduction"],
                )
        case BugState.needs_info:
            if not (change.question or "").strip():
                raise Unprocessable(
                    "moving to needs_info asks the customer a question",
                    code="validation-error",
                    errors=[
                        {"field": "question", "in": "body", "message": "required for needs_info"}
                    ],
                )
        case BugState.escalated:
            failures = gate_failures(await _facts(session, bug))
            if failures:
                raise Unprocessable(
                    "the report does not pass the quality gate: " + ", ".join(failures),
                    code="quality-gate-failed",
                    missing=failures,
                )
        case _:
            pass


async def _publish_transition(
    session: AsyncSession,
    *,
    bug: Bug,
    links: list[BugLink],
    kind: TransitionEvent,
    previous: BugState,
    change: TransitionIn,
    ctx: Context,
) -> None:
    state = _state(bug, links, ctx)
    match kind:
        case TransitionEvent.reproducing:
            await publish(session, BugReproducing(**state, started_at=ctx.now))
        case TransitionEvent.reproduced:
            reproductions = await repository.reproductions_of(session, bug.id)
            last_success = [r for r in reproductions if r.outcome == "reproduced"][-1]
            await publish(
                session,
                BugReproduced(
                    **state,
                    notes=change.note,
                    environment=_event_environment(last_success.environment),
                    reproduced_at=ctx.now,
                ),
            )
        case TransitionEvent.cannot_reproduce:
            await publish(
                session, BugCannotReproduce(**state, notes=change.note, recorded_at=ctx.now)
            )
        case TransitionEvent.needs_info:
            await publish(
                session, BugNeedsInfo(**state, question=change.question or "", requested_at=ctx.now)
            )
        case TransitionEvent.escalated:
            await publish(
                session,
                BugEscalated(
                    **state,
                    escalated_to=change.escalated_to,
                    external_issue_key=bug.external_issue_key,
                    escalated_at=ctx.now,
                ),
            )
        case TransitionEvent.in_progress:
            await publish(
                session,
                BugInProgress(
                    **state, external_issue_key=bug.external_issue_key, started_at=ctx.now
                ),
            )
        case TransitionEvent.resolved:
            await publish(
                session,
                BugResolved(
                    **state,
                    resolution=BugResolution(bug.resolution or BugResolution.fixed.value),
                    fixed_in_version=bug.fixed_in_version,
                    resolution_note=change.note,
                    resolved_at=ctx.now,
                ),
            )
        case TransitionEvent.verified:
            await publish(
                session,
                BugVerified(**state, fixed_in_version=bug.fixed_in_version, verified_at=ctx.now),
            )
        case TransitionEvent.reopened:
            await publish(
                session,
                BugReopened(
                    **state,
                    previous_status=event_status(previous),
                    reason=change.note,
                    reopened_at=ctx.now,
                ),
            )
        case TransitionEvent.closed:
            await publish(
                session,
                BugClosed(
                    **state,
                    resolution=BugResolution(bug.resolution or BugResolution.fixed.value),
                    closed_at=ctx.now,
                ),
            )


# --- reproductions, edits, merge ------------------------------------------------------


async def record_reproduction(
    session: AsyncSession, *, bug: Bug, attempt: ReproductionIn, ctx: Context
) -> Reproduction:
    if BugState(bug.status) in (BugState.closed, BugState.wont_fix):
        raise Conflict(
            f"no reproductions on a {bug.status} bug", code="bug-closed", status_value=bug.status
        )
    reproduction = Reproduction(
        id=uuid.uuid4(),
        bug_id=bug.id,
        environment=attempt.environment.model_dump(),
        steps_followed=list(attempt.steps_followed),
        outcome=attempt.outcome.value,
        evidence=[e.model_dump() for e in attempt.evidence],
        recorded_by=ctx.actor_id,
        recorded_at=ctx.now,
    )
    session.add(reproduction)
    bug.version += 1
    bug.updated_at = ctx.now
    await session.flush()
    await refresh_quality(session, bug)
    return reproduction


def settable_of(bug: Bug, *, tenant_scope: str | None = None) -> dict[str, Any]:
    """The report as the document a PATCH merge-patches, as ``tenant_scope`` sees it."""
    return {
        "title": bug.title,
        "summary": bug.summary,
        "steps": list(bug.steps),
        "expected": bug.expected,
        "actual": bug.actual,
        "environment": dict(bug.environment),
        "severity": bug.severity,
        "attachments": [dict(a) for a in bug.attachments],
        "affected_tenants": [t for t in bug.affected_tenants if tenant_scope in (None, t)],
    }


def merged_report(
    bug: Bug, *, patch: dict[str, Any], tenant_scope: str | None = None
) -> BugSettable:
    """The report with an RFC 7396 merge patch applied, validated (422 naming the field)."""
    return apply_merge_patch(
        BugSettable, document=settable_of(bug, tenant_scope=tenant_scope), patch=patch
    )


async def update_report(
    session: AsyncSession,
    *,
    bug: Bug,
    merged: BugSettable,
    if_match: IfMatch,
    ctx: Context,
    tenant_scope: str | None = None,
) -> Bug:
    """Store the merged report. A tenant-scoped editor sees only its own tenant among the
    affected ones, so the tenants it cannot see are kept whatever list it sends."""
    if_match.require(bug.version)
    if BugState(bug.status) == BugState.closed or bug.duplicate_of_id is not None:
        raise Conflict("a closed or merged bug cannot be edited", code="bug-closed")
    bug.title, bug.summary = merged.title, merged.summary
    bug.expected, bug.actual = merged.expected, merged.actual
    bug.steps = list(merged.steps)
    bug.steps_text = "\n".join(merged.steps)
    bug.severity = merged.severity.value
    bug.environment = merged.environment.model_dump()
    bug.attachments = [a.model_dump() for a in merged.attachments]
    kept = [t for t in bug.affected_tenants if tenant_scope not in (None, t)]
    bug.affected_tenants = sorted({*kept, *merged.affected_tenants})
    bug.error_fingerprints = error_fingerprints(
        bug.title, bug.summary, bug.steps_text, bug.actual, *_log_texts(bug.attachments)
    )
    bug.version += 1
    bug.updated_at = ctx.now
    await session.flush()
    await refresh_quality(session, bug)
    return bug


async def merge(session: AsyncSession, *, source: Bug, target: Bug, ctx: Context) -> Bug:
    """Fold ``source`` into ``target``: links, history and reproductions move; the source
    closes as a duplicate (``bug.closed``), each moved ticket is ``bug.linked`` to the target.

    A moved ticket that was linked after the target was fixed is a regression: the target
    reopens (``bug.reopened``). The caller holds both bugs' row locks."""
    if source.id == target.id:
        raise Conflict("a bug cannot be merged into itself", code="merge-into-self")
    for bug in (source, target):
        if BugState(bug.status) == BugState.closed or bug.duplicate_of_id is not None:
            raise Conflict(
                f"{bug.key} is closed or merged already", code="bug-closed", bug_id=str(bug.id)
            )
    moved = await repository.links_of(session, source.id)
    session.add(
        BugHistory(
            bug_id=source.id,
            from_status=source.status,
            to_status="closed",
            note=f"merged into {target.key}",
            actor_id=ctx.actor_id,
            at=ctx.now,
        )
    )
    await session.flush()
    await repository.move_links_and_history(
        session, source_id=source.id, target_id=target.id, origin_bug_key=source.key
    )
    target.affected_tenants = sorted({*target.affected_tenants, *source.affected_tenants})
    target.attachments = [*target.attachments, *source.attachments]
    target.version += 1
    target.updated_at = ctx.now
    source.status = BugState.closed.value
    source.resolution = BugResolution.duplicate.value
    source.duplicate_of_id = target.id
    source.version += 1
    source.updated_at = ctx.now
    await session.flush()
    await publish(
        session,
        BugClosed(
            **_state(source, [], ctx),
            resolution=BugResolution.duplicate,
            closed_at=ctx.now,
        ),
    )
    target_links = await repository.links_of(session, target.id)
    for link in moved:
        await publish(
            session,
            BugLinked(
                **_state(target, target_links, ctx),
                ticket_id=link.ticket_id,
                is_duplicate=True,
                linked_at=ctx.now,
            ),
        )
    fixed_at = target.resolved_at
    late = [link.ticket_id for link in moved if fixed_at is not None and link.linked_at > fixed_at]
    if late and is_after_fix(BugState(target.status), target.resolution):
        await transition(
            session,
            bug=target,
            change=TransitionIn(
                to=BugState.reopened,
                note=f"regression: ticket {late[0]} (merged from {source.key}) came after the fix",
            ),
            ctx=ctx,
        )
    await refresh_quality(session, target)
    return target


# --- views ----------------------------------------------------------------------------


async def refresh_quality(session: AsyncSession, bug: Bug) -> None:
    score, _ = completeness(await _facts(session, bug))
    bug.completeness_score = score
    await session.flush()


@dataclass(frozen=True)
class _Scoped:
    """What of a bug one caller may see: a tenant-scoped caller sees its own tickets and
    tenant only, never other tenants' ticket or tenant ids (nor the reporting tenant's
    attachments and configuration when the bug was reported from another tenant)."""

    links: list[BugLink]
    affected_tenants: list[str]
    own_report: bool
    hidden_ids: frozenset[str]


async def _scoped(session: AsyncSession, bug: Bug, tenant_scope: str | None) -> _Scoped:
    links = await repository.links_of(session, bug.id)
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


async def to_out(session: AsyncSession, bug: Bug, *, tenant_scope: str | None = None) -> BugOut:
    """The bug as ``tenant_scope`` may see it (None: everything)."""
    return await _out(session, bug, await _scoped(session, bug, tenant_scope))


async def _out(session: AsyncSession, bug: Bug, scoped: _Scoped) -> BugOut:
    links = scoped.links
    views = await ticket_views(session, [link.ticket_id for link in links])
    score, missing = completeness(await _facts(session, bug))
    impact = await impact_of(session, links=links, affected_tenants=scoped.affected_tenants)
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
    scoped = await _scoped(session, bug, tenant_scope)
    out = await _out(session, bug, scoped)
    history = await repository.history_of(session, bug.id)
    return BugDetail(
        **out.model_dump(),
        history=[
            HistoryEntry(
                from_status=h.from_status,
                to_status=h.to_status,
                note=redact(h.note, scoped.hidden_ids) if h.note else h.note,
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


# --- helpers --------------------------------------------------------------------------


async def _facts(session: AsyncSession, bug: Bug) -> ReportFacts:
    return ReportFacts(
        title=bug.title,
        summary=bug.summary,
        steps=bug.steps,
        expected=bug.expected,
        actual=bug.actual,
        environment=bug.environment,
        attachments=bug.attachments,
        has_successful_reproduction=await repository.has_successful_reproduction(session, bug.id),
    )


def _state(bug: Bug, links: list[BugLink], ctx: Context) -> dict[str, Any]:
    return {
        "tenant_id": bug.tenant_id,
        "bug_id": str(bug.id),
        "key": bug.key,
        "title": bug.title,
        "status": event_status(BugState(bug.status)),
        "severity": BugSeverity(bug.severity),
        "linked_ticket_ids": [link.ticket_id for link in links],
        "actor_id": ctx.actor_id,
    }


def _event_environment(env: dict[str, Any]) -> Environment:
    return Environment(
        app_version=env.get("app_version"),
        browser=env.get("browser"),
        os=env.get("os"),
        extra={str(k): str(v) for k, v in (env.get("tenant_configuration") or {}).items()},
    )


def _tracker_issue(bug: Bug, links: list[BugLink], *, public_base_url: str) -> TrackerIssue:
    return TrackerIssue(
        bug_id=str(bug.id),
        key=bug.key,
        title=bug.title,
        summary=bug.summary,
        steps=list(bug.steps),
        expected=bug.expected,
        actual=bug.actual,
        environment=dict(bug.environment),
        severity=bug.severity,
        link=f"{public_base_url.rstrip('/')}/v1/bugs/{bug.id}",
        linked_ticket_ids=[link.ticket_id for link in links],
    )


def successful(outcome: ReproductionOutcome) -> bool:
    return outcome == ReproductionOutcome.reproduced
