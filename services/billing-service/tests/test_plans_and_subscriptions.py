"""Plans and subscriptions through REST and ``tenant.created``, against stripe-mock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billing_fixtures import (
    ADMIN,
    AGENT,
    BILLING,
    AlteredStripe,
    BillingApp,
    deliver,
    if_match,
    new_tenant,
    of_tenant,
    stripe_event,
    subscribed,
    subscription_object,
)
from sqlalchemy import select

from billing_service.models import Plan, Subscription
from billing_service.plans import service as plans
from billing_service.stripe_gateway import StripeGateway, StripeRejected, StripeUnavailable
from billing_service.subscriptions import intents as subscriptions
from billing_service.subscriptions.schemas import SubscriptionIn
from billing_service.webhooks.worker import StripeWorker
from servicekit.testing import TestClock, auth, eventually, read_topic, send_events
from supportops_events import registry
from supportops_events.billing import CollectionMethod, PlanTier
from supportops_events.onboarding import TenantCreated, TenantStatus


async def create_subscription(
    billing: BillingApp, plan: dict[str, Any], tenant: str, **extra: Any
) -> dict[str, Any]:
    return await subscribed(billing, plan, tenant, idempotency_key=f"create-{tenant}", **extra)


async def read(billing: BillingApp, sub_id: str) -> tuple[dict[str, Any], str]:
    response = await billing.client.get(f"/v1/subscriptions/{sub_id}", headers=AGENT)
    assert response.status_code == 200, response.text
    return response.json(), response.headers["ETag"]


async def new_plan(billing: BillingApp, *, unit_amount: int, tier: str = "team") -> dict[str, Any]:
    response = await billing.client.post(
        "/v1/plans",
        json={
            "code": f"{tier}-{uuid.uuid4().hex[:6]}",
            "name": tier.title(),
            "tier": tier,
            "unit_amount": unit_amount,
            "currency": "usd",
            "interval": "month",
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def tenant_created(tenant: str, plan_code: str, *, seats: int = 7) -> TenantCreated:
    return TenantCreated(
        tenant_id=tenant,
        company_name="Acme",
        status=TenantStatus.pending,
        plan_code=plan_code,
        seats=seats,
        billing_email="ap@acme.example",
        collection_method=CollectionMethod.charge_automatically,
        admin_email="pat@acme.example",
        created_at=datetime.now(UTC),
    )


async def attention_of(billing: BillingApp, tenant: str) -> dict[str, Any]:
    async def waiting() -> dict[str, Any]:
        listed = await billing.client.get(
            "/v1/subscriptions",
            params={"tenant_id": tenant, "sync_state": "needs_attention"},
            headers=AGENT,
        )
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert items
        return dict(items[0])

    return await eventually(waiting, timeout=40)


# --- plans -------------------------------------------------------------------------------


async def test_admin_creates_plan_on_stripe_and_everyone_reads_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    assert plan["stripe_product_id"].startswith("prod_")
    assert plan["stripe_price_id"].startswith("price_")
    assert (plan["archived"], plan["stripe_price_active"]) == (False, True)
    listed = await billing.client.get("/v1/plans", headers=AGENT)
    assert plan["code"] in [p["code"] for p in listed.json()["items"]]
    one = await billing.client.get(f"/v1/plans/{plan['id']}", headers=AGENT)
    assert one.json()["unit_amount"] == 1500
    assert one.headers["ETag"] == f'"{plan["version"]}"'


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
    archive_by_billing = await billing.client.post(
        f"/v1/plans/{plan['id']}/archive", headers=if_match("*")
    )
    assert archive_by_billing.status_code == 403


class RecordingStripe(StripeGateway):
    """stripe-mock answers; the idempotency keys billing sent are kept for the test."""

    def __init__(self, real: StripeGateway) -> None:
        super().__init__(real.client)
        self.keys: list[str] = []

    async def create_product(self, *, key: str, name: str, metadata: dict[str, str]) -> Any:
        self.keys.append(key)
        return await super().create_product(key=key, name=name, metadata=metadata)

    async def create_price(self, *, key: str, **kwargs: Any) -> dict[str, Any]:
        self.keys.append(key)
        return await super().create_price(key=key, **kwargs)


async def test_seed_plans_creates_one_plan_per_interval_and_tier_once(
    billing: BillingApp,
) -> None:
    stripe = RecordingStripe(billing.app.state.stripe)
    first = await plans.seed_plans(db=billing.db, stripe=stripe)
    second = await plans.seed_plans(db=billing.db, stripe=stripe)
    codes = {p.code for p in plans.DEFAULT_PLANS}
    assert set(first.created) | set(first.existing) == codes
    assert (second.created, set(second.existing), second.on_stripe) == ([], codes, [])
    async with billing.db.unit_of_work() as session:
        seeded = list(await session.scalars(select(Plan).where(Plan.code.in_(codes))))
    assert {p.tier for p in seeded} == {t.value for t in PlanTier}
    assert {p.interval for p in seeded} == {"month", "year"}
    for plan in seeded:
        assert plan.id == plans.seeded_plan_id(plan.code)
        assert plan.stripe_product_id is not None
        assert plan.stripe_product_id.startswith("prod_")
        assert plan.stripe_price_id is not None
        assert plan.stripe_price_id.startswith("price_")
    team = next(p for p in seeded if p.code == "team-monthly")
    assert (team.unit_amount, team.currency) == (1900, "usd")
    assert next(p for p in seeded if p.code == "team-yearly").unit_amount == 19000

    # Stripe keys come from the plan's own (code-derived) id: a re-run after a crash
    # between Stripe's answer and our commit gets the same product and price back.
    code = f"seedtest-{uuid.uuid4().hex[:6]}"
    extra = plans.DefaultPlan(
        code=code, name="Seed test", tier=PlanTier.starter, unit_amount=100, interval="month"
    )
    report = await plans.seed_plans(db=billing.db, stripe=stripe, plans=(extra,))
    assert (report.created, report.on_stripe) == ([code], [code])
    plan_id = plans.seeded_plan_id(code)
    assert stripe.keys[-2:] == [f"plan-product-{plan_id}", f"plan-price-{plan_id}"]


async def test_archived_plan_stays_readable_keeps_subscribers_and_cannot_be_chosen(
    billing: BillingApp,
) -> None:
    doomed = await new_plan(billing, unit_amount=2500)
    tenant = await billing.tenant()
    subscriber = await create_subscription(billing, doomed, tenant)
    url = f"/v1/plans/{doomed['id']}/archive"
    no_etag = await billing.client.post(url, headers=ADMIN)
    assert no_etag.status_code == 428
    assert no_etag.json()["type"].endswith("/if-match-required")
    stale = await billing.client.post(url, headers=if_match('"99"', ADMIN))
    assert stale.status_code == 412
    etag = (await billing.client.get(f"/v1/plans/{doomed['id']}", headers=AGENT)).headers["ETag"]
    archived = await billing.client.post(url, headers=if_match(etag, ADMIN))
    assert archived.status_code == 200, archived.text
    body = archived.json()
    assert body["archived"] is True
    assert body["archived_at"] is not None
    assert body["stripe_price_active"] is False  # set only once Stripe answered
    assert archived.headers["ETag"] != etag
    again = await billing.client.post(url, headers=if_match(archived.headers["ETag"], ADMIN))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")  # the one 409 body
    assert (again.json()["current_status"], again.json()["requested_status"]) == (
        "archived",
        "archived",
    )
    assert again.json()["allowed"] == []

    readable = await billing.client.get(f"/v1/plans/{doomed['id']}", headers=AGENT)
    assert readable.json()["archived"] is True
    only_archived = await billing.client.get("/v1/plans?archived=true&limit=200", headers=AGENT)
    assert doomed["code"] in [p["code"] for p in only_archived.json()["items"]]
    active_only = await billing.client.get("/v1/plans?archived=false&limit=200", headers=AGENT)
    assert doomed["code"] not in [p["code"] for p in active_only.json()["items"]]

    refused = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": await billing.tenant(), "plan_code": doomed["code"], "seats": 1},
        headers=BILLING,
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/plan-archived")
    assert refused.json()["field"] == "plan_code"
    kept, _ = await read(billing, subscriber["id"])
    assert kept["plan_code"] == doomed["code"]  # grandfathered

    other = await create_subscription(
        billing, await new_plan(billing, unit_amount=1000), await billing.tenant()
    )
    _, other_etag = await read(billing, other["id"])
    to_archived = await billing.client.post(
        f"/v1/subscriptions/{other['id']}/change",
        json={"plan_code": doomed["code"]},
        headers=if_match(other_etag),
    )
    assert to_archived.status_code == 422
    assert to_archived.json()["type"].endswith("/plan-archived")

    # a new tenant naming the archived plan waits for a person
    late = await billing.tenant()
    await send_events(
        [tenant_created(late, doomed["code"])], prefix=billing.settings.kafka_topic_prefix
    )
    waiting = await attention_of(billing, late)
    assert (waiting["attention_reason"], waiting["plan_code"]) == ("plan_archived", doomed["code"])
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, late, "billing.followup_required")),
    )
    (followup,) = of_tenant(envelopes, late, "billing.followup_required")
    assert followup.data.model_dump()["cause"] == "plan_archived"


async def test_an_archive_stripe_did_not_confirm_is_finished_by_the_worker(
    billing: BillingApp,
) -> None:
    doomed = await new_plan(billing, unit_amount=700)
    etag = (await billing.client.get(f"/v1/plans/{doomed['id']}", headers=AGENT)).headers["ETag"]
    real: StripeGateway = billing.app.state.stripe
    billing.app.state.stripe = StripeGateway.build(
        api_key="sk_test_123", api_base="http://127.0.0.1:9", max_retries=0
    )
    try:
        failed = await billing.client.post(
            f"/v1/plans/{doomed['id']}/archive", headers=if_match(etag, ADMIN)
        )
    finally:
        billing.app.state.stripe = real
    assert failed.status_code == 502
    assert failed.json()["type"].endswith("/stripe-error")
    half = (await billing.client.get(f"/v1/plans/{doomed['id']}", headers=AGENT)).json()
    assert half["archived"] is True  # in force at once: nobody can choose it any more
    assert half["stripe_price_active"] is True
    later = StripeWorker(
        db=billing.db,
        stripe=real,
        clock=TestClock(billing.clock.now() + timedelta(minutes=2)),
        poll_seconds=1,
    )
    await later.run_once()
    done = (await billing.client.get(f"/v1/plans/{doomed['id']}", headers=AGENT)).json()
    assert done["stripe_price_active"] is False


# --- creation ----------------------------------------------------------------------------


async def test_rest_subscription_is_created_on_stripe_and_announced(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    sub = await create_subscription(
        billing, plan, tenant, collection_method="send_invoice", days_until_due=14
    )
    assert sub["stripe_customer_id"].startswith("cus_")
    assert sub["stripe_subscription_id"].startswith("sub_")
    assert sub["sync_state"] == "synced"
    assert sub["recurring_amount"] == 4500
    assert sub["pending_change"] is None
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
    second = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 9},
        headers=BILLING,
    )
    assert second.status_code == 409
    assert second.json()["type"].endswith("/subscription-exists")
    assert second.json()["subscription_id"] == sub["id"]
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
    tenant = await billing.tenant()
    await send_events(
        [tenant_created(tenant, plan["code"])], prefix=billing.settings.kafka_topic_prefix
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


async def test_tenant_created_with_an_unknown_plan_becomes_a_followup_not_a_dead_letter(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    await send_events(
        [tenant_created(tenant, "platinum-forever", seats=4)],
        prefix=billing.settings.kafka_topic_prefix,
    )
    waiting = await attention_of(billing, tenant)
    assert waiting["attention_reason"] == "plan_unknown"
    assert waiting["plan_code"] == "platinum-forever"
    assert (waiting["seats"], waiting["currency"], waiting["recurring_amount"]) == (4, None, None)
    assert waiting["stripe_subscription_id"] is None
    assert "platinum-forever" in waiting["attention_detail"]
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "billing.followup_required")),
    )
    (followup,) = of_tenant(envelopes, tenant, "billing.followup_required")
    data = followup.data.model_dump()
    assert data["cause"] == "plan_unknown"
    assert data["followup_key"] == f"subscription:{waiting['id']}"
    assert data["subscription_id"] == waiting["id"]
    dlq = billing.settings.kafka_topic_prefix + registry.dlq_topic("billing-service")
    dead = await read_topic(dlq, until=lambda es: bool(es), timeout=2)
    assert [e for e in dead if e.tenant_id == tenant] == []
    # the worker leaves it alone: nothing to send to Stripe until a person chooses a plan
    await billing.app.state.stripe_worker.run_once()
    assert (await attention_of(billing, tenant))["stripe_customer_id"] is None

    # A person creates the subscription with a real plan: same record, on Stripe, resolved.
    fixed = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 4},
        headers=BILLING,
    )
    assert fixed.status_code == 201, fixed.text
    body = fixed.json()
    assert (body["id"], body["sync_state"], body["plan_code"]) == (
        waiting["id"],
        "synced",
        plan["code"],
    )
    assert body["attention_reason"] is None
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "billing.followup_resolved")),
    )
    assert [e.type for e in of_tenant(envelopes, tenant)] == [
        "billing.followup_required",
        "subscription.created",
        "billing.followup_resolved",
    ]
    (resolved,) = of_tenant(envelopes, tenant, "billing.followup_resolved")
    assert resolved.data.model_dump()["resolution"] == "subscription_created"
    assert resolved.data.model_dump()["followup_key"] == data["followup_key"]


async def test_a_request_stripe_refuses_needs_attention_and_a_new_one_replaces_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    refusing = AlteredStripe(billing.app.state.stripe, refuse_subscriptions=True)
    # from tenant.created: nobody saw the refusal, so a person is asked to follow up
    tenant = await billing.tenant()
    async with billing.db.unit_of_work() as session:
        intent = await subscriptions.record_tenant_request(
            session, body=SubscriptionIn(tenant_id=tenant, plan_code=plan["code"], seats=2)
        )
        intent.next_sync_at = billing.clock.now() + timedelta(hours=1)  # keep the worker away
        sub_id = intent.id
    with pytest.raises(StripeRejected):
        await subscriptions.drive_pending(
            db=billing.db, stripe=refusing, subscription_id=sub_id, clock=billing.clock
        )
    waiting = await attention_of(billing, tenant)
    assert waiting["attention_reason"] == "stripe_rejected"
    assert "collection_method" in waiting["attention_detail"]
    assert waiting["stripe_customer_id"].startswith("cus_")  # kept for the next attempt
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "billing.followup_required")),
    )
    (followup,) = of_tenant(envelopes, tenant, "billing.followup_required")
    assert followup.data.model_dump()["cause"] == "subscription_rejected"
    fixed = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 5},
        headers=BILLING,
    )
    assert fixed.status_code == 201, fixed.text
    assert (fixed.json()["sync_state"], fixed.json()["seats"]) == ("synced", 5)

    # through REST: the caller gets the refusal at once, and may simply post again
    rest_tenant = await billing.tenant()
    real = billing.app.state.stripe
    billing.app.state.stripe = refusing
    try:
        refused = await billing.client.post(
            "/v1/subscriptions",
            json={"tenant_id": rest_tenant, "plan_code": plan["code"], "seats": 2},
            headers=BILLING,
        )
    finally:
        billing.app.state.stripe = real
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/stripe-rejected")
    assert (await attention_of(billing, rest_tenant))["attention_reason"] == "stripe_rejected"
    retried = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": rest_tenant, "plan_code": plan["code"], "seats": 2},
        headers=BILLING,
    )
    assert retried.status_code == 201, retried.text
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, rest_tenant, "subscription.created")),
    )
    assert of_tenant(envelopes, rest_tenant, "billing.followup_required") == []


# --- changes -----------------------------------------------------------------------------


async def test_updates_need_a_current_if_match(billing: BillingApp, plan: dict[str, Any]) -> None:
    sub = await create_subscription(billing, plan, await billing.tenant())
    url = f"/v1/subscriptions/{sub['id']}"
    for action, body in (("change", {"seats": 4}), ("cancel", {"at_period_end": True})):
        missing = await billing.client.post(f"{url}/{action}", json=body, headers=BILLING)
        assert missing.status_code == 428, missing.text
        assert missing.json()["type"].endswith("/if-match-required")
        stale = await billing.client.post(f"{url}/{action}", json=body, headers=if_match('"999"'))
        assert stale.status_code == 412
        assert stale.json()["type"].endswith("/etag-mismatch")
        garbage = await billing.client.post(f"{url}/{action}", json=body, headers=if_match("nope"))
        assert garbage.status_code == 400
    current, etag = await read(billing, sub["id"])
    assert current["seats"] == 3  # nothing above changed anything
    assert etag == f'"{current["version"]}"'
    weak = await billing.client.post(
        f"{url}/change", json={"seats": 4}, headers=if_match("W/" + etag)
    )
    assert weak.status_code == 200, weak.text
    anything = await billing.client.post(f"{url}/change", json={"seats": 6}, headers=if_match("*"))
    assert anything.status_code == 200
    assert anything.json()["seats"] == 6


async def test_upgrade_applies_now_and_downgrade_waits_for_the_period_end(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    sub = await create_subscription(billing, plan, tenant)
    start = int(billing.clock.now().timestamp()) - 86400
    end = start + 30 * 86400
    activated = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=start,
            period_end=end,
        ),
        created=int(billing.clock.now().timestamp()) + 10,
    )
    await deliver(billing.client, activated)

    async def active() -> str:
        now, etag = await read(billing, sub["id"])
        assert now["status"] == "active"
        return etag

    etag = await eventually(active)
    up = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change", json={"seats": 5}, headers=if_match(etag)
    )
    assert up.status_code == 200, up.text
    assert (up.json()["seats"], up.json()["change_effective"]) == (5, "now")
    assert up.json()["pending_change"] is None
    stale = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change", json={"seats": 2}, headers=if_match(etag)
    )
    assert stale.status_code == 412
    down = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 2},
        headers=if_match(up.headers["ETag"]),
    )
    assert down.status_code == 200, down.text
    body = down.json()
    assert (body["seats"], body["change_effective"]) == (5, "period_end")  # not yet
    pending = body["pending_change"]
    assert pending["seats"] == 2
    assert pending["plan_code"] == plan["code"]
    assert pending["recurring_amount"] == 3000
    assert pending["effective_at"] == body["current_period_end"]
    assert pending["stripe_schedule_id"].startswith("sub_sched_")
    shown, _ = await read(billing, sub["id"])
    assert shown["pending_change"] == pending

    # Stripe's schedule moves to its next phase at the period end and says so.
    old_end = int(datetime.fromisoformat(body["current_period_end"]).timestamp())
    renewed = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=2,
            period_start=old_end,
            period_end=old_end + 30 * 86400,
            schedule=pending["stripe_schedule_id"],
        ),
        created=int(billing.clock.now().timestamp()) + 60,
    )
    await deliver(billing.client, renewed)

    async def applied() -> dict[str, Any]:
        now, _ = await read(billing, sub["id"])
        assert now["seats"] == 2
        return now

    after = await eventually(applied)
    assert after["pending_change"] is None
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: len(of_tenant(es, tenant, "subscription.updated")) >= 3,
    )
    updates = [e.data.model_dump() for e in of_tenant(envelopes, tenant, "subscription.updated")]
    # onboarding's seat limit: 5 now, still 5 once the downgrade is scheduled, 2 at period end
    assert [u["seats"] for u in updates] == [5, 5, 2]
    assert [u["pending_seats"] for u in updates] == [None, 2, None]
    assert updates[1]["changed_fields"] == ["pending_change"]
    assert updates[1]["pending_change_at"] == updates[1]["current_period_end"]
    assert {"seats", "pending_change", "current_period_start"} <= set(updates[2]["changed_fields"])


async def test_a_scheduled_downgrade_can_be_withdrawn_or_overtaken_by_an_upgrade(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    cheaper = await new_plan(billing, unit_amount=500, tier="starter")
    tenant = await billing.tenant()
    sub = await create_subscription(billing, plan, tenant)
    url = f"/v1/subscriptions/{sub['id']}/change"
    _, etag = await read(billing, sub["id"])
    down = await billing.client.post(
        url, json={"plan_code": cheaper["code"]}, headers=if_match(etag)
    )
    assert down.json()["pending_change"]["plan_code"] == cheaper["code"]
    assert down.json()["plan_code"] == plan["code"]
    withdrawn = await billing.client.post(
        url, json={"plan_code": plan["code"], "seats": 3}, headers=if_match(down.headers["ETag"])
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["pending_change"] is None
    assert withdrawn.json()["change_effective"] is None
    # fewer seats on a dearer plan is still a downgrade: all of it waits
    dearer = await new_plan(billing, unit_amount=3000, tier="business")
    mixed = await billing.client.post(
        url,
        json={"plan_code": dearer["code"], "seats": 2},
        headers=if_match(withdrawn.headers["ETag"]),
    )
    assert mixed.json()["change_effective"] == "period_end"
    assert mixed.json()["pending_change"]["plan_code"] == dearer["code"]
    up = await billing.client.post(url, json={"seats": 8}, headers=if_match(mixed.headers["ETag"]))
    assert up.status_code == 200, up.text
    assert (up.json()["seats"], up.json()["change_effective"]) == (8, "now")
    assert up.json()["pending_change"] is None
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: len(of_tenant(es, tenant, "subscription.updated")) >= 4,
    )
    updates = [e.data.model_dump() for e in of_tenant(envelopes, tenant, "subscription.updated")]
    assert [u["pending_plan_code"] for u in updates] == [
        cheaper["code"],
        None,
        dearer["code"],
        None,
    ]
    assert [u["seats"] for u in updates] == [3, 3, 3, 8]
    assert "pending_change" in updates[-1]["changed_fields"]


async def test_change_and_cancel_honour_idempotency_keys(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await create_subscription(billing, plan, await billing.tenant())
    _, etag = await read(billing, sub["id"])
    headers = {**if_match(etag), "Idempotency-Key": f"more-seats-{sub['id']}"}
    url = f"/v1/subscriptions/{sub['id']}/change"
    first = await billing.client.post(url, json={"seats": 4}, headers=headers)
    assert first.status_code == 200, first.text
    replay = await billing.client.post(url, json={"seats": 4}, headers=headers)
    assert replay.status_code == 200  # not a 412: the first answer is replayed
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_cancel_at_period_end_emits_one_canceled_and_later_updates(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    sub = await create_subscription(billing, plan, tenant)
    later = int(billing.clock.now().timestamp()) + 60
    start, end = later - 86400, later + 29 * 86400
    shape = {"price_id": plan["stripe_price_id"], "quantity": 3, "period_start": start}
    activated = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", period_end=end, **shape),
        created=later - 50,
    )
    await deliver(billing.client, activated)

    async def active() -> str:
        now, etag = await read(billing, sub["id"])
        assert now["status"] == "active"
        return etag

    etag = await eventually(active)
    cancel = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": True, "reason": "moving to a competitor"},
        headers=if_match(etag),
    )
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["cancel_at_period_end"] is True
    again = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": True},
        headers=if_match(cancel.headers["ETag"]),
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")
    assert again.json()["requested_status"] == "cancel_at_period_end"
    assert again.json()["allowed"] == ["canceled"]  # ending it now is still possible
    change = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 9},
        headers=if_match(cancel.headers["ETag"]),
    )
    assert change.status_code == 409  # ending at period end: nothing to change
    assert (change.json()["current_status"], change.json()["requested_status"]) == (
        "active",
        "changed",
    )

    # Stripe confirms the flag, then deletes the subscription when the period ends.
    flagged = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub, status="active", period_end=end, cancel_at_period_end=True, **shape
        ),
        created=later,
    )
    deleted = stripe_event(
        "customer.subscription.deleted",
        subscription_object(
            sub,
            status="canceled",
            period_end=end,
            cancel_at_period_end=True,
            canceled_at=later,
            ended_at=end,
            **shape,
        ),
        created=later + 1,
    )
    for event in (flagged, deleted):
        assert (await deliver(billing.client, event)).status_code == 200

    async def ended() -> None:
        assert (await read(billing, sub["id"]))[0]["status"] == "canceled"

    await eventually(ended)
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "subscription.updated")),
    )
    lifecycle = of_tenant(envelopes, tenant, "subscription.canceled", "subscription.updated")
    assert [e.type for e in lifecycle] == ["subscription.canceled", "subscription.updated"]
    canceled, final = (e.data.model_dump() for e in lifecycle)
    assert canceled["reason"] == "moving to a competitor"
    assert int(canceled["ends_at"].timestamp()) == end
    assert (final["status"], final["previous_status"]) == ("canceled", "active")


async def test_subscription_bad_input_and_tenant_confinement(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
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
    missing = await billing.client.post(
        f"/v1/subscriptions/{uuid.uuid4()}/change", json={"seats": 2}, headers=if_match('"1"')
    )
    assert missing.status_code == 404
    bad_state = await billing.client.get("/v1/subscriptions?sync_state=lost", headers=AGENT)
    assert bad_state.status_code == 422
    sub = await create_subscription(billing, plan, tenant)
    other = auth("agent", tenant_id=new_tenant())
    hidden = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=other)
    assert hidden.status_code == 404
    own = await billing.client.get(
        f"/v1/subscriptions/{sub['id']}", headers=auth("agent", tenant_id=tenant)
    )
    assert own.status_code == 200
    other_billing = {**auth("billing", tenant_id=new_tenant()), "If-Match": "*"}
    foreign_cancel = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=other_billing,
    )
    assert foreign_cancel.status_code == 404


async def test_intent_survives_a_stripe_outage_and_the_worker_finishes_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    async with billing.db.unit_of_work() as session:
        sub = await subscriptions.record_intent(
            session,
            body=SubscriptionIn(tenant_id=tenant, plan_code=plan["code"], seats=2, trial_days=14),
        )
        sub.next_sync_at = billing.clock.now() + timedelta(hours=1)  # keep the worker away
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
