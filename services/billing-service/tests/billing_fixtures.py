"""Test helpers of the billing-service: a movable clock, Stripe-shaped objects, and
webhook payloads signed exactly as Stripe signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from billing_service.config import DEV_STRIPE_WEBHOOK_SECRET, BillingSettings
from servicekit.db import Database
from servicekit.testing import auth
from supportops_events import Envelope


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def sign(payload: str, *, secret: str = DEV_STRIPE_WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def stripe_event(event_type: str, obj: dict[str, Any], *, created: int) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


async def deliver(
    client: httpx.AsyncClient, event: dict[str, Any], *, signature: str | None = None
) -> httpx.Response:
    payload = json.dumps(event)
    return await client.post(
        "/v1/stripe/webhooks",
        content=payload,
        headers={
            "Stripe-Signature": signature or sign(payload),
            "Content-Type": "application/json",
        },
    )


def subscription_object(
    sub: dict[str, Any],
    *,
    status: str,
    price_id: str,
    quantity: int,
    period_start: int,
    period_end: int,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    """A Stripe subscription as the 2026 API writes it (period on the item)."""
    return {
        "id": sub["stripe_subscription_id"],
        "object": "subscription",
        "customer": sub["stripe_customer_id"],
        "status": status,
        "collection_method": sub["collection_method"],
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "ended_at": None,
        "created": period_start,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{uuid.uuid4().hex[:14]}",
                    "object": "subscription_item",
                    "price": {"id": price_id, "object": "price"},
                    "quantity": quantity,
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                }
            ],
        },
        "metadata": {"subscription_id": sub["id"], "tenant_id": sub["tenant_id"]},
    }


def invoice_object(
    sub: dict[str, Any],
    *,
    stripe_invoice_id: str | None = None,
    status: str = "open",
    amount_due: int = 4500,
    amount_paid: int = 0,
    attempt_count: int = 0,
    period_start: int,
    period_end: int,
    billing_reason: str = "subscription_create",
    next_payment_attempt: int | None = None,
    due_date: int | None = None,
) -> dict[str, Any]:
    return {
        "id": stripe_invoice_id or f"in_{uuid.uuid4().hex[:14]}",
        "object": "invoice",
        "customer": sub["stripe_customer_id"],
        "customer_email": "billing@example.com",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub["stripe_subscription_id"]},
        },
        "status": status,
        "number": "ACME-0001",
        "collection_method": sub["collection_method"],
        "currency": "usd",
        "amount_due": amount_due,
        "amount_paid": amount_paid,
        "amount_remaining": amount_due - amount_paid,
        "attempt_count": attempt_count,
        "billing_reason": billing_reason,
        "period_start": period_start,
        "period_end": period_end,
        "due_date": due_date,
        "next_payment_attempt": next_payment_attempt,
        "hosted_invoice_url": "https://invoice.stripe.com/i/test",
        "status_transitions": {"finalized_at": period_start, "paid_at": None},
    }


def of_tenant(envelopes: list[Envelope], tenant_id: str, *types: str) -> list[Envelope]:
    return [e for e in envelopes if e.tenant_id == tenant_id and (not types or e.type in types)]


ADMIN = auth("admin")
BILLING = auth("billing")
AGENT = auth("agent")


def new_tenant() -> str:
    return f"ten_{uuid.uuid4().hex[:10]}"


@dataclass
class BillingApp:
    app: FastAPI
    client: httpx.AsyncClient
    clock: MovableClock
    settings: BillingSettings
    db: Database

    @property
    def events_topic(self) -> str:
        return self.settings.kafka_topic_prefix + "billing.events"
