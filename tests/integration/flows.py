"""Steps the journeys share, on top of flow 1's (new customer) helpers: an onboarded
customer, its users, the ticket service's account view, and CloudEvents checks."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events import Event
from journey import Journey
from test_journey_new_customer import (
    create_plan,
    create_tenant,
    finish_onboarding,
    pay_first_invoice,
    subscription_of,
)

from servicekit.mailpit import Mailpit
from servicekit.testing import stripe as stripe_objects

__all__ = [
    "DAY",
    "Customer",
    "account_until",
    "add_active_user",
    "assert_events",
    "at",
    "confirmation_code",
    "onboarded_customer",
    "position",
    "stripe_subscription",
    "users_by_email",
]

DAY = 86400


@dataclass(frozen=True)
class Customer:
    """A tenant through flow 1: subscribed, first invoice paid, onboarded, active."""

    tenant_id: str
    domain: str
    plan: dict[str, Any]
    created: dict[str, Any]
    subscription: dict[str, Any]


async def onboarded_customer(journey: Journey, *, tier: str = "business") -> Customer:
    plan = await create_plan(journey, tier)
    created = await create_tenant(journey, plan)
    tenant_id = created["tenant"]["id"]
    sub = await subscription_of(journey, tenant_id)
    await pay_first_invoice(journey, sub)
    customer = Customer(
        tenant_id=tenant_id,
        domain=created["tenant"]["domains"][0],
        plan=plan,
        created=created,
        subscription=sub,
    )
    # with the first invoice paid, Stripe reports the subscription active
    now = int(time.time())
    await stripe_subscription(journey, customer, start=now, end=now + 30 * DAY)
    await finish_onboarding(journey, created)
    await journey.events(tenant_id, "tenant.onboarded")
    return customer


async def stripe_subscription(
    journey: Journey, customer: Customer, *, start: int, end: int, status: str = "active"
) -> dict[str, Any]:
    """Stripe's signed ``customer.subscription.updated``: the subscription is ``status`` in
    the period ``start``..``end`` (on its item); returns billing's view once applied."""
    sub = customer.subscription
    plan = await journey.get("billing", f"/v1/plans/{customer.plan['id']}")
    await journey.stripe_webhook(
        "customer.subscription.updated",
        stripe_objects.subscription_object(
            sub,
            status=status,
            price_id=plan["stripe_price_id"],
            quantity=sub["seats"],
            period_start=start,
            period_end=end,
        ),
    )

    async def applied() -> dict[str, Any]:
        got: dict[str, Any] = await journey.get("billing", f"/v1/subscriptions/{sub['id']}")
        assert got["status"] == status, got
        assert got["current_period_end"] and int(at(got["current_period_end"]).timestamp()) == end
        return got

    return await journey.until(applied)


async def add_active_user(journey: Journey, customer: Customer, name: str) -> dict[str, Any]:
    """The tenant's admin invites ``name`` and the invitation is accepted: an active user."""
    email = f"{name.lower()}@{customer.domain}"
    invited = await journey.post(
        "onboarding",
        f"/v1/tenants/{customer.tenant_id}/users",
        {"email": email, "name": name},
        roles=("onboarding",),
        idempotency_key=f"invite-{uuid.uuid4().hex}",
        expect=201,
    )
    user: dict[str, Any] = await journey.post(
        "onboarding",
        "/v1/invitations/accept",
        {"token": invited["invitation_token"], "name": name},
        roles=("service",),
        expect=200,
    )
    assert (user["email"], user["status"]) == (email, "active"), user
    return user


async def account_until(
    journey: Journey, tenant_id: str, holds: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The ticket service's verified account view, once ``holds`` is true of it."""

    async def read() -> dict[str, Any]:
        account: dict[str, Any] = await journey.get(
            "ticket", f"/v1/accounts/{tenant_id}", roles=("agent",), expect=(200, 404)
        )
        assert "tenant_id" in account, account  # 404 until the first event arrived
        assert holds(account), account
        return account

    return await journey.until(read)


CODE_SUBJECT = "Your supportops confirmation code"
CODE_LINE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


async def confirmation_code(journey: Journey, address: str) -> str:
    """The one-time code of an MFA reset, read from the mail the user received at
    ``address`` (in Mailpit), as the user reads it back to the agent. Each journey's
    customer has a domain of its own, so the address is unique to the test."""

    async def read() -> str:
        mails = [m for m in await Mailpit().to(address) if m.subject == CODE_SUBJECT]
        assert len(mails) == 1, f"{len(mails)} code mails to {address} so far"
        (mail,) = mails
        assert address in (mail.header("To") or ""), mail.header("To")
        codes = CODE_LINE.findall(mail.text())
        assert len(codes) == 1, mail.text()
        code: str = codes[0]
        return code

    return await journey.until(read, timeout=60)


def users_by_email(account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in account["users"]}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def position(journey: Journey, event: Event) -> int:
    """Where ``event`` arrived among everything the tap read (causes arrive first)."""
    return next(i for i, e in enumerate(journey.tap.events) if e is event)


def assert_events(
    journey: Journey,
    tenant_id: str,
    expected: Iterable[tuple[str, str]],
    *,
    where: Callable[[Event], bool] | None = None,
) -> dict[str, list[Event]]:
    """Each ``(type, source)`` was seen for the tenant, and every such event is a proper
    CloudEvent of that source carrying the journey's correlation id."""
    found: dict[str, list[Event]] = {}
    for event_type, source in expected:
        events = journey.tap.select(tenant=tenant_id, types=(event_type,), where=where)
        assert events, f"no {event_type} for tenant {tenant_id}"
        for event in events:
            journey.assert_cloudevent(event, tenant=tenant_id, source=source)
            assert event.correlation == journey.correlation_id, (
                f"{event_type} lacks the journey's correlation id",
                event.attributes,
            )
        found[event_type] = events
    return found
