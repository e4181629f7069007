"""Bad input to every endpoint is a 4xx problem naming the problem, never a 500.

The cases are keyed by route; a route of the app without a case fails the test, so a new
endpoint cannot be added without saying how it refuses bad input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from billing_fixtures import ADMIN, AGENT, BILLING, BillingApp

UNKNOWN = str(uuid.uuid4())
ANY = {"If-Match": "*"}


@dataclass
class Case:
    what: str
    path: str
    headers: dict[str, str] = field(default_factory=lambda: dict(BILLING))
    json: Any = None
    content: str | None = None
    params: dict[str, str] | None = None
    status: int | None = None
    """The exact status expected, when there is one answer only."""


CASES: dict[tuple[str, str], list[Case]] = {
    ("POST", "/v1/plans"): [
        Case("not JSON", "/v1/plans", ADMIN, content="{"),
        Case("a list", "/v1/plans", ADMIN, json=[1, 2]),
        Case(
            "wrong types",
            "/v1/plans",
            ADMIN,
            json={"code": "a b", "name": "", "tier": 3, "unit_amount": "lots", "currency": 1},
        ),
        Case(
            "amount beyond bounds",
            "/v1/plans",
            ADMIN,
            json={
                "code": "big",
                "name": "Big",
                "tier": "team",
                "unit_amount": 10**30,
                "currency": "usd",
                "interval": "fortnight",
            },
        ),
        Case(
            "an Idempotency-Key too long",
            "/v1/plans",
            {**ADMIN, "Idempotency-Key": "k" * 400},
            json={"code": "x"},
        ),
        Case("not an admin", "/v1/plans", BILLING, json={}, status=403),
    ],
    ("GET", "/v1/plans"): [
        Case("limit zero", "/v1/plans", AGENT, params={"limit": "0"}),
        Case("limit not a number", "/v1/plans", AGENT, params={"limit": "many"}),
        Case("a forged cursor", "/v1/plans", AGENT, params={"cursor": "not-a-cursor"}),
        Case("archived not a boolean", "/v1/plans", AGENT, params={"archived": "perhaps"}),
        Case("anonymous", "/v1/plans", {}, status=401),
    ],
    ("GET", "/v1/plans/{plan_id}"): [
        Case("not a uuid", "/v1/plans/1;drop", AGENT),
        Case("unknown", f"/v1/plans/{UNKNOWN}", AGENT, status=404),
    ],
    ("POST", "/v1/plans/{plan_id}/archive"): [
        Case("not a uuid", "/v1/plans/xyz/archive", {**ADMIN, **ANY}),
        Case("unknown", f"/v1/plans/{UNKNOWN}/archive", {**ADMIN, **ANY}, status=404),
        Case("If-Match too long", f"/v1/plans/{UNKNOWN}/archive", {**ADMIN, "If-Match": "9" * 300}),
    ],
    ("POST", "/v1/subscriptions"): [
        Case("not JSON", "/v1/subscriptions", content="tenant=1"),
        Case(
            "out of bounds",
            "/v1/subscriptions",
            json={
                "tenant_id": "",
                "plan_code": "x",
                "seats": 10**12,
                "days_until_due": 9999,
                "trial_days": -1,
                "collection_method": "barter",
            },
        ),
        Case(
            "unknown plan",
            "/v1/subscriptions",
            json={"tenant_id": "ten_bad_input", "plan_code": "no-such-plan", "seats": 1},
            status=422,
        ),
        Case("strings for numbers", "/v1/subscriptions", json={"seats": "three"}),
        Case(
            "another tenant's token",
            "/v1/subscriptions",
            {"Authorization": BILLING["Authorization"].replace("Bearer ", "Bearer x")},
            json={"tenant_id": "t", "plan_code": "x", "seats": 1},
            status=401,
        ),
    ],
    ("GET", "/v1/subscriptions"): [
        Case("unknown status", "/v1/subscriptions", AGENT, params={"status": "zombie"}),
        Case("unknown sync state", "/v1/subscriptions", AGENT, params={"sync_state": "lost"}),
        Case("limit too large", "/v1/subscriptions", AGENT, params={"limit": "100000"}),
        Case("tenant id too long", "/v1/subscriptions", AGENT, params={"tenant_id": "t" * 500}),
    ],
    ("GET", "/v1/subscriptions/{subscription_id}"): [
        Case("not a uuid", "/v1/subscriptions/42", AGENT),
        Case("unknown", f"/v1/subscriptions/{UNKNOWN}", AGENT, status=404),
    ],
    ("POST", "/v1/subscriptions/{subscription_id}/change"): [
        Case(
            "nothing to change", f"/v1/subscriptions/{UNKNOWN}/change", {**BILLING, **ANY}, json={}
        ),
        Case(
            "wrong types",
            f"/v1/subscriptions/{UNKNOWN}/change",
            {**BILLING, **ANY},
            json={"seats": "many", "plan_code": ""},
        ),
        Case(
            "unknown",
            f"/v1/subscriptions/{UNKNOWN}/change",
            {**BILLING, **ANY},
            json={"seats": 2},
            status=404,
        ),
        Case("not a uuid", "/v1/subscriptions/abc/change", {**BILLING, **ANY}, json={"seats": 2}),
        Case(
            "agents cannot change",
            f"/v1/subscriptions/{UNKNOWN}/change",
            {**AGENT, **ANY},
            json={"seats": 2},
            status=403,
        ),
    ],
    ("POST", "/v1/subscriptions/{subscription_id}/cancel"): [
        Case(
            "not a boolean",
            f"/v1/subscriptions/{UNKNOWN}/cancel",
            {**BILLING, **ANY},
            json={"at_period_end": "perhaps"},
        ),
        Case(
            "reason too long",
            f"/v1/subscriptions/{UNKNOWN}/cancel",
            {**BILLING, **ANY},
            json={"reason": "r" * 600},
        ),
        Case(
            "unknown",
            f"/v1/subscriptions/{UNKNOWN}/cancel",
            {**BILLING, **ANY},
            json={},
            status=404,
        ),
    ],
    ("GET", "/v1/invoices"): [
        Case("overdue not a boolean", "/v1/invoices", AGENT, params={"overdue": "very"}),
        Case("subscription not a uuid", "/v1/invoices", AGENT, params={"subscription_id": "1"}),
        Case("unknown status", "/v1/invoices", AGENT, params={"status": "lost"}),
        Case("a forged cursor", "/v1/invoices", AGENT, params={"cursor": "eyJ4IjoxfQ"}),
    ],
    ("GET", "/v1/invoices/{invoice_id}"): [
        Case("not a uuid", "/v1/invoices/in_123", AGENT),
        Case("unknown", f"/v1/invoices/{UNKNOWN}", AGENT, status=404),
    ],
    ("POST", "/v1/invoices/{invoice_id}/send"): [
        Case("not a uuid", "/v1/invoices/in_123/send", {**BILLING, **ANY}),
        Case("unknown", f"/v1/invoices/{UNKNOWN}/send", {**BILLING, **ANY}, status=404),
    ],
    ("POST", "/v1/invoices/{invoice_id}/void"): [
        Case("not a uuid", "/v1/invoices/in_123/void", {**BILLING, **ANY}),
        Case("unknown", f"/v1/invoices/{UNKNOWN}/void", {**BILLING, **ANY}, status=404),
        Case("agents cannot void", f"/v1/invoices/{UNKNOWN}/void", {**AGENT, **ANY}, status=403),
    ],
    ("POST", "/v1/refunds"): [
        # A charge is resolved to its tenant before anything else (428: test_partial_refund…)
        Case(
            "a charge of no invoice of ours",
            "/v1/refunds",
            json={"stripe_charge_id": "ch_1"},
            status=422,
        ),
        Case(
            "bad fields",
            "/v1/refunds",
            {**BILLING, "Idempotency-Key": "bad-refund"},
            json={"stripe_charge_id": "x", "amount": 0, "invoice_id": "nope", "reason": "why"},
        ),
        Case(
            "unknown invoice",
            "/v1/refunds",
            {**BILLING, "Idempotency-Key": "bad-refund-2"},
            json={"stripe_charge_id": "ch_123", "invoice_id": UNKNOWN},
            status=422,
        ),
    ],
    ("GET", "/v1/refunds"): [
        Case("limit negative", "/v1/refunds", params={"limit": "-1"}),
        Case("agents cannot list refunds", "/v1/refunds", AGENT, status=403),
    ],
    ("GET", "/v1/refunds/{refund_id}"): [
        Case("not a uuid", "/v1/refunds/re_1"),
        Case("unknown", f"/v1/refunds/{UNKNOWN}", status=404),
    ],
    ("POST", "/v1/credit-notes"): [
        Case(
            "bad fields",
            "/v1/credit-notes",
            {**BILLING, "Idempotency-Key": "bad-cn"},
            json={"invoice_id": "x", "amount": -5, "memo": ""},
        ),
        Case(
            "unknown invoice",
            "/v1/credit-notes",
            {**BILLING, "Idempotency-Key": "bad-cn-2"},
            json={"invoice_id": UNKNOWN, "amount": 5},
            status=422,
        ),
    ],
    ("GET", "/v1/credit-notes"): [
        Case("a forged cursor", "/v1/credit-notes", params={"cursor": "%%%"}),
    ],
    ("GET", "/v1/renewals"): [
        Case("unknown state", "/v1/renewals", AGENT, params={"state": "bogus"}),
    ],
    ("POST", "/v1/renewals/scan"): [
        Case("not an admin", "/v1/renewals/scan", BILLING, status=403),
        Case("anonymous", "/v1/renewals/scan", {}, status=401),
    ],
    ("POST", "/v1/stripe/webhooks"): [
        Case("no signature", "/v1/stripe/webhooks", {}, content="{}", status=400),
        Case(
            "a garbage signature",
            "/v1/stripe/webhooks",
            {"Stripe-Signature": "t=abc,v1=zz"},
            content="\u0000\u00ff",
            status=400,
        ),
    ],
    # the kit's live event stream (servicekit.live); a valid request streams forever
    ("GET", "/v1/events"): [
        Case("anonymous", "/v1/events", {}, status=401),
        Case("a Last-Event-ID too long", "/v1/events", {**AGENT, "Last-Event-ID": "x" * 201}),
    ],
}
OPEN_ROUTES = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"}


def app_routes(billing: BillingApp) -> set[tuple[str, str]]:
    """Every operation the app documents (its OpenAPI), health and metrics aside."""
    paths: dict[str, dict[str, Any]] = billing.app.openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN_ROUTES
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def test_every_endpoint_has_bad_input_cases(billing: BillingApp) -> None:
    assert len(app_routes(billing)) >= 20
    assert app_routes(billing) - set(CASES) == set()
    assert set(CASES) - app_routes(billing) == set()  # no case for a route that is gone


async def test_bad_input_is_a_4xx_problem_never_a_500(billing: BillingApp) -> None:
    failures = []
    for (method, _), cases in CASES.items():
        for case in cases:
            headers = dict(case.headers)
            if case.content is not None:
                headers.setdefault("Content-Type", "application/json")
            response = await billing.client.request(
                method,
                case.path,
                headers=headers,
                json=case.json if case.content is None else None,
                content=case.content.encode("utf-8", "surrogatepass") if case.content else None,
                params=case.params,
            )
            expected = case.status is None or response.status_code == case.status
            problem = response.headers.get("content-type", "").startswith(
                "application/problem+json"
            )
            body = response.json() if problem else {}
            if not (
                400 <= response.status_code < 500
                and expected
                and problem
                and body.get("status") == response.status_code
                and body.get("type", "").startswith("https://supportops.dev/problems/")
            ):
                failures.append((method, case.what, response.status_code, response.text[:200]))
    assert failures == []
