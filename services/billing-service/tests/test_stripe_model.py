"""Model-based test of Stripe's webhooks (issue 14): Hypothesis generates a subscription's
life — created, activated, seats changed, its first invoice created / finalized / sent /
failed / paid or voided, cancel at period end, deleted — as signed Stripe events with
same-second timestamps, and delivers them in an order it chooses, with duplicates. The
final subscription and invoice must be what in-order delivery gives (the last state of
each), and every fact must be announced exactly once as a CloudEvent.

Each example is a new tenant and new Stripe ids on the module's app (no new database);
each delivery is processed before the next one arrives, so the delivery order is the
processing order. Runs on the real worker, PostgreSQL, stripe-mock and Kafka."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from billing_fixtures import (
    AGENT,
    BILLING,
    BillingApp,
    StripeNow,
    deliver,
    invoice_object,
    stripe_event,
    subscription_object,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from billing_service.models import StripeEvent
from billing_service.webhooks.worker import StripeWorker
from servicekit.tables import outbox
from servicekit.testing import eventually, read_topic

DAY = 86400
SEATS = 3
UNIT_AMOUNT = 1500
MAX_EXAMPLES = int(os.environ.get("STRIPE_MODEL_EXAMPLES", "30"))
"""Examples per run; each is ~10-15 webhooks (about 0.5 s)."""
PHASES = (
    [Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("CI")
    else [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]
)
"""In CI a failure is reported as found (shrinking one can take minutes, past the
per-test timeout); locally it is shrunk to a minimal life and delivery."""


@dataclass
class Life:
    """A subscription's life on Stripe, as the events Stripe sent (in causal order)."""

    steps: list[tuple[str, str, dict[str, Any]]]
    """(Stripe event type, object kind, the object's state then) in the order it happened."""
    gaps: list[int]
    """Seconds between a step and the one before (0: the same second)."""
    facts: Counter[str] = field(default_factory=Counter)
    """The facts in-order delivery announces (each exactly once)."""
    failures: int = 0


@st.composite
def lives(draw: st.DrawFn) -> Life:
    sub_chain: list[tuple[str, dict[str, Any]]] = [
        ("customer.subscription.created", {"status": "incomplete", "quantity": SEATS}),
        ("customer.subscription.updated", {"status": "active", "quantity": SEATS}),
    ]
    facts: Counter[str] = Counter({"subscription.activated": 1})
    seats = SEATS
    for new_seats in draw(st.lists(st.integers(1, 9), max_size=2)):
        seats = new_seats
        sub_chain.append(("customer.subscription.updated", {"status": "active", "quantity": seats}))
    ending = draw(
        st.sampled_from(["goes_on", "at_period_end", "at_period_end_then_deleted", "deleted"])
    )
    if ending.startswith("at_period_end"):
        state = {"status": "active", "quantity": seats, "cancel_at_period_end": True}
        sub_chain.append(("customer.subscription.updated", state))
    if ending.endswith("deleted"):
        cape = ending != "deleted"
        sub_chain.append(
            (
                "customer.subscription.deleted",
                {"status": "canceled", "quantity": seats, "cancel_at_period_end": cape},
            )
        )
    if ending != "goes_on":
        facts["subscription.canceled"] = 1

    invoice_chain: list[tuple[str, dict[str, Any]]] = [
        ("invoice.created", {"status": "draft"}),
        ("invoice.finalized", {"status": "open"}),
    ]
    facts["invoice.finalized"] = 1
    if draw(st.booleans()):
        invoice_chain.append(("invoice.sent", {"status": "open"}))
        facts["invoice.sent"] = 1
    failures = draw(st.integers(0, 2))
    for attempt in range(1, failures + 1):
        invoice_chain.append(
            ("invoice.payment_failed", {"status": "open", "attempt_count": attempt})
        )
    outcome = draw(st.sampled_from(["paid", "voided", "open"]))
    if outcome == "paid":
        paid = {"status": "paid", "attempt_count": failures + 1, "amount_paid": SEATS * UNIT_AMOUNT}
        invoice_chain.append(("invoice.paid", paid))
        facts["invoice.paid"] = 1
    elif outcome == "voided":
        invoice_chain.append(("invoice.voided", {"status": "void", "attempt_count": failures}))
        facts["invoice.voided"] = 1
    # the invoice is born once the subscription is created; the rest interleaves freely
    rest_sub, rest_invoice = sub_chain[1:], invoice_chain
    interleaving = draw(st.permutations([True] * len(rest_sub) + [False] * len(rest_invoice)))
    steps = [(sub_chain[0][0], "subscription", sub_chain[0][1])]
    sub_iter, invoice_iter = iter(rest_sub), iter(rest_invoice)
    for is_sub in interleaving:
        kind, state = next(sub_iter) if is_sub else next(invoice_iter)
        steps.append((kind, "subscription" if is_sub else "invoice", state))
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=len(steps), max_size=len(steps)))
    return Life(steps=steps, gaps=gaps, facts=facts, failures=failures)


FIXED_LIFE = Life(
    steps=[
        ("customer.subscription.created", "subscription", {"status": "incomplete", "quantity": 3}),
        ("invoice.created", "invoice", {"status": "draft"}),
        ("customer.subscription.updated", "subscription", {"status": "active", "quantity": 3}),
        ("invoice.finalized", "invoice", {"status": "open"}),
        ("invoice.payment_failed", "invoice", {"status": "open", "attempt_count": 1}),
        ("invoice.paid", "invoice", {"status": "paid", "attempt_count": 2, "amount_paid": 4500}),
        (
            "customer.subscription.updated",
            "subscription",
            {"status": "active", "quantity": 3, "cancel_at_period_end": True},
        ),
    ],
    gaps=[0, 0, 1, 0, 1, 0, 2],
    facts=Counter(
        {
            "subscription.activated": 1,
            "subscription.canceled": 1,
            "invoice.finalized": 1,
            "invoice.paid": 1,
        }
    ),
    failures=1,
)


@dataclass
class Delivery:
    order: list[int]
    """Indexes into the life's events; an index twice is a duplicate delivery."""


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> Delivery:
    """Any order, or one of the orders a replay campaign finds hardest: newest first
    (Stripe's retries of old events arriving last), or in order but each object's
    newest event first."""
    duplicates = draw(st.lists(st.integers(0, count - 1), max_size=3))
    events = list(range(count))
    order = draw(
        st.one_of(
            st.permutations(events + duplicates),
            st.just(events[::-1] + duplicates),
            st.just(events[-1:] + events[:-1] + duplicates),
        )
    )
    return Delivery(order=order)


def stripe_events(
    life: Life, *, sub: dict[str, Any], price_id: str, start: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The life as Stripe events, and Stripe's current state of each object at its end."""
    invoice_id = f"in_{sub['tenant_id']}"
    period = {"period_start": start, "period_end": start + 30 * DAY}
    events, current, t = [], {}, start
    for (event_type, kind, state), gap in zip(life.steps, life.gaps, strict=True):
        t += gap
        if kind == "subscription":
            obj = subscription_object(
                sub,
                status=state["status"],
                price_id=price_id,
                quantity=state["quantity"],
                cancel_at_period_end=state.get("cancel_at_period_end", False),
                canceled_at=t if state["status"] == "canceled" else None,
                ended_at=t if state["status"] == "canceled" else None,
                **period,
            )
            current[sub["stripe_subscription_id"]] = obj
        else:
            obj = invoice_object(
                sub,
                stripe_invoice_id=invoice_id,
                status=state["status"],
                amount_due=SEATS * UNIT_AMOUNT,
                amount_paid=state.get("amount_paid", 0),
                attempt_count=state.get("attempt_count", 0),
                **period,
            )
            obj["number"] = None if state["status"] == "draft" else f"N-{sub['tenant_id']}"
            current[invoice_id] = obj
        events.append(stripe_event(event_type, obj, created=t))
    return events, current


async def published(billing: BillingApp, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    """What billing published for the tenant, in order (the outbox rows the relay sends)."""
    async with billing.db.unit_of_work() as session:
        rows = await session.execute(
            sa.select(outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.key == tenant)
            .order_by(outbox.c.id)
        )
        return [(str(t), json.loads(p)) for t, p in rows]


class ModelRun:
    def __init__(self, billing: BillingApp, plan: dict[str, Any], stripe_now: StripeNow) -> None:
        self.billing, self.plan, self.stripe_now = billing, plan, stripe_now
        self.worker: StripeWorker = billing.app.state.stripe_worker
        self.tenants: dict[str, int] = {}

    async def subscribe(self) -> dict[str, Any]:
        response = await self.billing.client.post(
            "/v1/subscriptions",
            json={
                "tenant_id": await self.billing.tenant(),
                "plan_code": self.plan["code"],
                "seats": SEATS,
            },
            headers=BILLING,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def deliver_and_process(self, event: dict[str, Any]) -> None:
        """Deliver, then process before the next one arrives: arrival order is
        processing order, as it is when Stripe's deliveries are spread out."""
        assert (await deliver(self.billing.client, event)).status_code == 200
        await self.worker.process_stored_events()

        async def done() -> None:
            async with self.billing.db.unit_of_work() as session:
                row = await session.get(StripeEvent, event["id"])
                assert row is not None
                assert row.processed_at is not None, (row.type, row.last_error)

        await eventually(done)

    async def run(self, life: Life, delivery: Delivery) -> None:
        sub = await self.subscribe()
        tenant = sub["tenant_id"]
        start = int(self.billing.clock.now().timestamp()) - 3600
        events, current = stripe_events(
            life, sub=sub, price_id=self.plan["stripe_price_id"], start=start
        )
        self.stripe_now.current.update(current)
        for index in delivery.order:
            await self.deliver_and_process(events[index])
        await self.check(life, sub=sub, final=current)
        self.tenants[tenant] = len(await published(self.billing, tenant))

    async def check(
        self, life: Life, *, sub: dict[str, Any], final: dict[str, dict[str, Any]]
    ) -> None:
        client, tenant = self.billing.client, sub["tenant_id"]
        last_sub = final[sub["stripe_subscription_id"]]
        last_invoice = final[f"in_{tenant}"]
        # the final state is the last state of each object, whatever the order
        state = (await client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)).json()
        assert (state["status"], state["seats"], state["cancel_at_period_end"]) == (
            last_sub["status"],
            last_sub["items"]["data"][0]["quantity"],
            last_sub["cancel_at_period_end"],
        )
        listed = await client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
        (invoice,) = listed.json()["items"]
        was_sent = any(kind == "invoice.sent" for kind, _, _ in life.steps)
        assert (
            invoice["status"],
            invoice["amount_paid"],
            invoice["attempt_count"],
            invoice["sent"],
        ) == (
            last_invoice["status"],
            last_invoice["amount_paid"],
            last_invoice["attempt_count"],
            was_sent,
        )
        # every fact exactly once
        announced = await published(self.billing, tenant)
        types = [t for t, _ in announced]
        facts = Counter(t for t in types if t in FACTS)
        assert facts == life.facts + Counter({"subscription.created": 1}), types
        # a payment failure is news only while the invoice can still be paid: once per
        # attempt, for a later attempt than any announced, never after paid or voided
        failed = [d["attempt_count"] for t, d in announced if t == "invoice.payment_failed"]
        assert len(failed) == len(set(failed)) <= life.failures, types
        for end in ("invoice.paid", "invoice.voided"):
            if end in types:
                assert "invoice.payment_failed" not in types[types.index(end) :], types
                assert "billing.followup_required" not in types[types.index(end) :], types
        # consumers applying the newest subscription.* state end where Stripe did
        (last_data,) = [d for t, d in announced if t.startswith("subscription.")][-1:]
        assert (last_data["status"], last_data["seats"], last_data["cancel_at_period_end"]) == (
            state["status"],
            state["seats"],
            state["cancel_at_period_end"],
        ), types


FACTS = {
    "subscription.created",
    "subscription.activated",
    "subscription.canceled",
    "invoice.finalized",
    "invoice.sent",
    "invoice.paid",
    "invoice.voided",
}


@pytest.fixture(scope="module")
async def model(billing: BillingApp, plan: dict[str, Any]) -> Any:
    worker: StripeWorker = billing.app.state.stripe_worker
    real = worker.stripe
    stripe_now = StripeNow(real)
    worker.stripe = stripe_now  # Stripe's answer when the worker must re-fetch an object
    try:
        yield ModelRun(billing, plan, stripe_now)
    finally:
        worker.stripe = real


@pytest.mark.timeout(600)
@settings(
    max_examples=MAX_EXAMPLES,
    phases=PHASES,
    deadline=None,
    derandomize=True,  # the same examples on every run (CI and locally): reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_delivery_order_gives_the_in_order_state_and_each_fact_once(
    model: ModelRun, data: st.DataObject
) -> None:
    life = data.draw(lives(), label="life")
    delivery = data.draw(deliveries(len(life.steps)), label="delivery")
    await model.run(life, delivery)


async def test_the_announced_facts_reached_kafka(model: ModelRun) -> None:
    """What the model test saw in the outbox went out on the topic, once each."""
    if not model.tenants:  # run alone: one life, delivered newest first
        await model.run(FIXED_LIFE, Delivery(order=list(reversed(range(len(FIXED_LIFE.steps))))))
    expected = dict(model.tenants)
    envelopes = await read_topic(
        model.billing.events_topic,
        until=lambda es: (
            Counter(e.tenant_id for e in es if e.tenant_id in expected) == Counter(expected)
        ),
        timeout=60,
    )
    seen = Counter(e.tenant_id for e in envelopes if e.tenant_id in expected)
    assert seen == Counter(expected)
    assert len({e.id for e in envelopes}) == len(envelopes)
