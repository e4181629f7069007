"""Invoices (list, send, void), refunds and credit notes against stripe-mock."""

from __future__ import annotations

import time
import uuid
from typing import Any

from billing_fixtures import (
    AGENT,
    BILLING,
    BillingApp,
    deliver,
    if_match,
    invoice_object,
    new_tenant,
    of_tenant,
)
from billing_fixtures import stripe_event as make_event

from servicekit.testing import auth, eventually, read_topic

NOW = int(time.time())


async def invoice_in_state(
    billing: BillingApp, plan: dict[str, Any], *, event_type: str, status: str, **extra: Any
) -> dict[str, Any]:
    tenant = await billing.tenant()
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 3},
        headers=BILLING,
    )
    sub = response.json()
    obj = invoice_object(sub, status=status, period_start=NOW, period_end=NOW + 30 * 86400, **extra)
    await deliver(billing.client, make_event(event_type, obj, created=NOW))

    async def listed() -> dict[str, Any]:
        got = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
        items = got.json()["items"]
        assert items
        return dict(items[0])

    return await eventually(listed)


async def test_invoice_filters_send_and_void(billing: BillingApp, plan: dict[str, Any]) -> None:
    overdue = await invoice_in_state(
        billing, plan, event_type="invoice.finalized", status="open", due_date=NOW - 86400
    )
    tenant = overdue["tenant_id"]
    found = await billing.client.get(f"/v1/invoices?tenant_id={tenant}&overdue=true", headers=AGENT)
    assert [i["id"] for i in found.json()["items"]] == [overdue["id"]]
    not_overdue = await billing.client.get(
        f"/v1/invoices?tenant_id={tenant}&overdue=false", headers=AGENT
    )
    assert not_overdue.json()["items"] == []
    read = await billing.client.get(f"/v1/invoices/{overdue['id']}", headers=AGENT)
    etag = read.headers["ETag"]
    assert etag == f'"{read.json()["version"]}"'
    no_etag = await billing.client.post(f"/v1/invoices/{overdue['id']}/send", headers=BILLING)
    assert no_etag.status_code == 428
    assert no_etag.json()["type"].endswith("/if-match-required")
    stale = await billing.client.post(
        f"/v1/invoices/{overdue['id']}/void", headers=if_match('"999"')
    )
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == etag
    sent = await billing.client.post(
        f"/v1/invoices/{overdue['id']}/send",
        headers={**if_match(etag), "Idempotency-Key": "s-1"},
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["requested"] == "send"
    voided = await billing.client.post(f"/v1/invoices/{overdue['id']}/void", headers=if_match(etag))
    assert voided.status_code == 202

    # Stripe's webhook changes the invoice: the ETag read before no longer matches
    sub = await billing.client.get(f"/v1/subscriptions/{overdue['subscription_id']}", headers=AGENT)
    sent_event = make_event(
        "invoice.sent",
        invoice_object(
            sub.json(),
            stripe_invoice_id=overdue["stripe_invoice_id"],
            period_start=NOW,
            period_end=NOW + 30 * 86400,
            due_date=NOW - 86400,
        ),
        created=NOW + 5,
    )
    await deliver(billing.client, sent_event)

    async def marked_sent() -> str:
        got = await billing.client.get(f"/v1/invoices/{overdue['id']}", headers=AGENT)
        assert got.json()["sent"] is True
        return got.headers["ETag"]

    newer = await eventually(marked_sent)
    assert newer != etag
    late = await billing.client.post(f"/v1/invoices/{overdue['id']}/send", headers=if_match(etag))
    assert late.status_code == 412
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "invoice.finalized"))
    )
    assert (
        of_tenant(envelopes, tenant, "invoice.finalized")[0].data.model_dump()["status"] == "open"
    )

    paid = await invoice_in_state(
        billing, plan, event_type="invoice.paid", status="paid", amount_paid=4500
    )
    refused = await billing.client.post(f"/v1/invoices/{paid['id']}/void", headers=if_match("*"))
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/invalid-transition")
    assert {k: refused.json()[k] for k in ("current_status", "requested_status", "allowed")} == {
        "current_status": "paid",
        "requested_status": "void",
        "allowed": ["credited", "refunded"],
    }
    missing = await billing.client.post(f"/v1/invoices/{uuid.uuid4()}/send", headers=if_match("*"))
    assert missing.status_code == 404
    agent = await billing.client.post(f"/v1/invoices/{paid['id']}/send", headers=AGENT)
    assert agent.status_code == 403
    bad_filter = await billing.client.get("/v1/invoices?status=lost", headers=AGENT)
    assert bad_filter.status_code == 422
    other = await billing.client.get(
        f"/v1/invoices/{paid['id']}", headers=auth("agent", tenant_id=new_tenant())
    )
    assert other.status_code == 404


async def test_partial_refund_and_credit_note(billing: BillingApp, plan: dict[str, Any]) -> None:
    paid = await invoice_in_state(
        billing, plan, event_type="invoice.paid", status="paid", amount_paid=4500
    )
    tenant = paid["tenant_id"]
    assert paid["stripe_charge_id"].startswith("ch_")
    body = {
        "stripe_charge_id": paid["stripe_charge_id"],
        "invoice_id": paid["id"],
        "amount": 1000,
        "reason": "requested_by_customer",
    }
    no_key = await billing.client.post("/v1/refunds", json=body, headers=BILLING)
    assert no_key.status_code == 428
    assert no_key.json()["type"].endswith("/idempotency-key-required")
    too_much = await billing.client.post(
        "/v1/refunds", json={**body, "amount": 9999}, headers={**BILLING, "Idempotency-Key": "r0"}
    )
    assert too_much.status_code == 422
    headers = {**BILLING, "Idempotency-Key": f"refund-{tenant}"}
    refund = await billing.client.post("/v1/refunds", json=body, headers=headers)
    assert refund.status_code == 201, refund.text
    assert refund.json()["stripe_id"].startswith("re_")
    assert refund.json()["amount"] == 1000
    replay = await billing.client.post("/v1/refunds", json=body, headers=headers)
    assert replay.json()["id"] == refund.json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = await billing.client.post("/v1/refunds", json={**body, "amount": 5}, headers=headers)
    assert reused.status_code == 422
    note = await billing.client.post(
        "/v1/credit-notes",
        json={"invoice_id": paid["id"], "amount": 500, "reason": "order_change"},
        headers={**BILLING, "Idempotency-Key": f"cn-{tenant}"},
    )
    assert note.status_code == 201, note.text
    assert note.json()["stripe_id"].startswith("cn_")
    bad_reason = await billing.client.post(
        "/v1/credit-notes",
        json={"invoice_id": paid["id"], "amount": 500, "reason": "because"},
        headers={**BILLING, "Idempotency-Key": "cn-bad"},
    )
    assert bad_reason.status_code == 422
    listed = await billing.client.get(f"/v1/refunds?tenant_id={tenant}", headers=BILLING)
    assert [r["id"] for r in listed.json()["items"]] == [refund.json()["id"]]
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "credit_note.issued"))
    )
    assert [
        e.type for e in of_tenant(envelopes, tenant, "refund.issued", "credit_note.issued")
    ] == [
        "refund.issued",
        "credit_note.issued",
    ]


async def test_overdue_invoices_are_announced_once_per_extra_day(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    due = int(billing.clock.now().timestamp()) - 3 * 86400 - 60
    late = await invoice_in_state(
        billing, plan, event_type="invoice.finalized", status="open", due_date=due
    )
    tenant = late["tenant_id"]
    admin = auth("admin")
    for _ in range(2):  # the second scan on the same day announces nothing new
        assert (await billing.client.post("/v1/renewals/scan", headers=admin)).status_code == 200
    billing.clock.advance(days=1)
    assert (await billing.client.post("/v1/renewals/scan", headers=admin)).status_code == 200

    def enough(es: list[Any]) -> bool:
        return len(of_tenant(es, tenant, "invoice.overdue")) >= 2

    envelopes = await read_topic(billing.events_topic, until=enough)
    overdue = of_tenant(envelopes, tenant, "invoice.overdue")
    assert [e.data.model_dump()["days_overdue"] for e in overdue] == [3, 4]
    followups = of_tenant(envelopes, tenant, "billing.followup_required")
    assert [f.data.model_dump()["cause"] for f in followups] == ["invoice_overdue"] * 2
    assert followups[-1].data.model_dump()["days_overdue"] == 4


async def test_a_refund_names_a_charge_of_its_own_tenant(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    """#13: a tenant-confined token refunded another tenant's charge (no invoice_id) and
    the refund was recorded under the caller's tenant. The charge is resolved through our
    invoices: another tenant's is a 404, one we do not know a 422."""
    victim = await invoice_in_state(
        billing, plan, event_type="invoice.paid", status="paid", amount_paid=4500
    )
    mine = await invoice_in_state(
        billing, plan, event_type="invoice.paid", status="paid", amount_paid=4500
    )
    for role in ("billing", "admin"):
        attacker = {
            **auth(role, tenant_id=mine["tenant_id"]),
            "Idempotency-Key": f"steal-{role}-{uuid.uuid4().hex[:6]}",
        }
        stolen = await billing.client.post(
            "/v1/refunds",
            json={"stripe_charge_id": victim["stripe_charge_id"], "amount": 1},
            headers=attacker,
        )
        assert stolen.status_code == 404, stolen.text
        assert stolen.headers["content-type"].startswith("application/problem+json")
        assert victim["stripe_charge_id"] not in stolen.text
    unknown = await billing.client.post(
        "/v1/refunds",
        json={"stripe_charge_id": "ch_nobodyknowsthis", "amount": 1},
        headers={**BILLING, "Idempotency-Key": f"unknown-{uuid.uuid4().hex[:6]}"},
    )
    assert unknown.status_code == 422, unknown.text
    assert [e["field"] for e in unknown.json()["errors"]] == ["stripe_charge_id"]
    # Without invoice_id, the refund is recorded for the tenant whose invoice it paid.
    own = await billing.client.post(
        "/v1/refunds",
        json={"stripe_charge_id": mine["stripe_charge_id"], "amount": 100},
        headers={
            **auth("billing", tenant_id=mine["tenant_id"]),
            "Idempotency-Key": f"own-{uuid.uuid4().hex[:6]}",
        },
    )
    assert own.status_code == 201, own.text
    assert (own.json()["tenant_id"], own.json()["invoice_id"]) == (mine["tenant_id"], mine["id"])
    victims_refunds = await billing.client.get(
        "/v1/refunds", params={"tenant_id": victim["tenant_id"]}, headers=BILLING
    )
    assert victims_refunds.json()["items"] == []


async def test_subscriptions_only_for_tenants_onboarding_announced(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    """#13: billing created subscriptions for ``tenant_id: "not-a-uuid"``."""
    for tenant_id, why in (("not-a-uuid", "not a UUID"), (str(uuid.uuid4()), "never announced")):
        refused = await billing.client.post(
            "/v1/subscriptions",
            json={"tenant_id": tenant_id, "plan_code": plan["code"], "seats": 1},
            headers=BILLING,
        )
        assert refused.status_code == 422, (why, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["tenant_id"]
    known = await billing.tenant()
    accepted = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": known, "plan_code": plan["code"], "seats": 1},
        headers=BILLING,
    )
    assert accepted.status_code in (201, 202), accepted.text
