"""Moving a bug along its workflow: preconditions, the state change, the QA tracker
issue on escalation, and the one catalog event of the transition."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.quality import gate_failures
from escalation_service.bugs.schemas import BugState, TransitionIn
from escalation_service.bugs.service.common import (
    Context,
    event_environment,
    event_state,
    refresh_quality,
    report_facts,
)
from escalation_service.bugs.workflow import TransitionEvent, event_status, transition_event
from escalation_service.models import Bug, BugHistory, BugLink
from escalation_service.tracker.base import QaTracker, TrackerIssue
from servicekit.errors import Conflict, InvalidTransition, Unprocessable
from servicekit.outbox import publish
from supportops_events.escalation import (
    BugCannotReproduce,
    BugClosed,
    BugEscalated,
    BugInProgress,
    BugNeedsInfo,
    BugReopened,
    BugReproduced,
    BugReproducing,
    BugResolution,
    BugResolved,
    BugVerified,
)


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
        # the one transition body (nothing is allowed), under its own code: the client
        # learns where the bug went
        raise InvalidTransition(
            "bug",
            current=bug.status,
            requested=change.to.value,
            allowed=[],
            code="bug-merged",
            detail=f"{bug.key} was merged into another bug; move that one instead",
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
    repository.add(
        session,
        BugHistory(
            bug_id=bug.id,
            from_status=previous.value,
            to_status=current.value,
            note=change.note or change.question,
            actor_id=ctx.actor_id,
            at=ctx.now,
        ),
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
            failures = gate_failures(await report_facts(session, bug))
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
    state = event_state(bug, links, ctx)
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
                    environment=event_environment(last_success.environment),
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
