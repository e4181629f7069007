"""Approved templates with declared variables and versions; macros applied atomically."""

from __future__ import annotations

import uuid

from ticket_service_testkit import ADMIN, AGENT, REVIEWER, Service, open_ticket, problem


def _key() -> str:
    return f"tpl_{uuid.uuid4().hex[:8]}"


async def test_template_versions_variables_and_approval(svc: Service) -> None:
    key = _key()
    template = {
        "key": key,
        "title": "Export help",
        "body": "Hi {{ requester_name }}, open {{ menu }} to export.",
        "variables": ["menu"],
        "approved": False,
    }
    created = await svc.client.post("/v1/templates", json=template, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    undeclared = {**template, "key": _key(), "body": "Hi {{ nickname }}"}
    body = problem(await svc.client.post("/v1/templates", json=undeclared, headers=ADMIN), 422)
    assert body["undeclared"] == ["nickname"]
    broken = {**template, "key": _key(), "body": "Hi {{ menu "}
    problem(await svc.client.post("/v1/templates", json=broken, headers=ADMIN), 422)
    sandboxed = {**template, "key": _key(), "body": "{{ menu.__class__.__mro__ }}"}
    escaped = await svc.client.post("/v1/templates", json=sandboxed, headers=ADMIN)
    assert escaped.status_code == 201
    attempt = await svc.client.post(
        f"/v1/templates/{sandboxed['key']}/render", json={"variables": {"menu": "x"}}, headers=AGENT
    )
    assert problem(attempt, 422)["type"].endswith("/template-unsafe")
    bomb = {**template, "key": _key(), "body": "{{ menu * 1000000000 }}"}
    await svc.client.post("/v1/templates", json=bomb, headers=ADMIN)
    refused = await svc.client.post(
        f"/v1/templates/{bomb['key']}/render", json={"variables": {"menu": "x"}}, headers=AGENT
    )
    assert problem(refused, 422)["type"].endswith("/template-unsafe")

    ticket = await open_ticket(svc.client, await svc.tenant())
    reply_url = f"/v1/tickets/{ticket['id']}/template-replies"
    not_approved = await svc.client.post(
        reply_url, json={"template_key": key, "variables": {"menu": "Reports"}}, headers=AGENT
    )
    assert problem(not_approved, 409)["type"].endswith("/template-not-approved")

    etag = (await svc.client.get(f"/v1/templates/{key}", headers=AGENT)).headers["ETag"]
    edited = await svc.client.patch(
        f"/v1/templates/{key}",
        json={"title": "Export help (v2)"},
        headers={**ADMIN, "If-Match": etag},
    )
    assert edited.json()["version"] == 2
    stale = await svc.client.patch(
        f"/v1/templates/{key}", json={"title": "x"}, headers={**ADMIN, "If-Match": etag}
    )
    problem(stale, 412)
    old = await svc.client.get(f"/v1/templates/{key}?version=1", headers=AGENT)
    assert old.json()["approved"] is False
    approved = await svc.client.post(f"/v1/templates/{key}/versions/2/approval", headers=REVIEWER)
    assert approved.status_code == 200, approved.text

    missing = await svc.client.post(reply_url, json={"template_key": key}, headers=AGENT)
    body = problem(missing, 422)
    assert body["missing"] == ["menu"] and "menu" in body["detail"]
    sent = await svc.client.post(
        reply_url, json={"template_key": key, "variables": {"menu": "Reports"}}, headers=AGENT
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["body"] == "Hi Pat Doe, open Reports to export."
    assert (sent.json()["template_key"], sent.json()["template_version"]) == (key, 2)


async def test_macro_applies_reply_status_priority_and_tags_atomically(svc: Service) -> None:
    key = _key()
    await svc.client.post(
        "/v1/templates",
        json={
            "key": key,
            "title": "Ask",
            "body": "Could you send {{ what }}?",
            "variables": ["what"],
        },
        headers=ADMIN,
    )
    approval = await svc.client.post(f"/v1/templates/{key}/versions/1/approval", headers=REVIEWER)
    assert approval.status_code == 200, approval.text
    macro = await svc.client.post(
        "/v1/macros",
        json={
            "name": f"ask {key}",
            "template_key": key,
            "status": "pending",
            "priority": "low",
            "add_tags": ["waiting"],
            "remove_tags": ["billing"],
        },
        headers=ADMIN,
    )
    assert macro.status_code == 201, macro.text
    ticket = await open_ticket(
        svc.client, await svc.tenant(), subject="Invoice", body="invoice wrong"
    )
    assert "billing" in ticket["tags"]
    url = f"/v1/tickets/{ticket['id']}/macros/{macro.json()['id']}"
    etag = f'"{ticket["version"]}"'
    detail_before = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()

    # a missing variable: nothing at all happens
    failed = await svc.client.post(url, json={}, headers={**AGENT, "If-Match": etag})
    assert problem(failed, 422)["missing"] == ["what"]
    unchanged = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    assert unchanged["version"] == detail_before["version"]
    assert len(unchanged["timeline"]) == len(detail_before["timeline"])

    applied = await svc.client.post(
        url, json={"variables": {"what": "the invoice number"}}, headers={**AGENT, "If-Match": etag}
    )
    assert applied.status_code == 200, applied.text
    result = applied.json()
    assert (result["status"], result["priority"]) == ("pending", "low")
    assert "waiting" in result["tags"] and "billing" not in result["tags"]
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    replies = [e for e in detail["timeline"] if e["template_key"] == key]
    assert [r["body"] for r in replies] == ["Could you send the invoice number?"]
    again = await svc.client.post(
        url, json={"variables": {"what": "x"}}, headers={**AGENT, "If-Match": etag}
    )
    problem(again, 412)
