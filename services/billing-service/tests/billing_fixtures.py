"""Test helpers of the billing-service: a movable clock, Stripe-shaped objects, and
webhook payloads signed exactly as Stripe signs them."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from billing_service.config import (
    DEV_STRIPE_API_BASE,
    DEV_STRIPE_API_KEY,
    DEV_STRIPE_WEBHOOK_SECRET,
    BillingSettings,
)
from billing_service.stripe_gateway import StripeGateway
from servicekit.db import Database
from servicekit.testing import auth, known_tenant
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


@functools.cache
def _stripe_shape(path: str) -> dict[str, Any]:
    """One of stripe-mock's canned objects: a complete object as Stripe's API spec
    describes it (every field, nested objects included)."""
    response = httpx.get(
        f"{DEV_STRIPE_API_BASE}/v1/{path}", auth=(DEV_STRIPE_API_KEY, ""), timeout=10
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def stripe_shape(kind: str) -> dict[str, Any]:
    """A fresh copy of a real Stripe object shape (``subscription``, ``invoice``,
    ``charge``, ``dispute``), to overlay with a test's own values."""
    paths = {
        "subscription": "subscriptions/sub_shape",
        "invoice": "invoices/in_shape",
        "charge": "charges/ch_shape",
        "dispute": "disputes/dp_shape",
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
) -> dict[str, Any]:
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
                "paid_at": None,
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


def if_match(etag: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or BILLING), "If-Match": etag}


def of_tenant(envelopes: list[Envelope], tenant_id: str, *types: str) -> list[Envelope]:
    return [e for e in envelopes if e.tenant_id == tenant_id and (not types or e.type in types)]


ADMIN = auth("admin")
BILLING = auth("billing")
AGENT = auth("agent")


def new_tenant() -> str:
    """A tenant id nobody announced (for a token confined to a stranger); use
    ``await billing.tenant()`` for a tenant billing knows."""
    return str(uuid.uuid4())


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

    async def tenant(self) -> str:
        """A new tenant billing knows (as if onboarding announced it)."""
        return await known_tenant(self.app)


PaymentMethods = Callable[[dict[str, Any]], None]


def no_payment_method(remote: dict[str, Any]) -> None:
    """A subscription and customer with nothing Stripe could charge."""
    remote["default_payment_method"] = remote["default_source"] = None
    customer = remote["customer"]
    customer["invoice_settings"]["default_payment_method"] = None
    customer["default_source"] = None


def card_expiring(month: int, year: int) -> PaymentMethods:
    def alter(remote: dict[str, Any]) -> None:
        no_payment_method(remote)
        method = copy.deepcopy(_stripe_shape("payment_methods/pm_shape"))
        method["card"].update({"exp_month": month, "exp_year": year, "last4": "4242"})
        remote["customer"]["invoice_settings"]["default_payment_method"] = method

    return alter


class AlteredStripe(StripeGateway):
    """The real gateway — every call still goes to stripe-mock and passes its validation —
    with answers stripe-mock cannot be made to give: a customer without a usable card, or
    Stripe refusing a subscription (sent with a value Stripe's spec rejects)."""

    def __init__(
        self,
        real: StripeGateway,
        *,
        payment_methods: PaymentMethods | None = None,
        refuse_subscriptions: bool = False,
    ) -> None:
        super().__init__(real.client)
        self.payment_methods = payment_methods
        self.refuse_subscriptions = refuse_subscriptions
        self.payment_method_reads = 0

    async def retrieve_subscription_with_payment_methods(
        self, subscription_id: str
    ) -> dict[str, Any]:
        remote = await super().retrieve_subscription_with_payment_methods(subscription_id)
        self.payment_method_reads += 1
        if self.payment_methods is not None:
            self.payment_methods(remote)
        return remote

    async def create_subscription(self, **kwargs: Any) -> dict[str, Any]:
        if self.refuse_subscriptions:
            kwargs["collection_method"] = "not_a_collection_method"
        return await super().create_subscription(**kwargs)


class StripeNow(StripeGateway):
    """The real gateway — reads still go to stripe-mock and pass its validation — whose
    ``retrieve`` answers carry Stripe's current state as a test decides it (stripe-mock
    answers every read with one canned object)."""

    def __init__(self, real: StripeGateway) -> None:
        super().__init__(real.client)
        self.current: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        await super().retrieve_subscription(subscription_id)
        self.reads.append(subscription_id)
        return copy.deepcopy(self.current[subscription_id])

    async def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        await super().retrieve_invoice(invoice_id)
        self.reads.append(invoice_id)
        return copy.deepcopy(self.current[invoice_id])


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
