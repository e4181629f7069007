"""Four eyes on customer text: a template version starts unapproved, a different admin
approves it, an edit waits for approval while the last approved version keeps being
sent, and the HTML part escapes the template's text and every value."""

from __future__ import annotations

import uuid
from typing import Any

from ticket_service_testkit import ADMIN, AGENT, REVIEWER, Service, open_ticket, problem, tenant

from servicekit.testing import auth


def _key() -> str:
    return f"tpl_{uuid.uuid4().hex[:8]}"


async def _etag(svc: Service, key: str) -> str:
    return (await svc.client.get(f"/v1/templates/{key}", headers=AGENT)).headers["ETag"]


async def test_a_version_is_approved_by_a_second_admin_and_edits_wait_for_approval(
    svc: Service,
) -> None:
    key = _key()
    template = {"key": key, "title": "Hello", "body": "Hello {{ requester_name }}, v1."}
    self_approved = await svc.client.post(
        "/v1/templates", json={**template, "approved": True}, headers=ADMIN
    )
    assert "approved" in {e["field"] for e in problem(self_approved, 422)["errors"]}
    created = await svc.client.post("/v1/templates", json=template, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (created.json()["approved"], created.json()["created_by"]) == (False, "admin-ada")

    ticket = await open_ticket(svc.client, tenant())
    reply_url = f"/v1/tickets/{ticket['id']}/template-replies"
    unapproved = await svc.client.post(reply_url, json={"template_key": key}, headers=AGENT)
    assert problem(unapproved, 409)["type"].endswith("/template-not-approved")

    approval_url = f"/v1/templates/{key}/versions/1/approval"
    own = await svc.client.post(approval_url, headers=ADMIN)
    assert problem(own, 403)["type"].endswith("/four-eyes")
    by_agent = await svc.client.post(approval_url, headers=AGENT)
    problem(by_agent, 403)
    approved = await svc.client.post(approval_url, headers=REVIEWER)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["approved"], body["approved_by"]) == (True, "admin-rex")
    assert body["approved_at"] is not None
    again = await svc.client.post(approval_url, headers=auth("admin", subject="admin-zoe"))
    assert problem(again, 409)["type"].endswith("/template-already-approved")

    # the reviewer edits: version 2 is unapproved, version 1 is still what goes out
    carried = await svc.client.patch(
        f"/v1/templates/{key}",
        json={"approved": True},
        headers={**REVIEWER, "If-Match": await _etag(svc, key)},
    )
    assert "approved" in {e["field"] for e in problem(carried, 422)["errors"]}
    edited = await svc.client.patch(
        f"/v1/templates/{key}",
        json={"body": "Hello {{ requester_name }}, v2."},
        headers={**REVIEWER, "If-Match": await _etag(svc, key)},
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["approved"]) == (2, False)
    sent = await svc.client.post(reply_url, json={"template_key": key}, headers=AGENT)
    assert sent.status_code == 201, sent.text
    assert (sent.json()["body"], sent.json()["template_version"]) == ("Hello Pat Doe, v1.", 1)

    # the editor cannot approve their edit; the first author can
    own_edit = await svc.client.post(f"/v1/templates/{key}/versions/2/approval", headers=REVIEWER)
    problem(own_edit, 403)
    ok = await svc.client.post(f"/v1/templates/{key}/versions/2/approval", headers=ADMIN)
    assert ok.status_code == 200, ok.text
    sent = await svc.client.post(reply_url, json={"template_key": key}, headers=AGENT)
    assert (sent.json()["body"], sent.json()["template_version"]) == ("Hello Pat Doe, v2.", 2)

    missing = await svc.client.post(f"/v1/templates/{key}/versions/9/approval", headers=ADMIN)
    problem(missing, 404)


async def test_macros_send_the_last_approved_version(svc: Service) -> None:
    key = _key()
    await svc.client.post(
        "/v1/templates", json={"key": key, "title": "Ask", "body": "First text."}, headers=ADMIN
    )
    await svc.client.post(f"/v1/templates/{key}/versions/1/approval", headers=REVIEWER)
    await svc.client.patch(
        f"/v1/templates/{key}",
        json={"body": "Unreviewed text."},
        headers={**ADMIN, "If-Match": await _etag(svc, key)},
    )
    macro = await svc.client.post(
        "/v1/macros", json={"name": f"ask {key}", "template_key": key}, headers=ADMIN
    )
    assert macro.status_code == 201, macro.text
    ticket = await open_ticket(svc.client, tenant())
    applied = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/macros/{macro.json()['id']}",
        json={},
        headers={**AGENT, "If-Match": f'"{ticket["version"]}"'},
    )
    assert applied.status_code == 200, applied.text
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    (reply,) = [e for e in detail["timeline"] if e["template_key"] == key]
    assert (reply["body"], reply["template_version"]) == ("First text.", 1)


async def test_html_part_escapes_template_text_and_values(svc: Service) -> None:
    key = _key()
    await svc.client.post(
        "/v1/templates",
        json={
            "key": key,
            "title": "Scripted",
            "body": "<script>alert(1)</script> Hi {{ requester_name }},\nsee {{ link }} & more.",
            "variables": ["link"],
        },
        headers=ADMIN,
    )
    await svc.client.post(f"/v1/templates/{key}/versions/1/approval", headers=REVIEWER)
    ticket = await open_ticket(svc.client, tenant())
    values = {"link": '<a href="javascript:x">click</a>'}
    sent = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/template-replies",
        json={"template_key": key, "variables": values},
        headers=AGENT,
    )
    assert sent.status_code == 201, sent.text
    reply: dict[str, Any] = sent.json()
    html = reply["data"]["html"]
    assert "<script>" not in html and "<a " not in html
    assert html == (
        "&lt;script&gt;alert(1)&lt;/script&gt; Hi Pat Doe,<br>\n"
        "see &lt;a href=&#34;javascript:x&#34;&gt;click&lt;/a&gt; &amp; more."
    )
    # the text part is plain text: as written, nothing to interpret
    assert reply["body"] == (
        '<script>alert(1)</script> Hi Pat Doe,\nsee <a href="javascript:x">click</a> & more.'
    )
    preview = await svc.client.post(
        f"/v1/templates/{key}/render", json={"variables": values}, headers=AGENT
    )
    assert preview.json()["html"].startswith("&lt;script&gt;")
