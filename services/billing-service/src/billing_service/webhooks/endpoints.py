"""``POST /v1/stripe/webhooks``: verify, store by Stripe event id, answer fast."""

from __future__ import annotations

import json
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from billing_service.config import BillingSettings
from billing_service.deps import DatabaseDep
from billing_service.webhooks import repository
from billing_service.webhooks.metrics import (
    WEBHOOKS_RECEIVED,
    WEBHOOKS_REJECTED,
    WEBHOOKS_VERIFIED,
)
from servicekit.context import capture_context
from servicekit.errors import BadRequest

router = APIRouter(prefix="/v1/stripe", tags=["stripe"])

MAX_BODY = 1_000_000


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
    event_id: str


@router.post(
    "/webhooks",
    responses={400: {"description": "Bad or stale signature, or not a Stripe event"}},
)
async def receive_webhook(
    request: Request,
    db: DatabaseDep,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", max_length=4096)
    ] = None,
) -> WebhookAck:
    """Open endpoint: the Stripe signature over the raw body is the authentication."""
    settings: BillingSettings = request.app.state.settings
    WEBHOOKS_RECEIVED.inc()
    payload = await request.body()
    if len(payload) > MAX_BODY:
        WEBHOOKS_REJECTED.labels(reason="payload_too_large").inc()
        raise BadRequest("the payload is too large", code="payload-too-large")
    if not stripe_signature:
        WEBHOOKS_REJECTED.labels(reason="missing_signature").inc()
        raise BadRequest("the Stripe-Signature header is missing", code="invalid-signature")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            stripe_signature,
            settings.stripe_webhook_secret,
            tolerance=settings.stripe_webhook_tolerance_seconds,
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        WEBHOOKS_REJECTED.labels(reason="invalid_signature").inc()
        raise BadRequest(
            f"the Stripe signature is invalid or stale: {exc}", code="invalid-signature"
        ) from exc
    try:
        event: Any = json.loads(payload)
        event_id, event_type, created = str(event["id"]), str(event["type"]), int(event["created"])
        if not isinstance(event.get("data", {}).get("object"), dict):
            raise ValueError("no data.object")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        WEBHOOKS_REJECTED.labels(reason="invalid_event").inc()
        raise BadRequest("the payload is not a Stripe event", code="invalid-event") from exc
    if len(event_id) > 255 or len(event_type) > 100 or not 0 <= created < 2**53:
        WEBHOOKS_REJECTED.labels(reason="invalid_event").inc()
        raise BadRequest("the payload is not a Stripe event", code="invalid-event")
    WEBHOOKS_VERIFIED.inc()
    async with db.unit_of_work() as session:
        fresh = await repository.store(
            session, event=event, source="webhook", origin_context=capture_context()
        )
    if fresh:
        worker = getattr(request.app.state, "stripe_worker", None)
        if worker is not None:
            worker.nudge()
    return WebhookAck(received=True, duplicate=not fresh, event_id=event_id)
