"""Who may ask for an access action: the requester, identified by the ticket's verified
channel, must be the target user or an active admin of the tenant; every check is on the
timeline. And the MFA reset's one-time code, entered by the agent, goes to onboarding."""

from __future__ import annotations

from typing import Any

from test_accounts_access import env, seed_account
from ticket_service_testkit import (
    ADMIN,
    AGENT,
    Service,
    error_fields,
    open_ticket,
    portal_ticket,
    problem,
    tenant,
)

from servicekit.testing import auth, eventually, payload, send_events
from supportops_events.samples import sample
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted

MAIL = auth("service", subject="mail-gateway")


async def seed_more_users(svc: Service, t: str) -> None:
    """cy: an active member; dee: an admin who was deactivated."""
    await send_events(
        [
            env(
                "user.activated",
                6,
                tenant_id=t,
                user_id=f"{t}-cy",
                email=f"cy@{t}.example",
                role="member",
            ),
            env(
                "user.deactivated",
                7,
                tenant_id=t,
                user_id=f"{t}-dee",
                email=f"dee@{t}.example",
                role="admin",
            ),
        ],
        prefix=svc.prefix,
    )

    async def arrived() -> None:
        account = (await svc.client.get(f"/v1/accounts/{t}", headers=AGENT)).json()
        assert {f"cy@{t}.example", f"dee@{t}.example"} <= {u["email"] for u in account["users"]}

    await eventually(arrived)


async def mailed_ticket(svc: Service, t: str, sender: str) -> dict[str, Any]:
    """A ticket opened by an inbound e-mail from ``sender`` (the mail provider's webhook)."""
    response = await svc.client.post(
        "/v1/inbound-email",
        json={
            "message_id": f"<{sender}-{t}@mail>",
            "from": {"email": sender, "name": "Someone"},
            "subject": "Lost my MFA device",
            "text": "Please reset the second factor of the admin account.",
            "tenant_id": t,
        },
        headers=MAIL,
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = (
        await svc.client.get(f"/v1/tickets/{response.json()['ticket_id']}", headers=AGENT)
    ).json()
    return ticket


async def ask(svc: Service, ticket: dict[str, Any], **body: Any) -> Any:
    return await svc.client.post(
        f"/v1/tickets/{ticket['id']}/access-actions", json=body, headers=AGENT
    )


async def timeline(svc: Service, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    entries: list[dict[str, Any]] = detail["timeline"]
    return entries


def checks_on(entries: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    return [
        (e["data"]["check"], e["data"]["passed"], e["data"]["code"])
        for e in entries
        if e["action"] == "verification_check"
    ]


async def test_attacker_email_cannot_have_the_admins_mfa_reset(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await mailed_ticket(svc, t, "attacker@gmail.com")

    headers = {**AGENT, "Idempotency-Key": f"mfa-{t}"}
    url = f"/v1/tickets/{ticket['id']}/access-actions"
    body = {"action": "mfa_reset", "user_email": f"ada@{t}.example"}
    refused = await svc.client.post(url, json=body, headers=headers)

    problem_body = problem(refused, 409)
    assert problem_body["type"].endswith("/verification-failed")
    assert [r["code"] for r in problem_body["reasons"]] == ["requester_unknown"]
    assert "attacker@gmail.com" in problem_body["reasons"][0]["detail"]
    assert [(c["check"], c["passed"]) for c in problem_body["checks"]] == [
        ("tenant", True),
        ("target_user", True),
        ("user_status", True),
        ("requester", False),
    ]
    # an auditor sees every check and the refusal on the ticket
    entries = await timeline(svc, ticket)
    assert checks_on(entries) == [
        ("tenant", True, "tenant_open"),
        ("target_user", True, "user_in_tenant"),
        ("user_status", True, "action_fits_user_status"),
        ("requester", False, "requester_unknown"),
    ]
    (verdict,) = [e for e in entries if e["action"] == "verification_refused"]
    assert "requester_unknown" in verdict["body"] and verdict["author_id"] == "agent-ann"
    assert not any(e["action"] == "access_action_requested" for e in entries)

    # a retry with the same key gets the same refusal, recorded once
    replay = await svc.client.post(url, json=body, headers=headers)
    assert problem(replay, 409)["reasons"] == problem_body["reasons"]
    assert len(checks_on(await timeline(svc, ticket))) == 4


async def test_unknown_foreign_and_unauthorized_requesters_are_refused_with_reasons(
    svc: Service,
) -> None:
    t, other = tenant(), tenant()
    await seed_account(svc, t)
    await seed_account(svc, other)
    await seed_more_users(svc, t)
    target = {"action": "mfa_reset", "user_id": f"{t}-ada"}

    # a sender of the tenant's own domain who is no user of it
    unknown = await mailed_ticket(svc, t, f"intern@{t}.example")
    codes = [r["code"] for r in problem(await ask(svc, unknown, **target), 409)["reasons"]]
    assert codes == ["requester_unknown"]

    # a user of another tenant, writing about this one
    foreign = await mailed_ticket(svc, t, f"ada@{other}.example")
    codes = [r["code"] for r in problem(await ask(svc, foreign, **target), 409)["reasons"]]
    assert codes == ["requester_in_other_tenant"]

    # a member asking for someone else; a deactivated admin asking for someone else
    member = await portal_ticket(svc, t, f"{t}-cy")
    unlock_bob = {"action": "unlock", "user_id": f"{t}-bob"}
    refused = problem(await ask(svc, member, **unlock_bob), 409)
    assert [r["code"] for r in refused["reasons"]] == ["requester_not_authorized"]
    assert "only the user themself or an active tenant admin" in refused["reasons"][0]["detail"]
    former_admin = await mailed_ticket(svc, t, f"DEE@{t}.example")
    codes = [r["code"] for r in problem(await ask(svc, former_admin, **unlock_bob), 409)["reasons"]]
    assert codes == ["requester_admin_not_active"]

    # a ticket an agent typed in names a requester, but nobody verified it
    typed = await open_ticket(svc.client, t, email=f"ada@{t}.example")
    codes = [r["code"] for r in problem(await ask(svc, typed, **target), 409)["reasons"]]
    assert codes == ["requester_unknown"]

    # an unknown target user: named by e-mail, the target check fails and names it; an
    # unknown user_id is refused before the gate, like any body id nobody owns (422)
    nobody = await ask(svc, member, action="mfa_reset", user_email=f"ghost@{t}.example")
    assert [r["code"] for r in problem(nobody, 409)["reasons"]] == ["user_unknown"]
    ghost = problem(await ask(svc, member, action="mfa_reset", user_id=f"{t}-ghost"), 422)
    assert ghost["type"].endswith("/unknown-user") and error_fields(ghost) == {"user_id"}

    for ticket in (unknown, foreign, member, former_admin, typed):
        entries = await timeline(svc, ticket)
        assert any(e["action"] == "verification_refused" for e in entries)
        assert not any(e["action"] == "access_action_requested" for e in entries)


async def test_the_user_themself_or_an_active_admin_may_ask(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    await seed_more_users(svc, t)

    # locked-out bob writes in by e-mail and asks for his own unlock
    own = await mailed_ticket(svc, t, f"bob@{t}.example")
    response = await ask(svc, own, action="unlock", user_email=f"bob@{t}.example")
    assert response.status_code == 202, response.text
    entries = await timeline(svc, own)
    assert ("authority", True, "requester_is_target") in checks_on(entries)
    (requested,) = [e for e in entries if e["action"] == "access_action_requested"]
    assert requested["data"]["verified_channel"] == "email"

    # ada, an active admin, asks for cy's MFA reset through the portal
    by_admin = await portal_ticket(svc, t, f"{t}-ada")
    response = await ask(svc, by_admin, action="mfa_reset", user_id=f"{t}-cy")
    assert response.status_code == 202, response.text
    entries = await timeline(svc, by_admin)
    assert ("authority", True, "requester_is_active_admin") in checks_on(entries)
    assert [e["action"] for e in entries if e["action"].startswith("verification_")][-1] == (
        "verification_passed"
    )
    (command,) = await svc.events_of("onboarding.commands", subject=response.json()["id"], count=1)
    assert payload(command, AccessActionRequested).user_id == f"{t}-cy"


async def test_mfa_reset_waits_for_the_code_the_agent_enters(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await portal_ticket(svc, t, f"{t}-ada", subject="MFA lost", body="new phone")
    response = await ask(svc, ticket, action="mfa_reset", user_id=f"{t}-ada")
    assert response.status_code == 202, response.text
    request = response.json()
    url = f"/v1/tickets/{ticket['id']}/access-actions/{request['id']}/confirmations"

    too_early = await svc.client.post(url, json={"code": "493817"}, headers=AGENT)
    assert problem(too_early, 409)["type"].endswith("/confirmation-not-pending")

    step = {"tenant_id": t, "request_id": request["id"], "ticket_id": ticket["id"]}
    pending = sample(
        "access.confirmation_pending",
        **step,
        action="mfa_reset",
        user_id=f"{t}-ada",
        destination=f"a***@{t}.example",
        delivery="email",
    )
    await send_events([pending], prefix=svc.prefix)

    async def awaiting() -> list[dict[str, Any]]:
        entries = await timeline(svc, ticket)
        assert any(e["action"] == "access_confirmation_pending" for e in entries)
        return entries

    entries = await eventually(awaiting)
    (shown,) = [e for e in entries if e["action"] == "access_confirmation_pending"]
    assert f"a***@{t}.example" in shown["body"] and "pending" in shown["body"]
    assert "sent by email" in shown["body"]  # the code went out by mail (issue #16)

    bad = await svc.client.post(url, json={"code": "12ab"}, headers=AGENT)
    assert problem(bad, 422)["errors"][0]["field"] == "code"
    confirmed = await svc.client.post(url, json={"code": "493 817"}, headers=AGENT)
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["status"] == "awaiting_code"
    commands = await svc.events_of("onboarding.commands", subject=request["id"], count=2)
    submitted = commands[-1]
    assert submitted.type == "access.confirmation_submitted"
    assert payload(submitted, AccessConfirmationSubmitted).code == "493 817"
    assert payload(submitted, AccessConfirmationSubmitted).user_id == f"{t}-ada"
    entries = await timeline(svc, ticket)
    assert any(e["action"] == "access_confirmation_submitted" for e in entries)
    assert "493 817" not in str(entries) and "493817" not in str(entries)  # never shown

    failed = sample(
        "access.confirmation_failed",
        **step,
        action="mfa_reset",
        user_id=f"{t}-ada",
        attempts_left=2,
    )
    completed = sample("access.action_completed", **step, action="mfa_reset", user_id=f"{t}-ada")
    # an unreviewed edit of the system's reply is not what the customer gets
    template_url = "/v1/templates/access_action_completed"
    etag = (await svc.client.get(template_url, headers=AGENT)).headers["ETag"]
    edited = await svc.client.patch(
        template_url,
        json={"body": "UNREVIEWED {{ user_email }} {{ action_label }} {{ requester_name }}"},
        headers={**ADMIN, "If-Match": etag},
    )
    assert edited.status_code == 200, edited.text
    await send_events([failed, completed], prefix=svc.prefix)

    async def answered() -> list[dict[str, Any]]:
        entries = await timeline(svc, ticket)
        assert any(e["template_key"] == "access_action_completed" for e in entries)
        return entries

    entries = await eventually(answered)
    (reply,) = [e for e in entries if e["template_key"] == "access_action_completed"]
    assert "UNREVIEWED" not in reply["body"] and reply["template_version"] == 1
    (wrong,) = [e for e in entries if e["action"] == "access_confirmation_failed"]
    assert "2 attempt(s) left" in wrong["body"]
    late = await svc.client.post(url, json={"code": "493817"}, headers=AGENT)
    assert problem(late, 409)["request_status"] == "completed"


async def test_a_rejected_code_leaves_a_note_and_no_reply(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await portal_ticket(svc, t, f"{t}-ada")
    request = (await ask(svc, ticket, action="mfa_reset", user_id=f"{t}-ada")).json()
    rejected = sample(
        "access.action_rejected",
        tenant_id=t,
        request_id=request["id"],
        ticket_id=ticket["id"],
        action="mfa_reset",
        user_id=f"{t}-ada",
        reasons=["confirmation_expired"],
        detail="the one-time code was not confirmed in time",
    )
    await send_events([rejected], prefix=svc.prefix)

    async def noted() -> list[dict[str, Any]]:
        entries = await timeline(svc, ticket)
        assert any(e["kind"] == "note" for e in entries)
        return entries

    entries = await eventually(noted)
    (note,) = [e for e in entries if e["kind"] == "note"]
    assert "confirmation_expired" in note["body"] and "not confirmed in time" in note["body"]
    assert not any(e["template_key"] == "access_action_completed" for e in entries)
