"""POST /v1/jira/webhooks: Jira status changes, HMAC-verified, mapped to our transitions."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import service
from escalation_service.bugs.schemas import BugState, TransitionIn
from escalation_service.bugs.workflow import allowed_targets
from escalation_service.clock import ClockDep
from escalation_service.config import EscalationSettings
from escalation_service.models import Bug
from servicekit.deps import SessionDep
from servicekit.errors import BadRequest, ProblemError, Unauthorized

router = APIRouter(prefix="/v1", tags=["jira"])

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
MAX_BODY = 1_000_000


class WebhookResult(BaseModel):
    outcome: Literal["applied", "ignored"]
    reason: str | None = None
    bug_id: str | None = None
    status: BugState | None = None


def verify_signature(*, secret: str, body: bytes, header: str | None) -> None:
    """Jira signs admin webhooks: ``X-Hub-Signature: sha256=<hex HMAC of the raw body>``."""
    if not header or not header.startswith("sha256="):
        raise Unauthorized("missing Jira webhook signature")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, header.removeprefix("sha256=").strip()):
        raise Unauthorized("invalid Jira webhook signature")


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


@router.post("/jira/webhooks")
async def jira_webhook(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    x_hub_signature: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookResult:
    """Jira issue updates (not JWT-authenticated: the shared-secret signature is checked)."""
    settings: EscalationSettings = request.app.state.settings
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest("webhook body too large")
    verify_signature(secret=settings.jira_webhook_secret, body=body, header=x_hub_signature)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest("webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("webhook body is not a JSON object")
    return await apply_status_change(
        session, payload=payload, ctx=service.Context(JIRA_ACTOR, clock.now())
    )


async def apply_status_change(
    session: AsyncSession, *, payload: dict[str, Any], ctx: service.Context
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
    bug = (
        await session.scalars(
            select(Bug).where(Bug.external_issue_key == issue_key[:64]).with_for_update()
        )
    ).one_or_none()
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
        await service.transition(
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
