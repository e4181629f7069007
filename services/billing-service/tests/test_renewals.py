"""The renewal scan, driven by an injected clock across period boundaries."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_fixtures import (
    ADMIN,
    AGENT,
    BILLING,
    AlteredStripe,
    BillingApp,
    active_subscription,
    card_expiring,
    deliver,
    if_match,
    invoice_object,
    no_payment_method,
    of_tenant,
    stripe_event,
    subscription_object,
)
from sqlalchemy import select, update

from billing_service.models import Renewal, StripeEvent
from billing_service.renewals import scan as renewals
from billing_service.renewals.payment_methods import payment_method_risk
from billing_service.stripe_gateway import StripeGateway
from servicekit.testing import eventually, read_topic
from supportops_events.billing import RenewalRiskReason


async def scan(billing: BillingApp) -> None:
    response = await billing.client.post("/v1/renewals/scan", headers=ADMIN)
    assert response.status_code == 200, response.text


async def processed(billing: BillingApp, event_id: str) -> None:
    async def check() -> None:
        async with billing.db.unit_of_work() as session:
            row = await session.scalar(select(StripeEvent).where(StripeEvent.id == event_id))
            assert row is not None
            assert row.processed_at is not None

    await eventually(check)


async def test_manual_invoicing_renewal_is_announced_once_and_invoiced_once(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(
        billing, plan, period_days=40, collection_method="send_invoice", days_until_due=15
    )
    tenant = sub["tenant_id"]
    await scan(billing)  # 40 days out: outside the 30-day window
    billing.clock.advance(days=15)
    await scan(billing)
    await scan(billing)  # a second run announces nothing new
    billing.clock.advance(days=25, hours=1)  # the new period has started
    stripe = billing.app.state.stripe
    reports = await asyncio.gather(
        *(
            renewals.scan(
                db=billing.db, stripe=stripe, clock=billing.clock, window_days=30, grace_hours=24
            )
            for _ in range(2)
        )
    )
    assert sum(r.invoiced for r in reports) == 1  # the claim: one scan wins
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    await asyncio.sleep(0.5)  # let a (wrong) second invoice event reach the topic
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    renewal_events = of_tenant(envelopes, tenant, "renewal.upcoming", "renewal.invoiced")
    assert [e.type for e in renewal_events] == ["renewal.upcoming", "renewal.invoiced"]
    invoiced = renewal_events[1].data.model_dump()
    assert invoiced["reason"] == "manual_invoicing"
    assert invoiced["amount"] == 4500
    assert int(invoiced["period_start"].timestamp()) == end
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    (invoice,) = listed.json()["items"]
    assert invoice["is_renewal"] is True
    assert invoice["id"] == invoiced["invoice_id"]
    trackers = await billing.client.get(f"/v1/renewals?tenant_id={tenant}", headers=AGENT)
    assert [t["state"] for t in trackers.json()["items"]] == ["invoiced"]

    # the customer pays the renewal invoice: the renewal is completed
    now = int(billing.clock.now().timestamp())
    paid = stripe_event(
        "invoice.paid",
        invoice_object(
            sub,
            stripe_invoice_id=invoice["stripe_invoice_id"],
            status="paid",
            amount_paid=4500,
            period_start=end,
            period_end=end + 30 * 86400,
            billing_reason="manual",
        ),
        created=now,
    )
    await deliver(billing.client, paid)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.completed"))
    )
    (completed,) = of_tenant(envelopes, tenant, "renewal.completed")
    assert completed.data.model_dump()["amount_paid"] == 4500


async def test_stripe_automatic_renewal_invoice_is_recognised_not_duplicated(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    billing.clock.set(billing.clock.now() - timedelta(days=0))
    sub, start, end = await active_subscription(billing, plan, period_days=10)
    tenant = sub["tenant_id"]
    await scan(billing)
    finalized = stripe_event(
        "invoice.finalized",
        invoice_object(
            sub,
            period_start=start,
            period_end=end,
            billing_reason="subscription_cycle",
            amount_due=4500,
        ),
        created=end + 60,
    )
    billing.clock.advance(days=10, hours=1)
    await deliver(billing.client, finalized)
    await processed(billing, finalized["id"])
    billing.clock.advance(days=2)  # well past the grace period
    await scan(billing)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    kinds = [e.type for e in of_tenant(envelopes, tenant) if e.type.startswith("renewal.")]
    assert kinds == ["renewal.upcoming", "renewal.invoiced"]
    (invoiced,) = of_tenant(envelopes, tenant, "renewal.invoiced")
    assert invoiced.data.model_dump()["reason"] == "stripe_automatic"
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    assert len(listed.json()["items"]) == 1


async def test_scan_is_admin_only(billing: BillingApp) -> None:
    response = await billing.client.post("/v1/renewals/scan", headers=BILLING)
    assert response.status_code == 403
    bad = await billing.client.get("/v1/renewals?state=bogus", headers=AGENT)
    assert bad.status_code == 422


async def test_a_claim_left_by_a_crashed_scan_is_taken_over_after_the_claim_timeout(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(
        billing, plan, period_days=1, collection_method="send_invoice", days_until_due=15
    )
    tenant = sub["tenant_id"]
    await scan(billing)  # inside the window: the tracker exists
    # a scan claimed the renewal at period start and died before recording the invoice
    billing.clock.advance(days=1, hours=1)
    async with billing.db.unit_of_work() as session:
        claimed = await session.execute(
            update(Renewal)
            .where(Renewal.subscription_id == sub["id"])
            .values(issuing_since=billing.clock.now())
            .returning(Renewal.id)
        )
        assert claimed.first() is not None
    billing.clock.advance(seconds=30)
    stripe = billing.app.state.stripe

    async def run(claim_timeout: timedelta) -> renewals.ScanReport:
        return await renewals.scan(
            db=billing.db,
            stripe=stripe,
            clock=billing.clock,
            window_days=30,
            grace_hours=24,
            claim_timeout=claim_timeout,
        )

    # 30 s old: still the (maybe live) other scan's under the default 10 minutes
    assert (await run(renewals.STALE_CLAIM)).invoiced == 0
    trackers = await billing.client.get(f"/v1/renewals?tenant_id={tenant}", headers=AGENT)
    assert [t["invoice_id"] for t in trackers.json()["items"]] == [None]
    # a shorter claim timeout (BILLING_RENEWAL_CLAIM_TIMEOUT_SECONDS) takes it over, once
    reports = await asyncio.gather(*(run(timedelta(seconds=20)) for _ in range(2)))
    assert [r.invoiced for r in reports].count(1) == 1 and sum(r.invoiced for r in reports) == 1
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    (invoiced,) = of_tenant(envelopes, tenant, "renewal.invoiced")
    assert invoiced.data.model_dump()["reason"] == "manual_invoicing"
    assert int(invoiced.data.model_dump()["period_start"].timestamp()) == end
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    (invoice,) = listed.json()["items"]
    assert invoice["id"] == invoiced.data.model_dump()["invoice_id"]


async def trackers(billing: BillingApp, tenant: str) -> list[dict[str, Any]]:
    listed = await billing.client.get(f"/v1/renewals?tenant_id={tenant}", headers=AGENT)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def scan_with(billing: BillingApp, stripe: StripeGateway) -> Any:
    return renewals.scan(
        db=billing.db, stripe=stripe, clock=billing.clock, window_days=30, grace_hours=24
    )


def month_before(moment: datetime) -> tuple[int, int]:
    return (12, moment.year - 1) if moment.month == 1 else (moment.month - 1, moment.year)


async def test_card_renewal_without_a_usable_payment_method_is_at_risk_until_fixed(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(billing, plan, period_days=10)
    tenant = sub["tenant_id"]
    stripe = AlteredStripe(billing.app.state.stripe, payment_methods=no_payment_method)
    first = await scan_with(billing, stripe)
    assert stripe.payment_method_reads >= 1
    assert first.at_risk >= 1
    await scan_with(billing, stripe)  # the same risk is announced once
    (tracker,) = await trackers(billing, tenant)
    assert (tracker["state"], tracker["reason"]) == ("at_risk", "no_payment_method")
    assert tracker["followup_reason"] == "no_payment_method"

    # a card is added, but it expires before the renewal: still at risk, another reason
    renews_at = datetime.fromtimestamp(end, UTC)
    stripe.payment_methods = card_expiring(*month_before(renews_at))
    await scan_with(billing, stripe)
    (tracker,) = await trackers(billing, tenant)
    assert (tracker["state"], tracker["reason"]) == ("at_risk", "payment_method_expiring")

    # a card valid well past the renewal (stripe-mock's own, 08/2030): back on track
    stripe.payment_methods = None
    await scan_with(billing, stripe)
    (tracker,) = await trackers(billing, tenant)
    assert (tracker["state"], tracker["reason"], tracker["followup_reason"]) == (
        "upcoming",
        None,
        None,
    )

    def settled(es: list[Any]) -> bool:
        return len(of_tenant(es, tenant, "billing.followup_resolved")) >= 2

    envelopes = await read_topic(billing.events_topic, until=settled)
    flow = [
        (e.type, e.data.model_dump().get("reason") or e.data.model_dump().get("resolution"))
        for e in of_tenant(envelopes, tenant)
        if e.type.startswith(("renewal.", "billing."))
    ]
    assert flow == [
        ("renewal.upcoming", None),
        ("renewal.at_risk", "no_payment_method"),
        ("billing.followup_required", None),
        ("renewal.at_risk", "payment_method_expiring"),
        ("billing.followup_resolved", "payment_method_updated"),
        ("billing.followup_required", None),
        ("billing.followup_resolved", "payment_method_updated"),
    ]
    required = [
        e.data.model_dump() for e in of_tenant(envelopes, tenant, "billing.followup_required")
    ]
    assert [r["cause"] for r in required] == ["renewal_at_risk", "renewal_at_risk"]
    assert required[0]["followup_key"] == f"renewal:{tracker['id']}:no_payment_method"
    assert required[0]["amount_due"] == 4500
    assert "expires" in required[1]["detail"]
    (at_risk, *_) = of_tenant(envelopes, tenant, "renewal.at_risk")
    assert int(at_risk.data.model_dump()["period_start"].timestamp()) == end


async def test_payment_method_risk_reads_stripes_shapes(billing: BillingApp) -> None:
    real: StripeGateway = billing.app.state.stripe
    remote = await real.retrieve_subscription_with_payment_methods("sub_shape")
    renews_at = datetime(2030, 8, 20, tzinfo=UTC)
    # stripe-mock's answer: the subscription's own card, valid through 08/2030
    assert remote["default_payment_method"]["card"]["exp_year"] == 2030
    assert payment_method_risk(remote, renews_at=renews_at) is None
    late = payment_method_risk(remote, renews_at=datetime(2030, 9, 1, tzinfo=UTC))
    assert late is not None
    assert late[0] is RenewalRiskReason.payment_method_expiring
    assert "08/2030" in late[1]

    bare = copy.deepcopy(remote)
    no_payment_method(bare)
    assert payment_method_risk(bare, renews_at=renews_at) == (
        RenewalRiskReason.no_payment_method,
        "no default payment method on the subscription or the customer",
    )
    gone = copy.deepcopy(bare)
    gone["customer"] = {"id": "cus_gone", "object": "customer", "deleted": True}
    assert payment_method_risk(gone, renews_at=renews_at) == (
        RenewalRiskReason.no_payment_method,
        "the Stripe customer was deleted",
    )
    bank = copy.deepcopy(bare)
    bank["customer"]["default_source"] = {"object": "bank_account", "status": "errored"}
    risk = payment_method_risk(bank, renews_at=renews_at)
    assert risk is not None
    assert risk[0] is RenewalRiskReason.no_payment_method
    bank["customer"]["default_source"]["status"] = "verified"
    assert payment_method_risk(bank, renews_at=renews_at) is None
    legacy_card = copy.deepcopy(bare)
    legacy_card["default_source"] = {"object": "card", "exp_month": 1, "exp_year": 2030}
    risk = payment_method_risk(legacy_card, renews_at=renews_at)
    assert risk is not None
    assert risk[0] is RenewalRiskReason.payment_method_expiring
    unexpanded = copy.deepcopy(bare)
    unexpanded["customer"]["invoice_settings"]["default_payment_method"] = "pm_123"
    assert payment_method_risk(unexpanded, renews_at=renews_at) is None


async def test_card_renewal_stripe_did_not_invoice_is_issued_after_the_grace_period(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(billing, plan, period_days=1)
    tenant = sub["tenant_id"]
    await scan(billing)
    billing.clock.advance(days=1, hours=2)  # the period started; Stripe may still be busy
    await scan(billing)
    assert [t["state"] for t in await trackers(billing, tenant)] == ["upcoming"]
    billing.clock.advance(hours=24)  # past the grace period, and still no renewal invoice
    await scan(billing)
    (tracker,) = await trackers(billing, tenant)
    assert (tracker["state"], tracker["reason"]) == ("invoiced", "automation_did_not_fire")
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    (invoiced,) = of_tenant(envelopes, tenant, "renewal.invoiced")
    assert invoiced.data.model_dump()["reason"] == "automation_did_not_fire"
    assert int(invoiced.data.model_dump()["period_start"].timestamp()) == end


async def test_an_overdue_renewal_invoice_makes_the_renewal_overdue(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, _ = await active_subscription(
        billing, plan, period_days=1, collection_method="send_invoice", days_until_due=3
    )
    tenant = sub["tenant_id"]
    await scan(billing)
    billing.clock.advance(days=1, hours=1)
    await scan(billing)  # manual invoicing: issued at once
    assert [t["state"] for t in await trackers(billing, tenant)] == ["invoiced"]
    billing.clock.advance(days=4)
    await scan(billing)
    (tracker,) = await trackers(billing, tenant)
    assert (tracker["state"], tracker["reason"]) == ("overdue", "invoice_overdue")
    overdue_only = await billing.client.get(
        f"/v1/renewals?tenant_id={tenant}&state=overdue", headers=AGENT
    )
    assert [t["id"] for t in overdue_only.json()["items"]] == [tracker["id"]]
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.at_risk"))
    )
    (at_risk,) = of_tenant(envelopes, tenant, "renewal.at_risk")
    assert at_risk.data.model_dump()["reason"] == "invoice_overdue"
    assert at_risk.data.model_dump()["invoice_id"] == tracker["invoice_id"]
    # the invoice's own follow-up covers it: no second one for the renewal
    causes = [
        e.data.model_dump()["cause"]
        for e in of_tenant(envelopes, tenant, "billing.followup_required")
    ]
    assert causes == ["invoice_overdue"]


async def test_a_renewal_ending_at_period_end_is_at_risk_until_withdrawn_or_ended(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    staying, _, _ = await active_subscription(billing, plan, period_days=12)
    leaving, _, end = await active_subscription(billing, plan, period_days=12)
    for sub in (staying, leaving):
        got = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
        canceled = await billing.client.post(
            f"/v1/subscriptions/{sub['id']}/cancel",
            json={"at_period_end": True, "reason": "budget"},
            headers=if_match(got.headers["ETag"]),
        )
        assert canceled.status_code == 200, canceled.text
    await scan(billing)
    for sub in (staying, leaving):
        (tracker,) = await trackers(billing, sub["tenant_id"])
        assert (tracker["state"], tracker["reason"]) == ("at_risk", "cancel_at_period_end")

    now = int(billing.clock.now().timestamp()) + 30
    period = {"price_id": plan["stripe_price_id"], "quantity": 3}
    withdrawn = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            staying, status="active", period_start=end - 30 * 86400, period_end=end, **period
        ),
        created=now,
    )
    ended = stripe_event(
        "customer.subscription.deleted",
        subscription_object(
            leaving,
            status="canceled",
            period_start=end - 30 * 86400,
            period_end=end,
            cancel_at_period_end=True,
            canceled_at=now,
            ended_at=now,
            **period,
        ),
        created=now,
    )
    for event in (withdrawn, ended):
        await deliver(billing.client, event)
        await processed(billing, event["id"])
    await scan(billing)
    (tracker,) = await trackers(billing, staying["tenant_id"])
    assert (tracker["state"], tracker["followup_reason"]) == ("upcoming", None)

    def resolved(tenant: str) -> Any:
        return lambda es: bool(of_tenant(es, tenant, "billing.followup_resolved"))

    for sub, resolution in (
        (staying, "cancellation_withdrawn"),
        (leaving, "subscription_canceled"),
    ):
        tenant = sub["tenant_id"]
        envelopes = await read_topic(billing.events_topic, until=resolved(tenant))
        (required,) = of_tenant(envelopes, tenant, "billing.followup_required")
        assert required.data.model_dump()["cause"] == "renewal_at_risk"
        (done,) = of_tenant(envelopes, tenant, "billing.followup_resolved")
        assert done.data.model_dump()["resolution"] == resolution
        assert done.data.model_dump()["followup_key"] == required.data.model_dump()["followup_key"]


async def test_a_renewal_after_a_scheduled_downgrade_is_sold_at_the_new_terms(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(
        billing, plan, period_days=5, collection_method="send_invoice", days_until_due=10
    )
    tenant = sub["tenant_id"]
    got = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
    down = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 2},
        headers=if_match(got.headers["ETag"]),
    )
    assert down.json()["change_effective"] == "period_end", down.text
    await scan(billing)
    billing.clock.advance(days=5, hours=1)  # the new period: billed by us (net terms)
    await scan(billing)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    upcoming, invoiced = (
        e.data.model_dump()
        for e in of_tenant(envelopes, tenant, "renewal.upcoming", "renewal.invoiced")
    )
    assert (upcoming["seats"], upcoming["amount"]) == (2, 3000)
    assert (invoiced["seats"], invoiced["amount"]) == (2, 3000)
    assert int(invoiced["period_start"].timestamp()) == end
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    (invoice,) = listed.json()["items"]
    assert invoice["amount_due"] == 3000
