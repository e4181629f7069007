"""Test helpers of the billing-service: the app (its clock the kit's ``TestClock``) and
webhook delivery. The Stripe objects, events and signatures are the kit's
(``servicekit.testing.stripe``), re-exported here for the tests that import them."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from billing_service.config import (
    BillingSettings,
)
from billing_service.stripe_gateway import StripeGateway
from servicekit.db import Database
from servicekit.testing import TestClock, auth, eventually, known_tenant
from servicekit.testing.stripe import (
    charge_object,
    dispute_object,
    invoice_object,
    sign,
    stripe_event,
    stripe_shape,
    subscription_object,
    upcoming_invoice_object,
)
from supportops_events import Envelope

__all__ = [
    "charge_object",
    "dispute_object",
    "invoice_object",
    "sign",
    "stripe_event",
    "stripe_shape",
    "subscription_object",
    "upcoming_invoice_object",
]


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
    clock: TestClock
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
        method = stripe_shape("payment_method")
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


async def subscribed(
    billing: BillingApp,
    plan: dict[str, Any],
    tenant: str | None = None,
    *,
    idempotency_key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A new 3-seat subscription to ``plan`` (of a new tenant unless ``tenant``)."""
    tenant = tenant or await billing.tenant()
    key = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 3, **extra},
        headers={**BILLING, **key},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def active_subscription(
    billing: BillingApp, plan: dict[str, Any], *, period_days: int, **extra: Any
) -> tuple[dict[str, Any], int, int]:
    """A subscription whose Stripe period (set by a signed webhook) ends in ``period_days``."""
    sub = await subscribed(billing, plan, **extra)
    now = int(billing.clock.now().timestamp())
    start, end = now - (30 - period_days) * 86400, now + period_days * 86400
    event = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=start,
            period_end=end,
        ),
        created=now,
    )
    await deliver(billing.client, event)

    async def applied() -> None:
        got = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
        assert got.json()["status"] == "active"

    await eventually(applied)
    return sub, start, end
