"""Stripe state that does not depend on the order webhooks arrive in (issue 14): one
test per finding of the webhook replay campaign, on signed webhooks, the real worker,
PostgreSQL, stripe-mock and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from billing_fixtures import (
    AGENT,
    BILLING,
    BillingApp,
    StripeNow,
    charge_object,
    deliver,
    dispute_object,
    invoice_object,
    metric_value,
    of_tenant,
    sign,
    stripe_event,
    subscription_object,
)

from billing_service.invoices.repository import by_stripe_id as invoices_by_stripe_id
from billing_service.models import StripeEvent
from billing_service.webhooks.worker import StripeWorker
from servicekit.testing import eventually, read_topic
from supportops_events import Envelope

DAY = 86400


async def subscribed(billing: BillingApp, plan: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": await billing.tenant(), "plan_code": plan["code"], "seats": 3, **extra},
        headers=BILLING,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def outcome_of(billing: BillingApp, event_id: str) -> str:
    async def check() -> str:
        async with billing.db.unit_of_work() as session:
            row = await session.get(StripeEvent, event_id)
            assert row is not None
            assert row.processed_at is not None
            return str(row.outcome)

    return await eventually(check)


async def deliver_all(billing: BillingApp, *events: dict[str, Any]) -> list[str]:
    outcomes = []
    for event in events:
        assert (await deliver(billing.client, event)).status_code == 200
        outcomes.append(await outcome_of(billing, event["id"]))
    return outcomes


async def tenant_events(
    billing: BillingApp, tenant: str, until: Callable[[list[Envelope]], bool]
) -> list[Envelope]:
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: until(of_tenant(es, tenant))
    )
    return of_tenant(envelopes, tenant)


async def only_invoice(billing: BillingApp, tenant: str) -> dict[str, Any]:
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    (invoice,) = listed.json()["items"]
    return dict(invoice)


def base_time(billing: BillingApp) -> int:
    """Events a little before the worker's clock: Stripe created them, then sent them."""
    return int(billing.clock.now().timestamp()) - 600


async def test_paid_delivered_before_finalized_of_the_same_second_stays_paid(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    period = {"period_start": t, "period_end": t + 30 * DAY, "stripe_invoice_id": f"in_{tenant}"}
    finalized = stripe_event("invoice.finalized", invoice_object(sub, **period), created=t)
    paid = stripe_event(
        "invoice.paid",
        invoice_object(sub, status="paid", amount_paid=4500, **period),
        created=t,  # the same second: Stripe's timestamps have one-second grain
    )
    assert await deliver_all(billing, paid, finalized) == ["applied", "stale"]
    invoice = await only_invoice(billing, tenant)
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_remaining"]) == (
        "paid",
        4500,
        0,
    )
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "invoice.paid" for e in es)
    )
    invoice_types = [e.type for e in events if e.type.startswith("invoice.")]
    # finalized is implied by paid and announced with it, before it; the late
    # invoice.finalized has nothing left to say
    assert invoice_types == ["invoice.finalized", "invoice.paid"]


async def test_sent_arriving_after_paid_is_kept_and_announced_once(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan, collection_method="send_invoice", days_until_due=14)
    tenant, t = sub["tenant_id"], base_time(billing)
    period = {"period_start": t, "period_end": t + 30 * DAY, "stripe_invoice_id": f"in_{tenant}"}
    finalized = stripe_event("invoice.finalized", invoice_object(sub, **period), created=t)
    sent = stripe_event("invoice.sent", invoice_object(sub, **period), created=t + 1)
    paid = stripe_event(
        "invoice.paid",
        invoice_object(sub, status="paid", amount_paid=4500, **period),
        created=t + 5,
    )
    assert await deliver_all(billing, finalized, paid, sent, sent) == [
        "applied",
        "applied",
        "applied",
        "applied",  # the duplicate delivery is acknowledged, not processed again
    ]
    invoice = await only_invoice(billing, tenant)
    assert (invoice["status"], invoice["sent"]) == ("paid", True)
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "invoice.sent" for e in es)
    )
    assert [e.type for e in events if e.type.startswith("invoice.")] == [
        "invoice.finalized",
        "invoice.paid",
        "invoice.sent",
    ]


async def test_newest_subscription_state_before_the_activation_announces_both_facts(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    shape = {"price_id": plan["stripe_price_id"], "period_start": t, "period_end": t + 30 * DAY}
    activated = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", quantity=3, **shape),
        created=t,
    )
    ends = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", quantity=3, cancel_at_period_end=True, **shape),
        created=t + 10,
    )
    assert await deliver_all(billing, ends, activated) == ["applied", "stale"]
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "subscription.canceled" for e in es)
    )
    facts = [e.type for e in events if e.type != "subscription.created"]
    assert facts == ["subscription.activated", "subscription.canceled"]
    (canceled,) = [e for e in events if e.type == "subscription.canceled"]
    assert int(canceled.data.model_dump()["ends_at"].timestamp()) == t + 30 * DAY
    state = (await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
    assert (state["status"], state["cancel_at_period_end"]) == ("active", True)


@pytest.fixture
async def flaky_worker(billing: BillingApp) -> AsyncIterator[set[str]]:
    """The app's worker with a processor that fails the events whose ids are in the
    returned set (a database hiccup, a bug fixed by a redeploy…)."""
    worker: StripeWorker = billing.app.state.stripe_worker
    real = worker.process
    failing: set[str] = set()

    async def process(session: Any, *, event: dict[str, Any], **kwargs: Any) -> str:
        if event["id"] in failing:
            raise RuntimeError("the database went away")
        return await real(session, event=event, **kwargs)

    worker.process = process
    try:
        yield failing
    finally:
        worker.process = real


async def test_worker_does_not_move_past_a_failed_event_of_the_same_object(
    billing: BillingApp, plan: dict[str, Any], flaky_worker: set[str]
) -> None:
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    shape = {"price_id": plan["stripe_price_id"], "period_start": t, "period_end": t + 30 * DAY}
    activated = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", quantity=4, **shape),
        created=t,
    )
    more_seats = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", quantity=6, **shape),
        created=t + 5,
    )
    metrics_before = (await billing.client.get("/metrics")).text
    flaky_worker.add(activated["id"])
    await deliver(billing.client, activated)
    await deliver(billing.client, more_seats)

    def failed(times: int) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            async with billing.db.unit_of_work() as session:
                first = await session.get(StripeEvent, activated["id"])
                assert first is not None
                assert first.attempts >= times
                assert first.processed_at is None
                assert "database went away" in str(first.last_error)

        return check

    await eventually(failed(1))
    billing.clock.advance(seconds=1)  # past the first backoff: it is retried
    await eventually(failed(2))
    async with billing.db.unit_of_work() as session:
        later = await session.get(StripeEvent, more_seats["id"])
        assert later is not None
        assert later.processed_at is None  # waits behind the failing event of its object
    metrics = (await billing.client.get("/metrics")).text
    failed = "stripe_events_failed_total"
    labels = {"event_type": "customer.subscription.updated"}
    assert (
        metric_value(metrics, failed, **labels)
        >= metric_value(metrics_before, failed, **labels) + 2
    )
    assert metric_value(metrics, "stripe_events_pending_age_seconds") > 0

    flaky_worker.clear()  # the cause went away
    billing.clock.advance(seconds=600)  # past any backoff
    assert await outcome_of(billing, activated["id"]) == "applied"  # not made "stale"
    assert await outcome_of(billing, more_seats["id"]) == "applied"
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "subscription.updated" for e in es)
    )
    assert [(e.type, e.data.model_dump()["seats"]) for e in events[1:]] == [
        ("subscription.activated", 4),
        ("subscription.updated", 6),
    ]


async def test_impossible_period_is_rejected_counted_and_followed_up(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    # stripe-mock answers the creation with a period that ends 30 years before it starts
    created = (await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
    assert created["current_period_start"] <= created["current_period_end"], created
    good = {"price_id": plan["stripe_price_id"], "period_start": t, "period_end": t + 30 * DAY}
    activated = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", quantity=3, **good),
        created=t,
    )
    impossible = {**good, "period_start": t + 900 * DAY, "period_end": t - 9000 * DAY}
    ends = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub, status="active", quantity=3, cancel_at_period_end=True, **impossible
        ),
        created=t + 10,
    )
    before = (await billing.client.get("/metrics")).text
    assert await deliver_all(billing, activated, ends) == ["applied", "applied"]
    state = (await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
    assert (state["current_period_start"], state["current_period_end"]) == (
        created_at(t),
        created_at(t + 30 * DAY),
    )
    events = await tenant_events(
        billing,
        tenant,
        lambda es: (
            any(e.type == "billing.followup_required" for e in es)
            and any(e.type == "subscription.canceled" for e in es)
        ),
    )
    (followup,) = [e for e in events if e.type == "billing.followup_required"]
    assert followup.data.model_dump()["cause"] == "stripe_data_invalid"
    (canceled,) = [e for e in events if e.type == "subscription.canceled"]
    # the cancellation ends service at the period end we know, not in the year 2000
    assert int(canceled.data.model_dump()["ends_at"].timestamp()) == t + 30 * DAY
    after = (await billing.client.get("/metrics")).text
    name, labels = (
        "stripe_invalid_data_total",
        {
            "object": "subscription",
            "problem": "period_ends_before_start",
        },
    )
    assert metric_value(after, name, **labels) >= metric_value(before, name, **labels) + 1


def created_at(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def stripe_now(billing: BillingApp) -> AsyncIterator[StripeNow]:
    worker: StripeWorker = billing.app.state.stripe_worker
    real = worker.stripe
    fake = StripeNow(real)
    worker.stripe = fake
    try:
        yield fake
    finally:
        worker.stripe = real


@pytest.mark.parametrize("order", ["six_first", "four_first"])
async def test_same_second_states_stripe_must_settle_are_fetched_from_stripe(
    billing: BillingApp, plan: dict[str, Any], stripe_now: StripeNow, order: str
) -> None:
    sub = await subscribed(billing, plan)
    t = base_time(billing)
    shape = {"price_id": plan["stripe_price_id"], "period_start": t, "period_end": t + 30 * DAY}
    four, six = (
        stripe_event(
            "customer.subscription.updated",
            subscription_object(sub, status="active", quantity=seats, **shape),
            created=t,
        )
        for seats in (4, 6)
    )
    stripe_now.current[sub["stripe_subscription_id"]] = six["data"]["object"]
    first, second = (six, four) if order == "six_first" else (four, six)
    await deliver_all(billing, first, second)
    state = (await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
    assert state["seats"] == 6  # Stripe's current state, whichever arrived last
    assert sub["stripe_subscription_id"] in stripe_now.reads


async def test_webhook_metrics_count_received_verified_rejected_and_processed(
    billing: BillingApp,
) -> None:
    before = (await billing.client.get("/metrics")).text
    event = stripe_event("payout.paid", {"id": "po_metrics", "object": "payout"}, created=1)
    await deliver(billing.client, event, signature=sign("{}", secret="whsec_wrong"))
    await billing.client.post("/v1/stripe/webhooks", content=b"{}")
    await deliver(billing.client, event)
    assert await outcome_of(billing, event["id"]) == "ignored"
    after = (await billing.client.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert grew("stripe_webhooks_received_total") == 3
    assert grew("stripe_webhooks_verified_total") == 1
    assert grew("stripe_webhooks_rejected_total", reason="invalid_signature") == 1
    assert grew("stripe_webhooks_rejected_total", reason="missing_signature") == 1
    assert grew("stripe_events_processed_total", event_type="payout.paid", outcome="ignored") == 1


async def test_a_stripe_answer_with_impossible_data_is_not_trusted_to_settle_a_tie(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    """stripe-mock answers the re-fetch with its canned subscription (ending at period
    end, a period ending before it starts): the arrival order settles the tie instead,
    and no cancellation is invented."""
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    shape = {"price_id": plan["stripe_price_id"], "period_start": t, "period_end": t + 30 * DAY}
    four, six = (
        stripe_event(
            "customer.subscription.updated",
            subscription_object(sub, status="active", quantity=seats, **shape),
            created=t,
        )
        for seats in (4, 6)
    )
    assert await deliver_all(billing, four, six) == ["applied", "applied"]
    state = (await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
    assert (state["seats"], state["cancel_at_period_end"]) == (6, False)
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "subscription.updated" for e in es)
    )
    assert [e.type for e in events] == [
        "subscription.created",
        "subscription.activated",
        "subscription.updated",
    ]


async def test_a_dispute_closed_before_its_opening_arrived_is_announced_once_each(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    charge = charge_object(sub, charge_id=f"ch_{tenant}", amount=4500)
    charge["metadata"] = {"tenant_id": tenant}
    opened = dispute_object(
        dispute_id=f"dp_{tenant}", charge_id=charge["id"], amount=4500, status="needs_response"
    )
    opened["charge"] = charge  # expanded: the dispute's tenant is found from it
    closed = {**opened, "status": "won"}
    assert await deliver_all(
        billing,
        stripe_event("charge.dispute.closed", closed, created=t),
        stripe_event("charge.dispute.created", opened, created=t),  # same second, late
    ) == ["applied", "stale"]
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "dispute.closed" for e in es)
    )
    disputes = [e for e in events if not e.type.startswith("subscription.")]
    # the opening is implied and announced first; no follow-up for a dispute already won
    assert [e.type for e in disputes] == ["dispute.opened", "dispute.closed"]
    assert disputes[1].data.model_dump()["status"] == "won"


async def test_an_older_attempts_failure_arriving_late_is_not_announced_again(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    """Found by the model test: attempt 2's failure, then attempt 1's of the same second,
    announced two failures both saying ``attempt_count`` 2."""
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    period = {"period_start": t, "period_end": t + 30 * DAY, "stripe_invoice_id": f"in_{tenant}"}
    first, second = (
        stripe_event(
            "invoice.payment_failed",
            invoice_object(sub, attempt_count=attempt, **period),
            created=t,
        )
        for attempt in (1, 2)
    )
    assert await deliver_all(billing, second, first) == ["applied", "applied"]
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "billing.followup_required" for e in es)
    )
    assert [
        (e.type, e.data.model_dump().get("attempt_count"))
        for e in events
        if e.type.startswith(("invoice.", "billing."))
    ] == [
        ("invoice.finalized", 2),
        ("invoice.payment_failed", 2),
        ("billing.followup_required", 2),
    ]
    assert (await only_invoice(billing, tenant))["attempt_count"] == 2


def same_second_drafts(
    sub: dict[str, Any], t: int, invoice_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two snapshots of one invoice, the same second and status, that disagree on the
    amount (a draft edited twice within a second): their payloads cannot settle which is
    newer, so the worker re-fetches the invoice from Stripe."""
    period = {"period_start": t, "period_end": t + 30 * DAY, "stripe_invoice_id": invoice_id}
    first, second = (
        stripe_event(
            "invoice.created",
            invoice_object(sub, status="draft", amount_due=amount, **period),
            created=t,
        )
        for amount in (4000, 6000)
    )
    return first, second


async def invoice_row(billing: BillingApp, stripe_invoice_id: str) -> dict[str, Any]:
    async with billing.db.unit_of_work() as session:
        invoice = await invoices_by_stripe_id(session, stripe_invoice_id)
        assert invoice is not None
        return {
            "status": invoice.status,
            "amount_due": invoice.amount_due,
            "due_date": invoice.due_date,
            "period_start": invoice.period_start,
            "period_end": invoice.period_end,
        }


async def test_same_second_invoice_snapshots_are_settled_by_the_invoice_fetched_from_stripe(
    billing: BillingApp, plan: dict[str, Any], stripe_now: StripeNow
) -> None:
    """The re-fetch path of invoices (issue 14): the state applied is Stripe's current
    one (here a third amount and a due date neither webhook carried), and the retrieve
    really happened (through stripe-mock, and counted)."""
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    invoice_id = f"in_{tenant}"
    first, second = same_second_drafts(sub, t, invoice_id)
    current = invoice_object(
        sub,
        stripe_invoice_id=invoice_id,
        status="draft",
        amount_due=7000,
        due_date=t + 14 * DAY,
        period_start=t,
        period_end=t + 30 * DAY,
    )
    stripe_now.current[invoice_id] = current
    before = (await billing.client.get("/metrics")).text
    assert await deliver_all(billing, first, second) == ["applied", "applied"]
    assert stripe_now.reads == [invoice_id]  # one retrieve for the one unsettled tie
    after = (await billing.client.get("/metrics")).text
    name, labels = "stripe_objects_refetched_total", {"object": "invoice"}
    assert metric_value(after, name, **labels) == metric_value(before, name, **labels) + 1
    state = await invoice_row(billing, invoice_id)
    assert (state["status"], state["amount_due"], state["due_date"]) == (
        "draft",
        7000,
        datetime.fromtimestamp(t + 14 * DAY, UTC),
    )
    listed = await only_invoice(billing, tenant)
    assert (listed["amount_due"], listed["amount_remaining"]) == (7000, 7000)


async def test_a_refetched_invoice_with_an_impossible_period_is_rejected_and_followed_up(
    billing: BillingApp, plan: dict[str, Any], stripe_now: StripeNow
) -> None:
    """Stripe's answer to the re-fetch is checked like a subscription's: a period ending
    before it starts is rejected (logged, counted, a follow-up), the invoice keeps the
    state it had."""
    sub = await subscribed(billing, plan)
    tenant, t = sub["tenant_id"], base_time(billing)
    invoice_id = f"in_{tenant}"
    first, second = same_second_drafts(sub, t, invoice_id)
    stripe_now.current[invoice_id] = invoice_object(
        sub,
        stripe_invoice_id=invoice_id,
        status="draft",
        amount_due=7000,
        period_start=t + 900 * DAY,
        period_end=t - 9000 * DAY,
    )
    before = (await billing.client.get("/metrics")).text
    assert await deliver_all(billing, first) == ["applied"]
    kept = await invoice_row(billing, invoice_id)
    assert await deliver_all(billing, second) == ["rejected"]
    assert stripe_now.reads == [invoice_id]
    assert await invoice_row(billing, invoice_id) == kept  # nothing of the answer applied
    assert kept["amount_due"] == 4000
    after = (await billing.client.get("/metrics")).text
    name, labels = (
        "stripe_invalid_data_total",
        {"object": "invoice", "problem": "period_ends_before_start"},
    )
    assert metric_value(after, name, **labels) == metric_value(before, name, **labels) + 1
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "billing.followup_required" for e in es)
    )
    (followup,) = [e for e in events if e.type == "billing.followup_required"]
    data = followup.data.model_dump()
    assert data["cause"] == "stripe_data_invalid"
    assert data["invoice_id"] is not None
    assert invoice_id in str(data["detail"])
    # a retry of the same answer opens no second follow-up
    again = stripe_event("invoice.created", second["data"]["object"], created=t)
    assert await deliver_all(billing, again) == ["rejected"]
    events = await tenant_events(
        billing, tenant, lambda es: any(e.type == "billing.followup_required" for e in es)
    )
    assert len([e for e in events if e.type == "billing.followup_required"]) == 1
    assert await invoice_row(billing, invoice_id) == kept
