"""Stripe test helpers, once (billing's tests, the integration journeys, scripts/devclient):
webhook signatures as Stripe computes them, events as Stripe sends them, and objects
built on stripe-mock's complete canned shapes (``stripe_shape``) overlaid with a test's
own values, so a fixture carries every field the real API does.

It needs no ``stripe`` package (plain dicts, ``hmac`` and ``httpx``), so it lives in the
kit's test helpers rather than a separate test-support package. Objects other than
``stripe_event``/``sign`` read stripe-mock (``STRIPE_API_BASE``, else the local stack's).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import os
import time
import uuid
from typing import Any

import httpx

from servicekit.localstack import default_stripe_api_base

DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev-only-change-me"
"""billing's development webhook secret (``billing_service.config``); a test passes
``secret=`` when it configures another."""
STRIPE_MOCK_API_KEY = "sk_test_123"
STRIPE_API_VERSION = "2026-10-28.endive"


def sign(payload: str, *, secret: str = DEV_STRIPE_WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def stripe_event(event_type: str, obj: dict[str, Any], *, created: int) -> dict[str, Any]:
    """An event as Stripe sends it to a webhook endpoint."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


@functools.cache
def _stripe_shape(path: str) -> dict[str, Any]:
    """One of stripe-mock's canned objects: a complete object as Stripe's API spec
    describes it (every field, nested objects included)."""
    base = os.environ.get("STRIPE_API_BASE") or default_stripe_api_base()
    response = httpx.get(f"{base}/v1/{path}", auth=(STRIPE_MOCK_API_KEY, ""), timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def stripe_shape(kind: str) -> dict[str, Any]:
    """A fresh copy of a real Stripe object shape (``subscription``, ``invoice``,
    ``charge``, ``dispute``, ``payment_method``), to overlay with a test's own values."""
    paths = {
        "subscription": "subscriptions/sub_shape",
        "invoice": "invoices/in_shape",
        "charge": "charges/ch_shape",
        "dispute": "disputes/dp_shape",
        "payment_method": "payment_methods/pm_shape",
    }
    return copy.deepcopy(_stripe_shape(paths[kind]))


def subscription_object(
    sub: dict[str, Any],
    *,
    status: str,
    price_id: str,
    quantity: int,
    period_start: int,
    period_end: int,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    ended_at: int | None = None,
    schedule: str | None = None,
) -> dict[str, Any]:
    """A Stripe subscription as the 2026 API writes it (period on the item)."""
    obj = stripe_shape("subscription")
    item = copy.deepcopy(obj["items"]["data"][0])
    item.update(
        {
            "id": f"si_{uuid.uuid4().hex[:14]}",
            "price": {**item["price"], "id": price_id},
            "quantity": quantity,
            "current_period_start": period_start,
            "current_period_end": period_end,
            "subscription": sub["stripe_subscription_id"],
        }
    )
    obj.update(
        {
            "id": sub["stripe_subscription_id"],
            "customer": sub["stripe_customer_id"],
            "status": status,
            "collection_method": sub["collection_method"],
            "days_until_due": sub.get("days_until_due"),
            "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": period_end if cancel_at_period_end else None,
            "canceled_at": canceled_at,
            "ended_at": ended_at,
            "created": period_start,
            "start_date": period_start,
            "billing_cycle_anchor": period_start,
            "trial_start": None,
            "trial_end": None,
            "pending_update": None,
            "pause_collection": None,
            "schedule": schedule,
            "items": {**obj["items"], "data": [item]},
            "metadata": {"subscription_id": sub["id"], "tenant_id": sub["tenant_id"]},
        }
    )
    return obj


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
    paid_at: int | None = None,
) -> dict[str, Any]:
    """A Stripe invoice of ``sub`` (billing's REST view of a subscription)."""
    obj = stripe_shape("invoice")
    obj.update(
        {
            "id": stripe_invoice_id or f"in_{uuid.uuid4().hex[:14]}",
            "customer": sub["stripe_customer_id"],
            "customer_email": "billing@example.com",
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "metadata": None,
                    "subscription": sub["stripe_subscription_id"],
                },
            },
            "status": status,
            "number": "ACME-0001",
            "collection_method": sub["collection_method"],
            "currency": "usd",
            "amount_due": amount_due,
            "amount_paid": amount_paid,
            "amount_remaining": amount_due - amount_paid,
            "attempt_count": attempt_count,
            "attempted": attempt_count > 0,
            "billing_reason": billing_reason,
            "period_start": period_start,
            "period_end": period_end,
            "due_date": due_date,
            "next_payment_attempt": next_payment_attempt,
            "hosted_invoice_url": "https://invoice.stripe.com/i/test",
            # The charge that paid it: what a refund names (and is resolved through).
            "charge": f"ch_{uuid.uuid4().hex[:14]}" if amount_paid else None,
            "last_finalization_error": None,
            "status_transitions": {
                "finalized_at": period_start,
                "marked_uncollectible_at": None,
                "paid_at": paid_at,
                "voided_at": None,
            },
        }
    )
    return obj


def upcoming_invoice_object(sub: dict[str, Any], *, period_end: int) -> dict[str, Any]:
    """``invoice.upcoming`` carries an invoice that does not exist yet (no id)."""
    obj = invoice_object(
        sub, period_start=period_end - 30 * 86400, period_end=period_end, status="draft"
    )
    obj.pop("id")
    obj.update({"billing_reason": "upcoming", "number": None, "next_payment_attempt": period_end})
    return obj


def charge_object(sub: dict[str, Any], *, charge_id: str, amount: int) -> dict[str, Any]:
    """A Stripe charge of ``sub``'s customer."""
    obj = stripe_shape("charge")
    obj.update(
        {
            "id": charge_id,
            "customer": sub["stripe_customer_id"],
            "currency": "usd",
            "amount": amount,
            "amount_captured": amount,
            "invoice": None,
        }
    )
    return obj


def dispute_object(*, dispute_id: str, charge_id: str, amount: int, status: str) -> dict[str, Any]:
    """A Stripe dispute of a charge."""
    obj = stripe_shape("dispute")
    obj.update(
        {
            "id": dispute_id,
            "charge": charge_id,
            "amount": amount,
            "currency": "usd",
            "reason": "fraudulent",
            "status": status,
        }
    )
    return obj
