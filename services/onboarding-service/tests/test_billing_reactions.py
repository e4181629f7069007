"""Reactions to every billing event the issue names: subscriptions (seats, cancellation
and its revocation, renewal), payment problems beyond policy (restriction), payments
(reactivation, payment confirmed), net terms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from onboarding_fixtures import OPERATOR
from sqlalchemy import select

from onboarding_service.config import OnboardingSettings
from onboarding_service.scans.service import apply_scheduled_suspensions
from servicekit.db import Database
from servicekit.tables import inbox
from servicekit.testing import eventually, payload, send_events
from supportops_events import Envelope
from supportops_events import onboarding as ev
from supportops_events.samples import sample


def subscription(event_type: str, tenant_id: str, **overrides: Any) -> Any:
    values = {"tenant_id": tenant_id, "subscription_id": f"sub-{tenant_id}", **overrides}
    return sample(event_type, **values)


async def active_tenant(client: httpx.AsyncClient, new_tenant: Any, **overrides: Any) -> str:
    tenant_id: str = (await new_tenant(**overrides))["tenant"]["id"]
    response = await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    assert response.status_code == 200
    return tenant_id


async def tenant(client: httpx.AsyncClient, tenant_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    return body


async def seat_limit_becomes(client: httpx.AsyncClient, tenant_id: str, seats: int) -> None:
    """Events of a tenant are handled in order: a seat change sent last proves the ones
    before it were handled."""

    async def check() -> None:
        assert (await tenant(client, tenant_id))["seat_limit"] == seats

    await eventually(check)


async def test_payment_problems_within_policy_change_nothing(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    onboarding = (await new_tenant())["tenant"]["id"]
    late = onboarding_settings.suspend_after_days_overdue
    attempts = onboarding_settings.suspend_after_failed_attempts
    await send_events(
        [
            sample("invoice.overdue", tenant_id=tenant_id, days_overdue=late - 1),
            sample("invoice.payment_failed", tenant_id=tenant_id, attempt_count=attempts - 1),
            sample("billing.followup_required", tenant_id=tenant_id, cause="renewal_at_risk"),
            sample(
                "billing.followup_required",
                tenant_id=tenant_id,
                cause="dispute_opened",
                days_overdue=late + 10,
                attempt_count=attempts + 1,
            ),
            subscription("subscription.updated", tenant_id, seats=11),
            # beyond policy, but not live yet: an onboarding tenant cannot be suspended
            sample("invoice.overdue", tenant_id=onboarding, days_overdue=late + 5),
            subscription("subscription.updated", onboarding, seats=12),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    await seat_limit_becomes(client, tenant_id, 11)
    await seat_limit_becomes(client, onboarding, 12)
    assert (await tenant(client, tenant_id))["status"] == "active"
    assert (await tenant(client, tenant_id))["restricted"] is False
    assert (await tenant(client, onboarding))["status"] == "onboarding"


async def test_invoice_overdue_beyond_policy_restricts(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    days = onboarding_settings.suspend_after_days_overdue
    await send_events(
        [sample("invoice.overdue", tenant_id=tenant_id, days_overdue=days, invoice_id="inv-od")],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def restricted() -> None:
        body = await tenant(client, tenant_id)
        assert body["status"] == "suspended"
        assert body["restricted"] is True
        assert body["suspension_reason"] == "payment_overdue"

    await eventually(restricted)
    events = await published(tenant_id, "tenant.suspended")
    suspended = payload(next(e for e in events if e.type == "tenant.suspended"), ev.TenantSuspended)
    assert suspended.reason == "payment_overdue"
    assert suspended.invoice_id == "inv-od"


async def test_failed_payment_attempts_beyond_policy_restrict_once(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    attempts = onboarding_settings.suspend_after_failed_attempts
    await send_events(
        [
            # billing sends both for one failed attempt; the tenant is suspended once
            sample("invoice.payment_failed", tenant_id=tenant_id, attempt_count=attempts),
            sample(
                "billing.followup_required",
                tenant_id=tenant_id,
                cause="payment_failed",
                attempt_count=attempts,
            ),
            sample("invoice.paid", tenant_id=tenant_id),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    events = await published(tenant_id, "tenant.reactivated")
    types = [e.type for e in events if e.type.startswith("tenant.")]
    assert types == ["tenant.created", "tenant.activated", "tenant.suspended", "tenant.reactivated"]
    reactivated = payload(
        next(e for e in events if e.type == "tenant.reactivated"), ev.TenantReactivated
    )
    assert reactivated.reason == "payment_received"
    body = await tenant(client, tenant_id)
    assert body["status"] == "active"
    assert body["restricted"] is False


async def test_payment_reactivates_only_a_tenant_suspended_for_non_payment(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "suspended"}, headers=OPERATOR
    )
    await send_events(
        [
            sample("invoice.paid", tenant_id=tenant_id),
            subscription("subscription.updated", tenant_id, seats=9),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    await seat_limit_becomes(client, tenant_id, 9)
    body = await tenant(client, tenant_id)
    assert body["status"] == "suspended"
    assert body["suspension_reason"] == "manual"


async def test_a_revoked_cancellation_drops_the_scheduled_suspension(
    client: httpx.AsyncClient,
    new_tenant: Any,
    db: Database,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    ends_at = clock.now() + timedelta(days=12)
    canceled = Envelope.new(
        subscription(
            "subscription.canceled",
            tenant_id,
            status="active",
            cancel_at_period_end=True,
            ends_at=ends_at,
            seats=5,
        ),
        source="billing-service",
    )
    await send_events([canceled], prefix=onboarding_settings.kafka_topic_prefix)

    async def scheduled() -> None:
        assert (await tenant(client, tenant_id))["scheduled_suspension_at"] is not None

    await eventually(scheduled)
    resumed = Envelope.new(
        subscription("subscription.updated", tenant_id, cancel_at_period_end=False, seats=6),
        source="billing-service",
    )
    # the cancellation again, delivered late (older than the resumption): ignored
    late = Envelope.new(
        subscription("subscription.canceled", tenant_id, ends_at=ends_at, seats=5),
        source="billing-service",
    )
    late.time = resumed.time - timedelta(seconds=1)
    await send_events([resumed, late], prefix=onboarding_settings.kafka_topic_prefix)

    await seat_limit_becomes(client, tenant_id, 6)
    assert (await tenant(client, tenant_id))["scheduled_suspension_at"] is None
    await apply_scheduled_suspensions(
        db, now=ends_at + timedelta(days=1), churn_after=timedelta(days=30)
    )
    assert (await tenant(client, tenant_id))["status"] == "active"


async def test_an_onboarding_whose_subscription_is_canceled_churns(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await send_events(
        [
            subscription("subscription.created", tenant_id),
            subscription("subscription.canceled", tenant_id, ends_at=clock.now()),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    events = await published(tenant_id, "tenant.churned")
    churned = payload(next(e for e in events if e.type == "tenant.churned"), ev.TenantChurned)
    assert churned.reason == "subscription_canceled"
    assert "tenant.suspended" not in [e.type for e in events]
    assert (await tenant(client, tenant_id))["status"] == "churned"


async def test_a_renewed_subscription_reactivates_a_tenant_whose_subscription_ended(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    prefix = onboarding_settings.kafka_topic_prefix
    await send_events(
        [subscription("subscription.canceled", tenant_id, ends_at=clock.now())], prefix=prefix
    )

    async def suspended() -> None:
        body = await tenant(client, tenant_id)
        assert body["status"] == "suspended"
        assert body["scheduled_churn_at"] is not None

    await eventually(suspended)
    # a payment does not bring back a tenant whose subscription is over...
    await send_events(
        [
            sample("invoice.paid", tenant_id=tenant_id),
            subscription("subscription.created", tenant_id, subscription_id="sub-new", seats=3),
        ],
        prefix=prefix,
    )
    await seat_limit_becomes(client, tenant_id, 3)
    assert (await tenant(client, tenant_id))["status"] == "suspended"
    # ...a subscription in good standing does
    await send_events(
        [subscription("subscription.activated", tenant_id, subscription_id="sub-new", seats=4)],
        prefix=prefix,
    )

    events = await published(tenant_id, "tenant.reactivated")
    reactivated = payload(
        next(e for e in events if e.type == "tenant.reactivated"), ev.TenantReactivated
    )
    assert reactivated.reason == "subscription_renewed"
    body = await tenant(client, tenant_id)
    assert body["status"] == "active"
    assert body["scheduled_churn_at"] is None
    assert body["subscription_id"] == "sub-new"


async def test_a_subscription_ending_while_suspended_for_non_payment_keeps_it_suspended(
    client: httpx.AsyncClient,
    new_tenant: Any,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = await active_tenant(client, new_tenant)
    prefix = onboarding_settings.kafka_topic_prefix
    await send_events(
        [
            sample(
                "invoice.overdue",
                tenant_id=tenant_id,
                days_overdue=onboarding_settings.suspend_after_days_overdue + 1,
            ),
            subscription("subscription.canceled", tenant_id, ends_at=clock.now(), seats=7),
            sample("invoice.paid", tenant_id=tenant_id),
            subscription("subscription.updated", tenant_id, status="canceled", seats=8),
        ],
        prefix=prefix,
    )

    await seat_limit_becomes(client, tenant_id, 8)
    body = await tenant(client, tenant_id)
    assert body["status"] == "suspended"
    assert body["suspension_reason"] == "subscription_canceled"
    assert body["scheduled_churn_at"] is not None


async def test_net_terms_activation_by_billing_confirms_payment(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    invoiced = (
        await new_tenant(
            billing={"collection_method": "send_invoice", "billing_email": "ap@example.com"}
        )
    )["tenant"]
    card = (await new_tenant())["tenant"]["id"]
    assert invoiced["billing"]["days_until_due"] == 30  # the default net terms
    await send_events(
        [
            subscription(
                "subscription.activated",
                invoiced["id"],
                collection_method="send_invoice",
                days_until_due=30,
            ),
            subscription("subscription.activated", card, collection_method="charge_automatically"),
            subscription("subscription.updated", card, seats=13),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    def payment_step(body: dict[str, Any]) -> dict[str, Any]:
        step: dict[str, Any] = next(s for s in body["steps"] if s["step"] == "payment_confirmed")
        return step

    async def confirmed() -> None:
        checklist = await client.get(f"/v1/tenants/{invoiced['id']}/onboarding", headers=OPERATOR)
        step = payment_step(checklist.json())
        assert step["done"] is True
        assert step["source"] == "subscription.activated"
        assert step["completed_by"] == "billing-service"

    await eventually(confirmed)
    await seat_limit_becomes(client, card, 13)
    card_checklist = await client.get(f"/v1/tenants/{card}/onboarding", headers=OPERATOR)
    # card customers confirm by paying (invoice.paid), not by activation
    assert payment_step(card_checklist.json())["done"] is False


async def test_events_of_unknown_tenants_are_handled_and_ignored(
    db: Database, onboarding_settings: OnboardingSettings
) -> None:
    sent = await send_events(
        [
            subscription(
                "subscription.canceled", "not-a-uuid", ends_at=datetime(2020, 1, 1, tzinfo=UTC)
            ),
            sample("invoice.paid", tenant_id=str(uuid.uuid4())),
            sample("invoice.overdue", tenant_id=str(uuid.uuid4()), days_overdue=400),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )
    ids = [e.id for e in sent]

    async def handled() -> None:
        async with db.unit_of_work() as session:
            rows = await session.execute(
                select(inbox.c.event_id, inbox.c.outcome).where(inbox.c.event_id.in_(ids))
            )
            outcomes = dict(rows.tuples().all())
        assert outcomes == dict.fromkeys(ids, "processed")

    await eventually(handled)


async def test_a_cancellation_at_period_end_never_suspends_on_arrival(
    client: httpx.AsyncClient,
    new_tenant: Any,
    db: Database,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    """Issue 14: a tenant that canceled at period end was suspended at once when the
    period data was impossible (stripe-mock's period ends 30 years before it starts) or
    the announcement came late. Such a period is not acted on at all; a real one, even a
    past one, is left to the scheduled-suspension scan."""
    impossible = await active_tenant(client, new_tenant)
    late = await active_tenant(client, new_tenant)
    now = clock.now()
    await send_events(
        [
            subscription(
                "subscription.canceled",
                impossible,
                status="active",
                cancel_at_period_end=True,
                current_period_start=now + timedelta(days=900),
                current_period_end=now - timedelta(days=9000),
                ends_at=now - timedelta(days=9000),
                seats=5,
            ),
            subscription(
                "subscription.canceled",
                late,
                status="active",
                cancel_at_period_end=True,
                current_period_start=now - timedelta(days=31),
                current_period_end=now - timedelta(minutes=5),
                ends_at=now - timedelta(minutes=5),
                seats=6,
            ),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )
    await seat_limit_becomes(client, impossible, 5)
    await seat_limit_becomes(client, late, 6)
    body = await tenant(client, impossible)
    assert (body["status"], body["scheduled_suspension_at"]) == ("active", None)
    body = await tenant(client, late)
    assert body["status"] == "active"  # not on arrival...
    assert body["scheduled_suspension_at"] is not None
    await apply_scheduled_suspensions(db, now=now, churn_after=timedelta(days=30))
    assert (await tenant(client, late))["status"] == "suspended"  # ...but by the scan
    assert (await tenant(client, impossible))["status"] == "active"
