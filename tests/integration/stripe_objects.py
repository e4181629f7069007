"""Stripe objects as Stripe's webhooks carry them (API 2026), built from what billing
reports through its REST API about a subscription: what a real Stripe account would
send after billing created the customer and subscription."""

from __future__ import annotations

import uuid
from typing import Any


def subscription(
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
) -> dict[str, Any]:
    return {
        "id": sub["stripe_subscription_id"],
        "object": "subscription",
        "customer": sub["stripe_customer_id"],
        "status": status,
        "collection_method": sub["collection_method"],
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "ended_at": ended_at,
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


def invoice(
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
        "number": f"INV-{uuid.uuid4().hex[:6].upper()}",
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
        "status_transitions": {"finalized_at": period_start, "paid_at": paid_at},
    }
