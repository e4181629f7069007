"""Every PATCH of the ticket-service is an RFC 7396 JSON Merge Patch: what is not named is
kept, ``null`` removes (back to the default), nested objects merge, both media types."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from ticket_service_testkit import ADMIN, AGENT, Service, error_fields, open_ticket, problem, tenant

MERGE_PATCH = "application/merge-patch+json"


async def merge_patch(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    headers: dict[str, str] = ADMIN,
    content_type: str = MERGE_PATCH,
    etag: str | None = None,
) -> httpx.Response:
    if etag is None:  # read it, as a client would (SLA policies have no single read)
        etag = (await client.get(url, headers=headers)).headers["ETag"]
    return await client.patch(
        url,
        content=json.dumps(body),
        headers={**headers, "If-Match": etag, "Content-Type": content_type},
    )


def a_rule() -> dict[str, Any]:
    return {
        "name": f"merge {tenant()}",
        "position": 900_000,
        "conditions": {
            "channels": ["chat"],
            "keywords": ["refund"],
            "requester_domains": ["acme.example"],
        },
        "actions": {"category": "billing", "priority": "high", "queue": "vip", "tags": ["vip"]},
    }


@pytest.mark.parametrize("content_type", [MERGE_PATCH, "application/json"])
async def test_a_rule_patch_merges_conditions_and_actions(svc: Service, content_type: str) -> None:
    rule = a_rule()
    created = await svc.client.post("/v1/triage-rules", json=rule, headers=ADMIN)
    assert created.status_code == 201, created.text
    url = f"/v1/triage-rules/{created.json()['id']}"

    updated = await merge_patch(
        svc.client,
        url,
        {"conditions": {"keywords": ["chargeback"]}, "actions": {"priority": None}},
        content_type=content_type,
    )

    assert updated.status_code == 200, updated.text
    out = updated.json()
    assert out["name"] == rule["name"]
    assert out["conditions"]["keywords"] == ["chargeback"]
    assert out["conditions"]["channels"] == ["chat"]  # kept
    assert out["conditions"]["requester_domains"] == ["acme.example"]  # kept
    assert out["actions"] == {
        "category": "billing",
        "subcategory": None,
        "priority": None,  # removed: the ticket's priority is left as it is
        "queue": "vip",
        "tags": ["vip"],
    }
    stored = (await svc.client.get(url, headers=AGENT)).json()
    assert stored["conditions"] == out["conditions"]
    assert stored["actions"] == out["actions"]


async def test_an_invalid_merged_rule_is_a_422_naming_the_field(svc: Service) -> None:
    created = await svc.client.post("/v1/triage-rules", json=a_rule(), headers=ADMIN)
    url = f"/v1/triage-rules/{created.json()['id']}"

    # valid alone, invalid merged: a subcategory for the (kept) billing category
    wrong_sub = await merge_patch(svc.client, url, {"actions": {"subcategory": "mfa"}})
    bad_pattern = await merge_patch(
        svc.client, url, {"conditions": {"patterns": ["(?=lookahead)"]}}
    )
    no_name = await merge_patch(svc.client, url, {"name": None})

    assert error_fields(problem(wrong_sub, 422)) == {"actions"}
    assert "subcategory" in problem(wrong_sub, 422)["errors"][0]["message"]
    assert error_fields(problem(bad_pattern, 422)) == {"conditions.patterns.0"}
    assert error_fields(problem(no_name, 422)) == {"name"}
    stored = (await svc.client.get(url, headers=AGENT)).json()
    assert stored["version"] == 1
    assert stored["actions"]["subcategory"] is None


async def test_a_ticket_patch_keeps_what_it_does_not_name(svc: Service) -> None:
    ticket = await open_ticket(svc.client, tenant())
    url = f"/v1/tickets/{ticket['id']}"
    routed = await merge_patch(
        svc.client,
        url,
        {"category": "access", "subcategory": "mfa", "queue": "access", "tags": ["vip"]},
        headers=AGENT,
    )
    assert routed.status_code == 200, routed.text

    reprioritised = await merge_patch(svc.client, url, {"priority": "high"}, headers=AGENT)
    assert reprioritised.status_code == 200, reprioritised.text
    out = reprioritised.json()
    assert (out["category"], out["subcategory"], out["queue"], out["tags"]) == (
        "access",
        "mfa",
        "access",
        ["vip"],
    )
    assert out["priority"] == "high"

    cleared = await merge_patch(svc.client, url, {"tags": None, "queue": None}, headers=AGENT)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["tags"], cleared.json()["queue"]) == ([], None)
    assert cleared.json()["priority"] == "high"

    no_status = await merge_patch(svc.client, url, {"status": None}, headers=AGENT)
    assert error_fields(problem(no_status, 422)) == {"status"}
    bad_priority = await merge_patch(svc.client, url, {"priority": "whenever"}, headers=AGENT)
    assert error_fields(problem(bad_priority, 422)) == {"priority"}


async def test_calendar_and_policy_patches_merge(svc: Service) -> None:
    calendar = {
        "id": f"cal-merge-{tenant()}",
        "name": "Lisbon",
        "timezone": "Europe/Lisbon",
        "workdays": [0, 1, 2, 3, 4],
        "opens": "09:00",
        "closes": "17:00",
        "holidays": ["2026-06-13"],
    }
    created = await svc.client.post("/v1/business-calendars", json=calendar, headers=ADMIN)
    assert created.status_code == 201, created.text
    url = f"/v1/business-calendars/{calendar['id']}"

    renamed = await merge_patch(svc.client, url, {"name": "Lisboa", "holidays": None})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() | {"version": 0} == {
        **calendar,
        "name": "Lisboa",
        "opens": "09:00:00",
        "closes": "17:00:00",
        "holidays": [],
        "version": 0,
    }
    # valid alone, invalid merged: opening after the (kept) closing time
    backwards = await merge_patch(svc.client, url, {"opens": "18:00"})
    assert problem(backwards, 422)["errors"][0]["message"].endswith("opens must be before closes")

    policies = (await svc.client.get("/v1/sla-policies?limit=200", headers=AGENT)).json()
    low = next(
        p for p in policies["items"] if (p["plan_tier"], p["priority"]) == ("default", "low")
    )
    policy_url = f"/v1/sla-policies/{low['id']}"
    version = low["version"]

    async def patch_policy(body: dict[str, Any]) -> httpx.Response:
        nonlocal version
        response = await merge_patch(svc.client, policy_url, body, etag=f'"{version}"')
        if response.status_code == 200:
            version = response.json()["version"]
        return response

    try:
        changed = await patch_policy({"resolution_minutes": 9999})
        assert changed.status_code == 200, changed.text
        assert changed.json()["first_response_minutes"] == low["first_response_minutes"]
        assert changed.json()["calendar_id"] == low["calendar_id"]
        assert changed.json()["resolution_minutes"] == 9999
        # null: the next-response target follows the first-response one again
        followed = await patch_policy({"next_response_minutes": None})
        assert followed.json()["next_response_minutes"] == low["first_response_minutes"]
        problem(await patch_policy({"calendar_id": "nowhere"}), 404)
    finally:
        restored = await patch_policy(
            {k: low[k] for k in ("resolution_minutes", "next_response_minutes")}
        )
        assert restored.status_code == 200, restored.text


async def test_an_agent_patch_keeps_what_it_does_not_name(svc: Service) -> None:
    agent_id = f"merge-{tenant()}"
    queue = f"q-{agent_id}"
    created = await svc.client.post(
        "/v1/agents",
        json={"id": agent_id, "name": "Mae", "queues": [queue], "available": False},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    url = f"/v1/agents/{agent_id}"

    # agents take no If-Match (they have no ETag)
    renamed = await merge_patch(svc.client, url, {"name": "Mae J."}, headers=AGENT, etag="*")

    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["queues"], renamed.json()["available"]) == ([queue], False)
    emptied = await merge_patch(svc.client, url, {"queues": None}, headers=AGENT, etag="*")
    assert (emptied.json()["name"], emptied.json()["queues"]) == ("Mae J.", [])


async def test_a_template_edit_carries_over_what_it_does_not_name(svc: Service) -> None:
    key = f"merge_{tenant().replace('-', '_')}"
    template = {
        "key": key,
        "title": "Welcome",
        "body": "Hello {{ customer_name }}, welcome aboard.",
        "variables": ["customer_name"],
    }
    created = await svc.client.post("/v1/templates", json=template, headers=ADMIN)
    assert created.status_code == 201, created.text
    url = f"/v1/templates/{key}"

    retitled = await merge_patch(svc.client, url, {"title": "Welcome!"})

    assert retitled.status_code == 200, retitled.text
    out = retitled.json()
    assert (out["title"], out["body"], out["variables"]) == (
        "Welcome!",
        template["body"],
        ["customer_name"],
    )
    assert out["version"] == created.json()["version"] + 1
    # the kept body uses the variable: removing the declaration is refused
    undeclared = await merge_patch(svc.client, url, {"variables": None})
    assert undeclared.status_code == 422, undeclared.text
    # bad input is a 422 even with a stale If-Match: validation comes first
    stale_and_bad = await merge_patch(svc.client, url, {"approved": {}}, etag='"999"')
    assert error_fields(problem(stale_and_bad, 422)) == {"approved"}


async def test_every_patch_operation_is_documented_as_a_merge_patch(svc: Service) -> None:
    document = (await svc.client.get("/openapi.json")).json()
    patches = {path: item["patch"] for path, item in document["paths"].items() if "patch" in item}
    assert len(patches) >= 5
    for path, operation in patches.items():
        assert "RFC 7396" in operation["description"], path
        content = operation["requestBody"]["content"]
        assert set(content) >= {MERGE_PATCH, "application/json"}, path
        assert "required" not in content[MERGE_PATCH]["schema"], path
