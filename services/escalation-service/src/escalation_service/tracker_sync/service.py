"""Jira status changes applied to our bugs: which Jira status means which of our states,
and the transition it makes (never an error Jira would retry forever)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.schemas import BugState, TransitionIn
from escalation_service.bugs.service.common import Context
from escalation_service.bugs.service.transitions import transition
from escalation_service.bugs.workflow import allowed_targets
from servicekit.errors import ProblemError

# Jira status names (lower case) and what they mean for our workflow.
STATUS_MAP: dict[str, BugState] = {
    "in progress": BugState.in_progress,
    "in development": BugState.in_progress,
    "done": BugState.fixed,
    "fixed": BugState.fixed,
    "resolved": BugState.fixed,
    "verified": BugState.verified,
    "closed": BugState.closed,
    "won't fix": BugState.wont_fix,
    "won't do": BugState.wont_fix,
    "reopened": BugState.reopened,
}
JIRA_ACTOR = "jira"


class WebhookResult(BaseModel):
    outcome: Literal["applied", "ignored"]
    reason: str | None = None
    bug_id: str | None = None
    status: BugState | None = None


def status_change(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(issue key, new Jira status name) of a status change, or None."""
    issue = payload.get("issue")
    if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
        return None
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("field") == "status":
            to = item.get("toString")
            if isinstance(to, str):
                return issue["key"], to
    return None


async def apply_status_change(
    session: AsyncSession, *, payload: dict[str, Any], ctx: Context
) -> WebhookResult:
    change = status_change(payload)
    if change is None:
        return WebhookResult(outcome="ignored", reason="not a status change")
    issue_key, jira_status = change
    if "\x00" in issue_key or len(issue_key) > 64:
        return WebhookResult(outcome="ignored", reason="not one of our issue keys")
    target = STATUS_MAP.get(jira_status.strip().lower())
    if target is None:
        return WebhookResult(outcome="ignored", reason=f"Jira status {jira_status!r} is not mapped")
    bug = await repository.lock_by_external_key(session, issue_key[:64])
    if bug is None:
        return WebhookResult(outcome="ignored", reason=f"no bug for {issue_key}")
    current = BugState(bug.status)
    if bug.duplicate_of_id is not None:
        return WebhookResult(
            outcome="ignored", reason="the bug was merged", bug_id=str(bug.id), status=current
        )
    if current == target:
        return WebhookResult(
            outcome="ignored", reason="already there", bug_id=str(bug.id), status=current
        )
    if target not in allowed_targets(current):
        # Answer 2xx anyway: Jira would retry an error forever.
        return WebhookResult(
            outcome="ignored",
            reason=f"{current.value} -> {target.value} is not a transition",
            bug_id=str(bug.id),
            status=current,
        )
    try:
        await transition(
            session,
            bug=bug,
            change=TransitionIn(to=target, note=f"Jira {issue_key}: {jira_status[:200]}"),
            ctx=ctx,
        )
    except ProblemError as exc:
        # A precondition of ours failed before anything changed; Jira cannot fix it.
        return WebhookResult(
            outcome="ignored", reason=exc.detail or exc.code, bug_id=str(bug.id), status=current
        )
    return WebhookResult(outcome="applied", bug_id=str(bug.id), status=BugState(bug.status))
