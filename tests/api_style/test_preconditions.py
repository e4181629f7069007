"""One If-Match behaviour in all four services (servicekit.etag, docs/api-style.md), on a
real versioned resource of each: an update without ``If-Match`` is 428
``if-match-required``, with a stale one 412 ``etag-mismatch`` naming the current ETag,
with the ETag last read it succeeds. (The malformed-header 400 is asserted on every
operation taking ``If-Match`` in test_request_rules.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from opskit import Running

from servicekit.errors import PROBLEM_BASE, PROBLEM_JSON
from servicekit.testing import auth, deliver, known_tenant
from supportops_events.samples import sample

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

STAFF = auth("admin", subject="style-admin")


async def create(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(
        path, json=body, headers={**STAFF, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


async def ticket(running: Running) -> tuple[str, str, dict[str, Any]]:
    tenant = await known_tenant(running.app)
    made = await create(
        running.client,
        "/v1/tickets",
        {
            "tenant_id": tenant,
            "requester": {"email": "pat@example.com", "name": "Pat"},
            "channel": "email",
            "subject": "Style",
            "body": "Please help",
        },
    )
    return "PATCH", f"/v1/tickets/{made['id']}", {"priority": "high"}


async def plan(running: Running) -> tuple[str, str, dict[str, Any] | None]:
    made = await create(
        running.client,
        "/v1/plans",
        {
            "code": f"style-{uuid.uuid4().hex[:8]}",
            "name": "Style plan",
            "tier": "team",
            "unit_amount": 1000,
            "currency": "usd",
        },
    )
    return "POST", f"/v1/plans/{made['id']}/archive", None


async def tenant(running: Running) -> tuple[str, str, dict[str, Any]]:
    slug = uuid.uuid4().hex[:10]
    made = await create(
        running.client,
        "/v1/tenants",
        {
            "company_name": f"Acme {slug}",
            "domains": [f"acme-{slug}.com"],
            "plan_code": "team-monthly",
            "seats": 5,
            "billing": {
                "collection_method": "charge_automatically",
                "billing_email": f"billing@acme-{slug}.com",
            },
            "admin": {"email": f"admin@acme-{slug}.com", "name": "Ada Admin"},
        },
    )
    return "PATCH", f"/v1/tenants/{made['tenant']['id']}", {"company_name": f"Acme {slug} Ltd"}


async def bug(running: Running) -> tuple[str, str, dict[str, Any]]:
    tenant_id = await known_tenant(running.app)
    ticket_id = f"tkt_{uuid.uuid4().hex[:10]}"
    await deliver(running.app, sample("ticket.created", ticket_id=ticket_id, tenant_id=tenant_id))
    made = await create(
        running.client,
        "/v1/bugs",
        {
            "tenant_id": tenant_id,
            "title": f"Export is blank {uuid.uuid4().hex[:6]}",
            "summary": "Since the last release.",
            "steps": ["Open the page", "Click the button"],
            "expected": "It works",
            "actual": "It does not",
            "force_new": True,
            "linked_tickets": [{"ticket_id": ticket_id, "tenant_id": tenant_id}],
        },
    )
    return "PATCH", f"/v1/bugs/{made['bug']['id']}", {"summary": "Since 2.3.1."}


RESOURCES = {
    "ticket-service": ticket,
    "billing-service": plan,
    "onboarding-service": tenant,
    "escalation-service": bug,
}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + code, body
    return body


@pytest.mark.parametrize("service", sorted(RESOURCES))
async def test_if_match_missing_stale_and_current(
    services: dict[str, Running], service: str
) -> None:
    running = services[service]
    method, path, body = await RESOURCES[service](running)
    resource_path = path.removesuffix("/archive")
    read = await running.client.get(resource_path, headers=STAFF)
    assert read.status_code == 200, read.text
    current = read.headers["etag"]
    assert current.startswith('"') and current.endswith('"'), current

    async def update(**headers: str) -> httpx.Response:
        return await running.client.request(method, path, json=body, headers={**STAFF, **headers})

    missing = problem(await update(), 428, "if-match-required")
    assert missing["field"] == "If-Match"
    stale = problem(await update(**{"If-Match": '"987654"'}), 412, "etag-mismatch")
    assert stale["current_etag"] == current
    # a weakened ETag (a proxy may weaken ours) names the same version: accepted
    done = await update(**{"If-Match": f"W/{current}"})
    assert done.status_code in (200, 202), done.text
