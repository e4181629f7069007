"""Changing a filed bug: reproduction attempts, report edits (merge patch) and merging
one bug into another."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.embedding import EMBEDDING_MODEL, embed_async
from escalation_service.bugs.schemas import (
    BugSettable,
    BugState,
    ReproductionIn,
    TransitionIn,
    Verdict,
)
from escalation_service.bugs.service.common import Context, event_state, refresh_quality
from escalation_service.bugs.service.transitions import transition
from escalation_service.bugs.service.verdicts import record_verdict
from escalation_service.bugs.similarity import document, error_fingerprints, report_slots
from escalation_service.bugs.workflow import is_after_fix
from escalation_service.models import Bug, BugHistory, Reproduction
from servicekit.errors import Conflict
from servicekit.etag import IfMatch
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish
from supportops_events.escalation import BugClosed, BugLinked, BugResolution


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
    repository.add(session, reproduction)
    bug.version += 1
    bug.updated_at = ctx.now
    await session.flush()
    await refresh_quality(session, bug)
    return reproduction


async def reproductions_of(session: AsyncSession, bug: Bug) -> list[Reproduction]:
    """The bug's reproduction attempts, oldest first."""
    return await repository.reproductions_of(session, bug.id)


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
    # as at filing: pasted log excerpts are part of the actual result
    actual_with_logs = "\n".join([bug.actual, *_log_texts(bug.attachments)])
    bug.embedding = await embed_async(
        document(title=bug.title, description=bug.summary, steps=bug.steps, actual=actual_with_logs)
    )
    bug.embedding_model = EMBEDDING_MODEL
    bug.symptom_slots = report_slots(
        title=bug.title, description=bug.summary, steps=bug.steps, actual=actual_with_logs
    )
    bug.version += 1
    bug.updated_at = ctx.now
    await session.flush()
    await refresh_quality(session, bug)
    return bug


async def merge(
    session: AsyncSession,
    *,
    source: Bug,
    target: Bug,
    ctx: Context,
    duplicate_threshold: float,
    learn: bool = True,
) -> Bug:
    """Fold ``source`` into ``target``: links, history and reproductions move; the source
    closes as a duplicate (``bug.closed``), each moved ticket is ``bug.linked`` to the target.
    With ``learn`` (a staff merge), the pair is stored as an agent's ``duplicate`` verdict,
    with its signals taken before anything moves (decision 0053).

    A moved ticket that was linked after the target was fixed is a regression: the target
    reopens (``bug.reopened``). The caller holds both bugs' row locks."""
    if source.id == target.id:
        raise Conflict("a bug cannot be merged into itself", code="merge-into-self")
    for bug in (source, target):
        if BugState(bug.status) == BugState.closed or bug.duplicate_of_id is not None:
            raise Conflict(
                f"{bug.key} is closed or merged already", code="bug-closed", bug_id=str(bug.id)
            )
    if learn:
        await record_verdict(
            session,
            bugs=(source, target),
            verdict=Verdict.duplicate,
            source="merge",
            ctx=ctx,
            default_threshold=duplicate_threshold,
        )
    moved = await repository.links_of(session, source.id)
    repository.add(
        session,
        BugHistory(
            bug_id=source.id,
            from_status=source.status,
            to_status="closed",
            note=f"merged into {target.key}",
            actor_id=ctx.actor_id,
            at=ctx.now,
        ),
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
            **event_state(source, [], ctx),
            resolution=BugResolution.duplicate,
            closed_at=ctx.now,
        ),
    )
    target_links = await repository.links_of(session, target.id)
    for link in moved:
        await publish(
            session,
            BugLinked(
                **event_state(target, target_links, ctx),
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


def _log_texts(attachments: list[dict[str, Any]]) -> list[str]:
    return [str(a.get("content")) for a in attachments if a.get("kind") == "log_excerpt"]
