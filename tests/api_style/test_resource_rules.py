"""The rest of "one API style" on real resources of all four services (docs/api-style.md):
one 409 body for a refused transition, explicit ``null`` in a merge patch honoured (clear, or
422 naming the field), and one list order (newest first, ``sort`` validated, keyset cursors
right in both directions)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from opskit import Running
from sqlalchemy import select
from test_preconditions import STAFF, bug, create, plan, problem, tenant, ticket

from servicekit.tables import outbox
from servicekit.testing import known_tenant

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]


async def etag_of(running: Running, path: str) -> str:
    read = await running.client.get(path, headers=STAFF)
    assert read.status_code == 200, read.text
    return read.headers["etag"]


async def send(
    running: Running, method: str, path: str, body: dict[str, Any] | None, *, etag_from: str
) -> httpx.Response:
    headers = {**STAFF, "If-Match": await etag_of(running, etag_from)}
    if method == "POST":
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return await running.client.request(method, path, json=body, headers=headers)


# --- 1. one 409 transition body --------------------------------------------------------------


async def refused_ticket(running: Running) -> tuple[httpx.Response, str, str]:
    _, path, _ = await ticket(running)
    # a new ticket cannot be closed before it is solved
    return await send(running, "PATCH", path, {"status": "closed"}, etag_from=path), "new", "closed"


async def refused_subscription(running: Running) -> tuple[httpx.Response, str, str]:
    _, plan_path, _ = await plan(running)
    code = (await running.client.get(plan_path.removesuffix("/archive"), headers=STAFF)).json()
    sub = await create(
        running.client,
        "/v1/subscriptions",
        {"tenant_id": await known_tenant(running.app), "plan_code": code["code"], "seats": 3},
    )
    path = f"/v1/subscriptions/{sub['id']}"
    cancel = {"at_period_end": False}
    first = await send(running, "POST", f"{path}/cancel", cancel, etag_from=path)
    if first.status_code == 409:  # not on Stripe yet: nothing may be asked of it
        return first, sub["status"], "canceled"
    assert first.status_code == 200, first.text
    again = await send(running, "POST", f"{path}/cancel", cancel, etag_from=path)
    return again, "canceled", "canceled"


async def refused_tenant(running: Running) -> tuple[httpx.Response, str, str]:
    _, path, _ = await tenant(running)
    # an onboarding tenant cannot be suspended (it is not live)
    body = {"status": "suspended"}
    return await send(running, "POST", f"{path}/status", body, etag_from=path), *(
        "onboarding",
        "suspended",
    )


async def refused_bug(running: Running) -> tuple[httpx.Response, str, str]:
    _, path, _ = await bug(running)
    body = {"to": "verified"}
    refused = await send(running, "POST", f"{path}/transitions", body, etag_from=path)
    return refused, "reported", "verified"


REFUSALS = {
    "ticket-service": refused_ticket,
    "billing-service": refused_subscription,
    "onboarding-service": refused_tenant,
    "escalation-service": refused_bug,
}


@pytest.mark.parametrize("service", sorted(REFUSALS))
async def test_a_refused_transition_has_the_one_409_body(
    services: dict[str, Running], service: str
) -> None:
    response, current, requested = await REFUSALS[service](services[service])
    body = problem(response, 409, "invalid-transition")
    assert body["current_status"] == current
    assert body["requested_status"] == requested
    assert isinstance(body["allowed"], list)
    assert requested not in body["allowed"]
    assert "previous" not in body and "requested" not in body


# --- 2. explicit nulls ----------------------------------------------------------------------


async def test_null_assignee_unassigns_the_ticket(services: dict[str, Running]) -> None:
    running = services["ticket-service"]
    agent = f"style-{uuid.uuid4().hex[:8]}"
    made = await running.client.post("/v1/agents", json={"id": agent, "name": agent}, headers=STAFF)
    assert made.status_code == 201, made.text
    _, path, _ = await ticket(running)
    assigned = await send(running, "PATCH", path, {"assignee_id": agent}, etag_from=path)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee_id"] == agent
    cleared = await send(running, "PATCH", path, {"assignee_id": None}, etag_from=path)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["assignee_id"] is None
    detail = (await running.client.get(path, headers=STAFF)).json()
    assert detail["assignee_id"] is None
    # the unassignment is on the ticket's record
    actions = [entry.get("action") for entry in detail["timeline"]]
    assert "unassigned" in actions, actions
    # and announced (with the event it commits with), so a live console learns of it
    async with running.app.state.db.unit_of_work() as session:
        rows = await session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "ticket.unassigned")
        )
        announced = [json.loads(r.payload) for r in rows]
    mine = [d for d in announced if d["ticket_id"] == detail["id"]]
    assert len(mine) == 1, announced
    assert mine[0]["previous_assignee_id"] == agent, mine


async def nullable_ticket(running: Running) -> tuple[str, str, Any, str]:
    _, path, _ = await ticket(running)
    return path, "queue", None, "status"


async def nullable_tenant(running: Running) -> tuple[str, str, Any, str]:
    _, path, _ = await tenant(running)
    return path, "configuration", {}, "company_name"


async def nullable_bug(running: Running) -> tuple[str, str, Any, str]:
    _, path, _ = await bug(running)
    return path, "severity", "medium", "title"


NULLABLE = {
    "ticket-service": nullable_ticket,
    "onboarding-service": nullable_tenant,
    "escalation-service": nullable_bug,
}
"""Per service with a PATCH (billing has none): a member ``null`` clears (to what), and
one that cannot be cleared."""


@pytest.mark.parametrize("service", sorted(NULLABLE))
async def test_null_clears_or_is_a_422_naming_the_field(
    services: dict[str, Running], service: str
) -> None:
    running = services[service]
    path, clearable, cleared_to, required = await NULLABLE[service](running)
    refused = await send(running, "PATCH", path, {required: None}, etag_from=path)
    body = problem(refused, 422, "validation-error")
    assert required in {e["field"] for e in body["errors"]}, body
    done = await send(running, "PATCH", path, {clearable: None}, etag_from=path)
    assert done.status_code == 200, done.text
    value = done.json()[clearable]
    if isinstance(cleared_to, dict):  # an object back to its defaults
        assert isinstance(value, dict)
    else:
        assert value == cleared_to


# --- 3. one order ---------------------------------------------------------------------------


async def tickets_list(running: Running) -> tuple[str, list[str]]:
    tenant_id = await known_tenant(running.app)
    ids = []
    for n in range(3):
        made = await create(
            running.client,
            "/v1/tickets",
            {
                "tenant_id": tenant_id,
                "requester": {"email": "pat@example.com", "name": "Pat"},
                "channel": "email",
                "subject": f"Order {n}",
                "body": "Please help",
            },
        )
        ids.append(made["id"])
    return f"/v1/tickets?tenant_id={tenant_id}", ids


async def subscriptions_list(running: Running) -> tuple[str, list[str]]:
    _, plan_path, _ = await plan(running)
    code = (await running.client.get(plan_path.removesuffix("/archive"), headers=STAFF)).json()
    ids = []
    for _ in range(3):  # one subscription per tenant
        tenant_id = await known_tenant(running.app)
        body = {"tenant_id": tenant_id, "plan_code": code["code"], "seats": 3}
        ids.append((await create(running.client, "/v1/subscriptions", body))["id"])
    return "/v1/subscriptions", ids


async def tenants_list(running: Running) -> tuple[str, list[str]]:
    ids = []
    for _ in range(3):
        _, path, _ = await tenant(running)
        ids.append(path.rsplit("/", 1)[-1])
    return "/v1/tenants", ids


async def users_list(running: Running) -> tuple[str, list[str]]:
    _, path, _ = await tenant(running)  # five seats: the first admin and three invited
    ids = []
    for n in range(3):
        body = {"email": f"user{n}-{uuid.uuid4().hex[:6]}@example.com", "name": f"User {n}"}
        made = await create(running.client, f"{path}/users", body)
        ids.append(made["user"]["id"] if "user" in made else made["id"])
    return f"{path}/users", ids


async def bugs_list(running: Running) -> tuple[str, list[str]]:
    ids = []
    for _ in range(3):
        _, path, _ = await bug(running)
        ids.append(path.rsplit("/", 1)[-1])
    return "/v1/bugs", ids


LISTS = {
    "ticket-service/tickets": tickets_list,
    "billing-service/subscriptions": subscriptions_list,
    "onboarding-service/tenants": tenants_list,
    "onboarding-service/users": users_list,
    "escalation-service/bugs": bugs_list,
}

COUNTED = {"onboarding-service/tenants", "onboarding-service/users"}
"""The lists with ``total`` (small tables); the others leave it out."""


async def walk(running: Running, path: str, **query: str) -> list[str]:
    """Every id of the list, one small page at a time (cursor after cursor)."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {**query, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await running.client.get(path, params=params, headers=STAFF)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("listing", sorted(LISTS))
async def test_lists_are_newest_first_with_a_validated_sort(
    services: dict[str, Running], listing: str
) -> None:
    running = services[listing.split("/")[0]]
    path, ids = await LISTS[listing](running)
    newest_first = await walk(running, path)
    oldest_first = await walk(running, path, sort="created_at")
    explicit = await walk(running, path, sort="-created_at")
    mine = set(ids)
    assert [i for i in newest_first if i in mine] == ids[::-1]
    assert [i for i in oldest_first if i in mine] == ids
    # keyset pages in both directions: every row once, the one order reversed
    assert len(newest_first) == len(set(newest_first))
    assert oldest_first == newest_first[::-1]
    assert explicit == newest_first
    # a cursor continues the order it was issued in, never the other one
    first = await running.client.get(path, params={"limit": "1"}, headers=STAFF)
    # ``total`` where counting is cheap: every row of the list, whatever the page size
    expected_total = len(newest_first) if listing in COUNTED else None
    assert first.json().get("total") == expected_total
    crossed = {"limit": "1", "sort": "created_at", "cursor": first.json()["next_cursor"]}
    refused = await running.client.get(path, params=crossed, headers=STAFF)
    assert problem(refused, 400, "invalid-cursor")["field"] == "cursor"
    unknown = await running.client.get(path, params={"sort": "-colour"}, headers=STAFF)
    body = problem(unknown, 400, "invalid-sort")
    assert body["field"] == "sort" and "colour" in body["detail"], body
