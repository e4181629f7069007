"""Tenants: creation, domains, configuration schema, ETags, listing and the status machine."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from onboarding_fixtures import OPERATOR, tenant_body

from servicekit.testing import TestClock, auth, payload
from supportops_events import onboarding as ev


async def test_create_tenant_emits_what_billing_needs(
    client: httpx.AsyncClient, published: Any
) -> None:
    body = tenant_body(
        billing={
            "collection_method": "send_invoice",
            "billing_email": "ap@globex.example",
            "days_until_due": 30,
        },
        seats=12,
    )
    response = await client.post("/v1/tenants", json=body, headers=OPERATOR)

    assert response.status_code == 201, response.text
    created = response.json()
    tenant = created["tenant"]
    assert tenant["status"] == "onboarding"
    assert tenant["seat_limit"] == 12
    assert tenant["configuration"]["timezone"] == "Europe/Berlin"
    assert response.headers["ETag"] == f'"{tenant["version"]}"'
    admin = created["admin_invitation"]
    assert admin["user"]["status"] == "invited"
    assert admin["user"]["role"] == "admin"
    assert len(admin["invitation_token"]) > 20

    events = await published(tenant["id"], "tenant.created", "user.invited")
    data = payload(next(e for e in events if e.type == "tenant.created"), ev.TenantCreated)
    assert data.plan_code == "team-monthly"
    assert data.seats == 12
    assert data.collection_method == "send_invoice"
    assert data.days_until_due == 30
    assert data.billing_email == "ap@globex.example"
    assert data.admin_email == body["admin"]["email"]
    assert data.domains == body["domains"]
    assert data.status == "pending"


async def test_idempotency_key_replays_the_first_tenant(client: httpx.AsyncClient) -> None:
    body = tenant_body()
    headers = {**OPERATOR, "Idempotency-Key": "create-" + body["domains"][0]}
    first = await client.post("/v1/tenants", json=body, headers=headers)
    again = await client.post("/v1/tenants", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["tenant"]["id"] == first.json()["tenant"]["id"]
    other = await client.post("/v1/tenants", json=tenant_body(), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")


async def test_taken_domain_is_a_409_naming_it_case_insensitively(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    first = await new_tenant()
    taken = first["tenant"]["domains"][0]
    body = tenant_body(domains=["free-" + taken, taken.upper()])

    response = await client.post("/v1/tenants", json=body, headers=OPERATOR)

    assert response.status_code == 409
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/domain-taken")
    assert problem["domain"] == taken


async def test_bad_configuration_key_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    for configuration, field in [
        ({"timezone": "Mars/Olympus"}, "configuration.timezone"),
        ({"colour": "blue"}, "configuration.colour"),
        ({"data_region": "moon"}, "configuration.data_region"),
        ({"feature_flags": {"Bad Flag": True}}, "configuration.feature_flags.Bad Flag.[key]"),
    ]:
        response = await client.post(
            "/v1/tenants", json=tenant_body(configuration=configuration), headers=OPERATOR
        )
        assert response.status_code == 422, configuration
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f.startswith(field.split(".[")[0]) for f in fields), (configuration, fields)


async def test_bad_input_is_a_4xx_problem_never_a_500(client: httpx.AsyncClient) -> None:
    bad_bodies = [
        tenant_body(domains=[]),
        tenant_body(domains=["not a domain"]),
        tenant_body(seats=0),
        tenant_body(company_name="x" * 500),
        tenant_body(
            billing={
                "collection_method": "charge_automatically",
                "billing_email": "a@b.co",
                "days_until_due": 30,
            }
        ),
        tenant_body(company_name="nul\u0000byte"),
        tenant_body(billing={"collection_method": "cash", "billing_email": "a@b.co"}),
        tenant_body(admin={"email": "nobody"}),
    ]
    for body in bad_bodies:
        response = await client.post("/v1/tenants", json=body, headers=OPERATOR)
        assert response.status_code == 422, body
        assert response.json()["errors"]
    assert (await client.get("/v1/tenants/not-a-uuid", headers=OPERATOR)).status_code == 422
    assert (await client.get("/v1/tenants?cursor=%%%", headers=OPERATOR)).status_code == 400
    assert (await client.get("/v1/tenants?status=nope", headers=OPERATOR)).status_code == 422
    assert (await client.post("/v1/tenants", json=tenant_body())).status_code == 401
    forbidden = await client.post("/v1/tenants", json=tenant_body(), headers=auth("agent"))
    assert forbidden.status_code == 403
    scoped = auth("onboarding", tenant_id=str(uuid.uuid4()))
    assert (await client.post("/v1/tenants", json=tenant_body(), headers=scoped)).status_code == 403


async def test_update_needs_the_current_etag(client: httpx.AsyncClient, new_tenant: Any) -> None:
    tenant = (await new_tenant())["tenant"]
    url = f"/v1/tenants/{tenant['id']}"
    read = await client.get(url, headers=OPERATOR)
    etag = read.headers["ETag"]

    missing = await client.patch(url, json={"company_name": "New"}, headers=OPERATOR)
    assert missing.status_code == 428
    updated = await client.patch(
        url, json={"company_name": "Acme Renamed"}, headers={**OPERATOR, "If-Match": etag}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["company_name"] == "Acme Renamed"
    assert updated.headers["ETag"] != etag
    stale = await client.patch(
        url, json={"company_name": "Lost update"}, headers={**OPERATOR, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert (await client.get(url, headers=OPERATOR)).json()["company_name"] == "Acme Renamed"


async def test_list_filters_and_cursor(
    client: httpx.AsyncClient, new_tenant: Any, clock: TestClock
) -> None:
    plan = "plan-" + tenant_body()["domains"][0][5:15]
    ids = []
    for _ in range(3):
        ids.append((await new_tenant(plan_code=plan))["tenant"]["id"])
        clock.advance(seconds=1)  # each tenant a second after the one before

    first = await client.get(f"/v1/tenants?plan_code={plan}&limit=2", headers=OPERATOR)
    assert first.status_code == 200
    page = first.json()
    assert page["next_cursor"]
    second = await client.get(
        f"/v1/tenants?plan_code={plan}&limit=2&cursor={page['next_cursor']}", headers=OPERATOR
    )
    seen = [t["id"] for t in page["items"]] + [t["id"] for t in second.json()["items"]]
    assert seen == ids[::-1]  # newest first, the default order of every list
    one = (await client.get(f"/v1/tenants/{ids[1]}", headers=OPERATOR)).json()
    by_name = await client.get(
        "/v1/tenants", params={"q": one["company_name"].upper()}, headers=OPERATOR
    )
    assert [t["id"] for t in by_name.json()["items"]] == [ids[1]]
    by_domain = await client.get("/v1/tenants", params={"q": one["domains"][0]}, headers=OPERATOR)
    assert [t["id"] for t in by_domain.json()["items"]] == [ids[1]]
    by_status = await client.get(
        "/v1/tenants", params={"plan_code": plan, "status": "active"}, headers=OPERATOR
    )
    assert by_status.json()["items"] == []


async def test_configuration_applied_later_ticks_the_step(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    body = tenant_body()
    del body["configuration"]
    created = await client.post("/v1/tenants", json=body, headers=OPERATOR)
    tenant_id = created.json()["tenant"]["id"]
    checklist = f"/v1/tenants/{tenant_id}/onboarding"

    def configured(response: httpx.Response) -> bool:
        return bool(
            next(s for s in response.json()["steps"] if s["step"] == "configuration_applied")[
                "done"
            ]
        )

    assert not configured(await client.get(checklist, headers=OPERATOR))
    bad = await client.patch(
        f"/v1/tenants/{tenant_id}",
        json={"configuration": {"sso": {"enabled": True}}},
        headers={**OPERATOR, "If-Match": created.headers["ETag"]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("configuration.sso")
    applied = await client.patch(
        f"/v1/tenants/{tenant_id}",
        json={"configuration": {"data_region": "eu", "feature_flags": {"beta_inbox": True}}},
        headers={**OPERATOR, "If-Match": created.headers["ETag"]},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["configuration"]["data_region"] == "eu"
    assert configured(await client.get(checklist, headers=OPERATOR))


async def test_tenant_scoped_token_sees_only_its_tenant(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    mine = (await new_tenant())["tenant"]["id"]
    other = (await new_tenant())["tenant"]["id"]
    scoped = auth("agent", tenant_id=mine)

    assert (await client.get(f"/v1/tenants/{mine}", headers=scoped)).status_code == 200
    assert (await client.get(f"/v1/tenants/{other}", headers=scoped)).status_code == 404
    listed = (await client.get("/v1/tenants", headers=scoped)).json()["items"]
    assert [t["id"] for t in listed] == [mine]


async def test_status_machine_and_forbidden_transitions(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    url = f"/v1/tenants/{tenant_id}/status"

    async def go(status: str) -> httpx.Response:
        return await client.post(url, json={"status": status}, headers=OPERATOR)

    forbidden = await go("suspended")
    assert forbidden.status_code == 409
    problem = forbidden.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["allowed"] == ["active", "churned"]

    assert (await go("active")).json()["status"] == "active"
    assert (await go("suspended")).json()["status"] == "suspended"
    assert (await go("active")).json()["status"] == "active"
    churned = await client.post(
        url, json={"status": "churned", "reason": "moved to a competitor"}, headers=OPERATOR
    )
    assert churned.json()["status"] == "churned"
    assert churned.json()["churn_reason"] == "moved to a competitor"
    for target in ("active", "suspended", "onboarding", "churned"):
        terminal = await go(target)
        assert terminal.status_code == 409, target
        assert terminal.json()["allowed"] == []

    events = await published(tenant_id, "tenant.churned")
    types = [e.type for e in events if e.type.startswith("tenant.")]
    assert types == [
        "tenant.created",
        "tenant.activated",
        "tenant.suspended",
        "tenant.reactivated",
        "tenant.churned",
    ]
    data = payload(next(e for e in events if e.type == "tenant.churned"), ev.TenantChurned)
    assert data.status == "churned"
    assert data.reason == "moved to a competitor"


async def test_stale_if_match_on_status_change_is_412(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    response = await client.post(
        f"/v1/tenants/{tenant_id}/status",
        json={"status": "active"},
        headers={**OPERATOR, "If-Match": '"999"'},
    )
    assert response.status_code == 412
    assert response.json()["type"].endswith("/etag-mismatch")


async def test_a_tenant_claim_that_is_no_uuid_sees_nothing(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    await new_tenant()
    scoped = auth("admin", tenant_id="not-a-uuid")

    for query in ("", "?status=onboarding", "?status=churned&plan_code=team-monthly&q=acme"):
        listed = await client.get(f"/v1/tenants{query}", headers=scoped)
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == []
    stuck = await client.get("/v1/onboarding/stuck", headers=scoped)
    assert stuck.status_code == 200
    assert stuck.json()["items"] == []
    scan = await client.post("/v1/scans/inactive-users", headers=scoped)
    assert scan.status_code == 200
    assert scan.json()["marked"] == []
