"""Filing bug reports, with duplicate detection: a report of an open bug links its
tickets there instead of filing a new one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.embedding import EMBEDDING_MODEL
from escalation_service.bugs.schemas import BugCreate, BugState, EnvironmentIn, TicketRef
from escalation_service.bugs.service.common import (
    Context,
    event_environment,
    event_state,
    refresh_quality,
)
from escalation_service.bugs.service.links import link_ticket, refuse_if_linked_elsewhere
from escalation_service.bugs.service.verdicts import model_in_use
from escalation_service.models import Bug, BugHistory
from servicekit.outbox import publish
from supportops_events.escalation import BugReported
from supportops_events.tickets import TicketEscalated


@dataclass(frozen=True)
class FilingResult:
    outcome: str
    bug: Bug
    candidates: list[repository.Candidate]
    model_version: str = "shipped"


async def file_report(
    session: AsyncSession,
    *,
    report: BugCreate,
    ctx: Context,
    duplicate_threshold: float,
) -> FilingResult:
    """File a new bug, or link its tickets to an open duplicate (``bug.linked``)."""
    # embedded before the lock: other filings need not wait for this report's encoder run
    probe = await repository.embedded(_probe_of(report))
    await repository.lock_filing(session)
    return await _file(
        session, report=report, probe=probe, ctx=ctx, duplicate_threshold=duplicate_threshold
    )


async def file_escalated_ticket(
    session: AsyncSession,
    *,
    report: BugCreate,
    ctx: Context,
    duplicate_threshold: float,
) -> FilingResult | None:
    """File (or link) the bug of an escalated ticket; None when the ticket is linked
    already (another event carrying the same escalation changes nothing)."""
    probe = await repository.embedded(_probe_of(report))
    await repository.lock_filing(session)
    for ref in report.linked_tickets:
        if await repository.link_of_ticket(session, ref.ticket_id) is not None:
            return None
    return await _file(
        session, report=report, probe=probe, ctx=ctx, duplicate_threshold=duplicate_threshold
    )


def _probe_of(report: BugCreate) -> repository.Probe:
    return repository.Probe(
        title=report.title,
        description=report.summary,
        steps=tuple(report.steps),
        actual=_with_logs(report),
    )


async def _file(
    session: AsyncSession,
    *,
    report: BugCreate,
    probe: repository.Probe,
    ctx: Context,
    duplicate_threshold: float,
) -> FilingResult:
    # The caller holds the filing lock: no other report is being filed right now.
    steps_text = "\n".join(report.steps)
    # The newest accepted refit of the duplicate weights, with its own threshold (else the
    # shipped weights and ``duplicate_threshold``): read under the lock, per filing.
    in_use = await model_in_use(session, default_threshold=duplicate_threshold)
    threshold, version = in_use.threshold, in_use.model.version
    # Candidates above the suggestion floor are listed for a human; only those above the
    # (high-confidence) duplicate threshold are linked automatically.
    candidates = await repository.duplicate_candidates(
        session, probe=probe, min_score=min(SUGGEST_FLOOR, threshold), model=in_use.model
    )
    if not report.force_new:
        for candidate in (c for c in candidates if c.score >= threshold):
            # Lock the bug and read it again: it may have been closed or merged meanwhile.
            target = await repository.get(session, candidate.bug.id, for_update=True)
            if target is None or not _takes_duplicates(target):
                continue
            await _link_duplicate(
                session, target=target, report=report, ctx=ctx, model_version=version
            )
            return FilingResult(
                outcome="linked_to_duplicate",
                bug=target,
                candidates=candidates,
                model_version=version,
            )

    for ref in report.linked_tickets:
        await refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=None)
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
        embedding=probe.embedding,
        embedding_model=EMBEDDING_MODEL,
        symptom_slots=probe.slots,
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
    repository.add(session, bug)
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
            await refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=bug.id)
    repository.add(
        session,
        BugHistory(
            bug_id=bug.id, from_status=None, to_status="reported", actor_id=ctx.actor_id, at=ctx.now
        ),
    )
    await refresh_quality(session, bug)
    links = await repository.links_of(session, bug.id)
    await publish(
        session,
        BugReported(
            **event_state(bug, links, ctx),
            ticket_id=report.linked_tickets[0].ticket_id if report.linked_tickets else "",
            steps=list(report.steps),
            expected=report.expected,
            actual=report.actual,
            environment=event_environment(bug.environment),
            reported_at=ctx.now,
        ),
    )
    return FilingResult(outcome="created", bug=bug, candidates=candidates, model_version=version)


SUGGEST_FLOOR = 0.2
"""Candidates scoring at least this are shown to the filer (never linked below the threshold)."""


async def similar(
    session: AsyncSession,
    *,
    title: str,
    description: str,
    steps: list[str],
    actual: str,
    limit: int,
    duplicate_threshold: float,
) -> tuple[list[repository.Candidate], float, str]:
    """Open bugs like the report, best first, for an agent deciding before filing; with
    the auto-link threshold and the version of the model that scored them."""
    probe = repository.Probe(
        title=title, description=description, steps=tuple(steps), actual=actual
    )
    in_use = await model_in_use(session, default_threshold=duplicate_threshold)
    found = await repository.duplicate_candidates(
        session, probe=probe, min_score=SUGGEST_FLOOR, limit=limit, model=in_use.model
    )
    return found, in_use.threshold, in_use.model.version


def report_from_ticket(data: TicketEscalated) -> BugCreate:
    """The report an escalated ticket files; a ``ValidationError`` when it cannot be one
    (e.g. a ticket or tenant id longer than 64 characters: ids are never shortened)."""
    env = data.environment
    return BugCreate(
        tenant_id=data.tenant_id,
        title=data.title[:200] or data.ticket_id,
        summary=(data.description or "")[:10_000],
        steps=[s[:2000] for s in data.steps if s.strip()][:50],
        expected=data.expected[:10_000],
        actual=data.actual[:10_000],
        environment=EnvironmentIn(
            app_version=(env.app_version or None) and env.app_version[:64],
            browser=(env.browser or None) and env.browser[:120],
            os=(env.os or None) and env.os[:120],
            tenant_configuration={k[:200]: v[:500] for k, v in list(env.extra.items())[:50] if k},
        ),
        severity=data.severity,
        # Ids are not cut to fit: a shortened id would name another ticket (or tenant).
        linked_tickets=[TicketRef(ticket_id=data.ticket_id, tenant_id=data.tenant_id)],
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
    session: AsyncSession, *, target: Bug, report: BugCreate, ctx: Context, model_version: str
) -> None:
    # Refuse before changing anything: one ticket cannot belong to two bugs.
    for ref in report.linked_tickets:
        await refuse_if_linked_elsewhere(session, ticket_id=ref.ticket_id, bug_id=target.id)
    for ref in report.linked_tickets:
        await link_ticket(
            session,
            bug=target,
            ref=ref,
            is_duplicate=True,
            ctx=ctx,
            linked_by_model=model_version,
        )
    new_tenants = {report.tenant_id, *report.affected_tenants} - set(target.affected_tenants)
    if new_tenants:
        target.affected_tenants = sorted({*target.affected_tenants, *new_tenants})
        target.version += 1
        target.updated_at = ctx.now
    await session.flush()
