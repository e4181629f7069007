"""Plans and subscriptions through REST and ``tenant.created``, against stripe-mock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billing_fixtures import ADMIN, AGENT, BILLING, BillingApp, new_tenant, of_tenant

from billing_service.models import Subscription
from billing_service.stripe_gateway import StripeGateway, StripeUnavailable
from billing_service.subscriptions import service as subscriptions
from billing_service.subscriptions.schemas import SubscriptionIn
from servicekit.testing import auth, eventually, read_topic, send_events
from supportops_events.billing import CollectionMethod
from supportops_events.onboarding import TenantCreated, TenantStatus


async def create_subscription(
    billing: BillingApp, plan: dict[str, Any], tenant: str, **extra: Any
) -> dict[str, Any]:
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 3, **extra},
        headers={**BILLING, "Idempotency-Key": f"create-{tenant}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_admin_creates_plan_on_stripe_and_everyone_reads_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    assert plan["stripe_product_id"].startswith("prod_")
    assert plan["stripe_price_id"].startswith("price_")
    listed = await billing.client.get("/v1/plans", headers=AGENT)
    assert plan["code"] in [p["code"] for p in listed.json()["items"]]
    one = await billing.client.get(f"/v1/plans/{plan['id']}", headers=AGENT)
    assert one.json()["unit_amount"] == 1500


async def test_plan_writes_are_admin_only_and_validated(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    body = {"code": "x", "name": "X", "tier": "team", "unit_amount": 1, "currency": "usd"}
    forbidden = await billing.client.post("/v1/plans", json=body, headers=BILLING)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("/insufficient-role")
    bad = await billing.client.post(
        "/v1/plans", json={**body, "tier": "platinum", "currency": "USD!"}, headers=ADMIN
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"tier", "currency"}
    duplicate = await billing.client.post(
        "/v1/plans", json={**body, "code": plan["code"]}, headers=ADMIN
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/plan-exists")
    missing = await billing.client.get(f"/v1/plans/{uuid.uuid4()}", headers=AGENT)
    assert missing.status_code == 404
    not_uuid = await billing.client.get("/v1/plans/not-a-uuid", headers=AGENT)
    assert not_uuid.status_code == 422
    anonymous = await billing.client.get("/v1/plans")
    assert anonymous.status_code == 401


async def test_rest_subscription_is_created_on_stripe_and_announced(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = new_tenant()
    sub = await create_subscription(
        billing, plan, tenant, collection_method="send_invoice", days_until_due=14
    )
    assert sub["stripe_customer_id"].startswith("cus_")
    assert sub["stripe_subscription_id"].startswith("sub_")
    assert sub["sync_state"] == "synced"
    assert sub["recurring_amount"] == 4500
    replay = await billing.client.post(
        "/v1/subscriptions",
        json={
            "tenant_id": tenant,
            "plan_code": plan["code"],
            "seats": 3,
            "collection_method": "send_invoice",
            "days_until_due": 14,
        },
        headers={**BILLING, "Idempotency-Key": f"create-{tenant}"},
    )
    assert replay.json()["id"] == sub["id"]
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "subscription.created"))
    )
    (created,) = of_tenant(envelopes, tenant, "subscription.created")
    assert created.data.model_dump()["seats"] == 3
    assert created.data.model_dump()["days_until_due"] == 14
    assert created.data.model_dump()["collection_method"] == CollectionMethod.send_invoice


async def test_tenant_created_event_creates_the_subscription(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = new_tenant()
    await send_events(
        [
            TenantCreated(
                tenant_id=tenant,
                company_name="Acme",
                status=TenantStatus.pending,
                plan_code=plan["code"],
                seats=7,
                billing_email="ap@acme.example",
                collection_method=CollectionMethod.charge_automatically,
                admin_email="pat@acme.example",
                created_at=datetime.now(UTC),
            )
        ],
        prefix=billing.settings.kafka_topic_prefix,
    )

    async def synced() -> dict[str, Any]:
        listed = await billing.client.get(f"/v1/subscriptions?tenant_id={tenant}", headers=AGENT)
        items = listed.json()["items"]
        assert items
        assert items[0]["sync_state"] == "synced"
        return dict(items[0])

    sub = await eventually(synced, timeout=40)
    assert sub["seats"] == 7
    assert sub["stripe_subscription_id"].startswith("sub_")
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "subscription.created"))
    )
    assert len(of_tenant(envelopes, tenant, "subscription.created")) == 1


async def test_upgrade_now_downgrade_at_period_end_and_cancel(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = new_tenant()
    sub = await create_subscription(billing, plan, tenant)
    read = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
    etag = read.headers["ETag"]
    up = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 5},
        headers={**BILLING, "If-Match": etag},
    )
    assert up.status_code == 200, up.text
    assert up.json()["seats"] == 5
    assert up.json()["change_effective"] == "now"
    stale = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 2},
        headers={**BILLING, "If-Match": etag},
    )
    assert stale.status_code == 412
    down = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change", json={"seats": 2}, headers=BILLING
    )
    assert down.json()["change_effective"] == "period_end"
    cancel = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": True, "reason": "moving to a competitor"},
        headers=BILLING,
    )
    assert cancel.status_code == 200
    assert cancel.json()["cancel_at_period_end"] is True
    again = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel", json={"at_period_end": True}, headers=BILLING
    )
    assert again.status_code == 409
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "subscription.canceled")),
    )
    updates = of_tenant(envelopes, tenant, "subscription.updated")
    assert [u.data.model_dump()["seats"] for u in updates] == [5, 2]
    (canceled,) = of_tenant(envelopes, tenant, "subscription.canceled")
    assert canceled.data.model_dump()["reason"] == "moving to a competitor"


async def test_subscription_bad_input_and_tenant_confinement(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = new_tenant()
    unknown_plan = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": "nope", "seats": 1},
        headers=BILLING,
    )
    assert unknown_plan.status_code == 422
    assert unknown_plan.json()["field"] == "plan_code"
    bad = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 0},
        headers=BILLING,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "seats"
    empty_change = await billing.client.post(
        f"/v1/subscriptions/{uuid.uuid4()}/change", json={}, headers=BILLING
    )
    assert empty_change.status_code == 422
    sub = await create_subscription(billing, plan, tenant)
    other = auth("agent", tenant_id=new_tenant())
    hidden = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=other)
    assert hidden.status_code == 404
    own = await billing.client.get(
        f"/v1/subscriptions/{sub['id']}", headers=auth("agent", tenant_id=tenant)
    )
    assert own.status_code == 200
    bad_etag = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers={**BILLING, "If-Match": "garbage"},
    )
    assert bad_etag.status_code == 400


async def test_intent_survives_a_stripe_outage_and_the_worker_finishes_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = new_tenant()
    async with billing.db.unit_of_work() as session:
        sub = await subscriptions.record_intent(
            session,
            body=SubscriptionIn(tenant_id=tenant, plan_code=plan["code"], seats=2, trial_days=14),
        )
        sub.next_sync_at = billing.clock() + timedelta(hours=1)  # keep the worker away
        sub_id = sub.id
    unreachable = StripeGateway.build(
        api_key="sk_test_123", api_base="http://127.0.0.1:9", max_retries=0
    )
    with pytest.raises(StripeUnavailable):
        await subscriptions.drive_pending(
            db=billing.db, stripe=unreachable, subscription_id=sub_id, clock=billing.clock
        )
    async with billing.db.unit_of_work() as session:
        failed = await session.get(Subscription, sub_id)
        assert failed is not None
        assert (failed.sync_state, failed.sync_attempts) == ("pending", 1)
        assert failed.sync_error
    billing.clock.advance(seconds=2)  # past the first backoff: the worker re-drives it

    async def synced() -> None:
        got = await billing.client.get(f"/v1/subscriptions/{sub_id}", headers=AGENT)
        assert got.json()["sync_state"] == "synced"

    await eventually(synced)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "subscription.created"))
    )
    assert len(of_tenant(envelopes, tenant, "subscription.created")) == 1
