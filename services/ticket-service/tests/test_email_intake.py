"""The inbound-email webhook: Message-ID dedup and threading by In-Reply-To/References."""

from __future__ import annotations

from typing import Any

from ticket_service_testkit import AGENT, Service, error_fields, patch_ticket, problem

from servicekit.testing import auth, eventually, send_events
from supportops_events.samples import sample

SERVICE = auth("service", subject="mail-gateway")


def mail(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": {"email": "pat@example.com", "name": "Pat Doe"},
        "subject": "Cannot export",
        "text": "The export button does nothing",
        **extra,
    }


async def test_new_mail_opens_a_ticket_duplicates_do_nothing_replies_thread(
    svc: Service,
) -> None:
    t = await svc.tenant()
    first = await svc.client.post(
        "/v1/inbound-email", json=mail(f"<a-{t}@mail>", tenant_id=t), headers=SERVICE
    )
    assert first.status_code == 201, first.text
    created = first.json()
    assert (created["threaded"], created["duplicate"]) == (False, False)
    again = await svc.client.post(
        "/v1/inbound-email", json=mail(f"a-{t}@MAIL", tenant_id=t), headers=SERVICE
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["ticket_id"] == created["ticket_id"]

    reply = mail(
        f"<b-{t}@mail>",
        in_reply_to="<unknown@elsewhere>",
        references=[f"<a-{t}@mail>"],
        text="Any news?",
    )
    threaded = await svc.client.post("/v1/inbound-email", json=reply, headers=SERVICE)
    assert threaded.status_code == 201, threaded.text
    assert threaded.json()["threaded"] is True
    assert threaded.json()["ticket_id"] == created["ticket_id"]
    detail = (await svc.client.get(f"/v1/tickets/{created['ticket_id']}", headers=AGENT)).json()
    customer_msgs = [e["body"] for e in detail["timeline"] if e["author_type"] == "customer"]
    assert customer_msgs == ["The export button does nothing", "Any news?"]
    listed = (await svc.client.get(f"/v1/tickets?tenant_id={t}", headers=AGENT)).json()
    assert len(listed["items"]) == 1


async def test_tenant_comes_from_verified_domains_or_is_a_422(svc: Service) -> None:
    t = await svc.tenant()
    unknown = await svc.client.post(
        "/v1/inbound-email",
        json={**mail(f"<c-{t}@mail>"), "from": {"email": f"ann@{t}.example"}},
        headers=SERVICE,
    )
    assert problem(unknown, 422)["type"].endswith("/tenant-unknown")
    await send_events(
        [sample("tenant.created", tenant_id=t, domains=[f"{t}.example"])], prefix=svc.prefix
    )

    async def known() -> None:
        # the tenant was known before (svc.tenant()): wait for its domain, not just for it
        account = await svc.client.get(f"/v1/accounts/{t}", headers=AGENT)
        assert f"{t}.example" in account.json()["domains"]

    await eventually(known)
    taken = await svc.client.post(
        "/v1/inbound-email",
        json={**mail(f"<c-{t}@mail>"), "from": {"email": f"ann@{t}.example"}},
        headers=SERVICE,
    )
    assert taken.status_code == 201, taken.text
    ticket = (
        await svc.client.get(f"/v1/tickets/{taken.json()['ticket_id']}", headers=AGENT)
    ).json()
    assert ticket["tenant_id"] == t and ticket["channel"] == "email"
    agent_only = await svc.client.post("/v1/inbound-email", json=mail("<x@y>"), headers=AGENT)
    problem(agent_only, 403)
    bad = await svc.client.post(
        "/v1/inbound-email",
        json={"message_id": "<z@y>", "from": {"email": "nope"}},
        headers=SERVICE,
    )
    assert error_fields(problem(bad, 422)) == {"from.email", "text"}


async def test_a_reply_to_a_closed_ticket_opens_a_follow_up(svc: Service) -> None:
    t = await svc.tenant()
    first = await svc.client.post(
        "/v1/inbound-email", json=mail(f"<c-{t}@mail>", tenant_id=t), headers=SERVICE
    )
    closed_id = first.json()["ticket_id"]
    await patch_ticket(svc.client, closed_id, {"status": "solved"})
    await patch_ticket(svc.client, closed_id, {"status": "closed"})
    answer = mail(f"<d-{t}@mail>", in_reply_to=f"<c-{t}@mail>", text="It broke again")
    response = await svc.client.post("/v1/inbound-email", json=answer, headers=SERVICE)
    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["threaded"], out["follow_up_of"]) == (False, closed_id)
    assert out["ticket_id"] != closed_id
    follow_up = (await svc.client.get(f"/v1/tickets/{out['ticket_id']}", headers=AGENT)).json()
    assert follow_up["tenant_id"] == t and follow_up["body"] == "It broke again"
    (note,) = [e for e in follow_up["timeline"] if e["action"] == "follow_up"]
    assert note["data"]["follow_up_of"] == closed_id
    closed = (await svc.client.get(f"/v1/tickets/{closed_id}", headers=AGENT)).json()
    assert closed["status"] == "closed"
    assert "It broke again" not in [e["body"] for e in closed["timeline"]]
