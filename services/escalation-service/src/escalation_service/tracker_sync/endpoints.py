"""POST /v1/jira/webhooks: Jira status changes, HMAC-verified, mapped to our transitions."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated

from fastapi import APIRouter, Header, Request

from escalation_service.bugs.service.common import Context
from escalation_service.deps import SettingsDep
from escalation_service.tracker_sync.service import JIRA_ACTOR, WebhookResult, apply_status_change
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import BadRequest, Unauthorized

router = APIRouter(prefix="/v1", tags=["jira"])

MAX_BODY = 1_000_000


def verify_signature(*, secret: str, body: bytes, header: str | None) -> None:
    """Jira signs admin webhooks: ``X-Hub-Signature: sha256=<hex HMAC of the raw body>``."""
    if not header or not header.startswith("sha256="):
        raise Unauthorized("missing Jira webhook signature")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, header.removeprefix("sha256=").strip()):
        raise Unauthorized("invalid Jira webhook signature")


@router.post("/jira/webhooks")
async def jira_webhook(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    x_hub_signature: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookResult:
    """Jira issue updates (not JWT-authenticated: the shared-secret signature is checked)."""
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
    return await apply_status_change(session, payload=payload, ctx=Context(JIRA_ACTOR, clock.now()))
