"""Flow 2, access issue: a user of an onboarded tenant cannot log in; support verifies the
account context, asks onboarding for an access action through the verification gate,
and the ticket records the outcome. Public REST APIs only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flows import (
    account_until,
    add_active_user,
    assert_events,
    confirmation_code,
    onboarded_customer,
    position,
    users_by_email,
)
from journey import Journey

AGENT = "agent-ada"


async def ticket_until(
    journey: Journey, ticket_id: str, check: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        ticket: dict[str, Any] = await journey.get(
            "ticket", f"/v1/tickets/{ticket_id}", roles=("agent",), subject=AGENT
        )
        check(ticket)
        return ticket

    return await journey.until(read)


def entries(ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in ticket["timeline"] if e["kind"] == kind]


async def test_mfa_lost_is_triaged_verified_reset_and_answered(journey: Journey) -> None:
    customer = await onboarded_customer(journey)
    tenant_id = customer.tenant_id
    pat = await add_active_user(journey, customer, "Pat")
    # the identity system reports Pat's sign-ins, with a second factor enrolled
    signed_in = await journey.post(
        "onboarding",
        f"/v1/users/{pat['id']}/sign-ins",
        {"outcome": "succeeded", "mfa_enrolled": True},
        roles=("service",),
        expect=200,
    )
    assert signed_in["mfa_enrolled"] is True

    # support's read model knows Pat before Pat writes in
    await account_until(
        journey,
        tenant_id,
        lambda a: users_by_email(a).get(pat["email"], {}).get("status") == "active",
    )

    # Pat writes in through the customer portal (a token confined to the tenant)
    opened = await journey.post(
        "ticket",
        "/v1/tickets",
        {
            "tenant_id": tenant_id,
            "requester": {"email": pat["email"], "name": "Pat", "user_id": pat["id"]},
            "channel": "web",
            "subject": "Can't log in, MFA lost",
            "body": "I got a new phone and lost my authenticator app, so I can't log in "
            "any more. Please help!",
        },
        roles=("agent",),
        tenant_id=tenant_id,
        subject=pat["email"],
        idempotency_key=f"ticket-{uuid.uuid4().hex}",
        expect=201,
    )
    ticket_id = opened["id"]
    assert (opened["category"], opened["subcategory"]) == ("access", "mfa"), opened
    assert opened["queue"] == "access"

    # the agent reads the verified account context on the ticket
    ticket = await journey.get(
        "ticket", f"/v1/tickets/{ticket_id}", roles=("agent",), subject=AGENT
    )
    account = ticket["account"]
    subscription = await journey.get("billing", f"/v1/subscriptions/{customer.subscription['id']}")
    assert account["tenant_status"] == "active", account
    assert subscription["status"] == "active", subscription  # in good standing
    assert account["subscription_status"] == "active", account
    assert account["plan_code"] == customer.plan["code"]
    assert account["overdue_invoices"] == [], account
    assert users_by_email(account)[pat["email"]]["status"] == "active"

    # the MFA reset passes the verification gate and becomes a command to onboarding
    requested = await journey.post(
        "ticket",
        f"/v1/tickets/{ticket_id}/access-actions",
        {"action": "mfa_reset", "user_id": pat["id"], "reason": "identity verified by call-back"},
        roles=("agent",),
        subject=AGENT,
        idempotency_key=f"access-{uuid.uuid4().hex}",
        expect=202,
    )
    assert (requested["status"], requested["user_email"]) == ("requested", pat["email"])
    request_id = requested["id"]

    # the gate checked who asks: Pat, through the portal, for Pat's own account
    ticket = await journey.get(
        "ticket", f"/v1/tickets/{ticket_id}", roles=("agent",), subject=AGENT
    )
    checks = {
        e["data"]["check"]: e["data"]["code"]
        for e in ticket["timeline"]
        if e["action"] == "verification_check"
    }
    assert checks["requester"] == "requester_identified", checks
    assert checks["authority"] == "requester_is_target", checks

    # onboarding holds the reset until Pat reads back the code sent to Pat's address
    of_request = lambda e: e.data.get("request_id") == request_id  # noqa: E731
    (pending,) = await journey.tap.wait_types(
        tenant_id, "access.confirmation_pending", where=of_request
    )
    assert pending.data["destination"] == f"p***@{customer.domain}", pending.data
    assert pending.data["delivery"] == "email", pending.data
    held = await journey.get("onboarding", f"/v1/users/{pat['id']}", roles=("onboarding",))
    assert held["mfa_enrolled"] is True and held["mfa_reset_at"] is None

    def awaiting(t: dict[str, Any]) -> None:
        assert any(e["action"] == "access_confirmation_pending" for e in t["timeline"])

    await ticket_until(journey, ticket_id, awaiting)
    # the code reaches Pat by mail, at the registered address only
    code = await confirmation_code(journey, pat["email"])
    confirmed = await journey.post(
        "ticket",
        f"/v1/tickets/{ticket_id}/access-actions/{request_id}/confirmations",
        {"code": code},
        roles=("agent",),
        subject=AGENT,
        idempotency_key=f"code-{uuid.uuid4().hex}",
        expect=202,
    )
    assert confirmed["status"] == "awaiting_code"

    await journey.tap.wait_types(
        tenant_id, "access.action_completed", "user.mfa_reset", where=of_request
    )

    # the ticket: an internal note and the approved reply, in that order
    def answered(t: dict[str, Any]) -> None:
        notes = [n for n in entries(t, "note") if "mfa_reset completed" in n["body"]]
        replies = [r for r in entries(t, "reply") if r["template_key"] == "access_action_completed"]
        assert len(notes) == 1 and len(replies) == 1, t["timeline"]
        assert pat["email"] in notes[0]["body"] and "active" in notes[0]["body"]
        assert pat["email"] in replies[0]["body"] and replies[0]["author_type"] == "system"
        assert replies[0]["template_version"] >= 1

    ticket = await ticket_until(journey, ticket_id, answered)
    actions = [e["action"] for e in ticket["timeline"]]
    assert actions.index("access_action_requested") < actions.index("user.mfa_reset"), actions

    # final state in every service: onboarding removed the second factor, ended sessions
    user = await journey.get("onboarding", f"/v1/users/{pat['id']}", roles=("onboarding",))
    assert user["status"] == "active" and user["mfa_enrolled"] is False, user
    assert user["mfa_reset_at"] is not None
    assert user["session_epoch"] > signed_in["session_epoch"]
    account = await account_until(
        journey,
        tenant_id,
        lambda a: users_by_email(a)[pat["email"]]["status"] == "active",
    )
    assert account["tenant_status"] == "active"
    # Pat sees the approved reply in the portal, not the internal note
    portal = await journey.get(
        "ticket",
        f"/v1/tickets/{ticket_id}",
        roles=("agent",),
        tenant_id=tenant_id,
        subject=pat["email"],
    )
    assert {e["kind"] for e in portal["timeline"]} == {"reply"}, portal["timeline"]
    assert any(e["template_key"] == "access_action_completed" for e in portal["timeline"])

    # the events, as CloudEvents
    of_ticket = lambda e: e.data.get("ticket_id") == ticket_id  # noqa: E731
    found = assert_events(
        journey,
        tenant_id,
        [
            ("ticket.created", "ticket-service"),
            ("ticket.triaged", "ticket-service"),
            ("access.action_requested", "ticket-service"),
            ("access.confirmation_pending", "onboarding-service"),
            ("access.confirmation_submitted", "ticket-service"),
            ("user.mfa_reset", "onboarding-service"),
            ("access.action_completed", "onboarding-service"),
            ("ticket.replied", "ticket-service"),
        ],
        where=of_ticket,
    )
    (submitted,) = found["access.confirmation_submitted"]
    assert submitted.topic == "onboarding.commands" and submitted.subject == request_id
    (command,) = found["access.action_requested"]
    assert command.topic == "onboarding.commands" and command.subject == request_id
    assert (command.data["action"], command.data["user_id"]) == ("mfa_reset", pat["id"])
    assert command.data["requested_by"] == AGENT
    (reset,) = found["user.mfa_reset"]
    assert reset.subject == pat["id"] and reset.data["request_id"] == request_id
    (completed,) = found["access.action_completed"]
    assert completed.subject == request_id and completed.data["user_status"] == "active"
    (triaged,) = found["ticket.triaged"]
    assert triaged.data["category"] == "access/mfa"
    template_replies = [
        e
        for e in found["ticket.replied"]
        if e.data.get("template_key") == "access_action_completed"
    ]
    assert len(template_replies) == 1
    assert (
        position(journey, found["ticket.created"][0])
        < position(journey, command)
        < position(journey, found["access.confirmation_pending"][0])
        < position(journey, submitted)
        < position(journey, reset)
        < position(journey, completed)
        < position(journey, template_replies[0])
    )

    # one trace: the agent's request, onboarding's consumer, ticket's consumer
    await journey.assert_one_trace("ticket", "onboarding")


async def test_reactivation_beyond_the_seat_limit_is_rejected_with_a_note(
    journey: Journey,
) -> None:
    customer = await onboarded_customer(journey)  # 3 seats: the admin holds one
    tenant_id = customer.tenant_id
    sam = await add_active_user(journey, customer, "Sam")
    await add_active_user(journey, customer, "Lee")
    await journey.post(
        "onboarding",
        f"/v1/users/{sam['id']}/deactivate",
        {"reason": "left the project"},
        roles=("onboarding",),
        expect=200,
    )
    # the freed seat is taken by a new invitation: no seat is left for Sam
    await journey.post(
        "onboarding",
        f"/v1/tenants/{tenant_id}/users",
        {"email": f"kim@{customer.domain}", "name": "Kim"},
        roles=("onboarding",),
        idempotency_key=f"invite-{uuid.uuid4().hex}",
        expect=201,
    )
    await account_until(
        journey,
        tenant_id,
        lambda a: users_by_email(a).get(sam["email"], {}).get("status") == "deactivated",
    )

    # Sam writes in by e-mail; the sender's domain names the tenant
    mail = await journey.post(
        "ticket",
        "/v1/inbound-email",
        {
            "message_id": f"<{uuid.uuid4().hex}@{customer.domain}>",
            "from": {"email": sam["email"], "name": "Sam"},
            "subject": "My account was deactivated",
            "text": "Hi, my account was deactivated but I am back on the project. "
            "Could you turn it on again?",
        },
        roles=("service",),
        expect=201,
    )
    ticket_id = str(mail["ticket_id"])
    ticket = await journey.get(
        "ticket", f"/v1/tickets/{ticket_id}", roles=("agent",), subject=AGENT
    )
    assert ticket["tenant_id"] == tenant_id
    assert (ticket["category"], ticket["subcategory"]) == ("access", "inactive"), ticket
    assert users_by_email(ticket["account"])[sam["email"]]["status"] == "deactivated"

    # the gate refuses an action that does not fit: Sam is not locked, nothing is sent
    refused = await journey.request(
        "ticket",
        "POST",
        f"/v1/tickets/{ticket_id}/access-actions",
        roles=("agent",),
        subject=AGENT,
        json_body={"action": "unlock", "user_email": sam["email"]},
        idempotency_key=f"access-{uuid.uuid4().hex}",
        expect=409,
    )
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("/verification-failed"), problem
    assert [r["code"] for r in problem["reasons"]] == ["action_does_not_fit_user_status"]

    # reactivation passes the gate; onboarding re-verifies and finds no free seat
    requested = await journey.post(
        "ticket",
        f"/v1/tickets/{ticket_id}/access-actions",
        {"action": "reactivate", "user_email": sam["email"], "reason": "back on the project"},
        roles=("agent",),
        subject=AGENT,
        idempotency_key=f"access-{uuid.uuid4().hex}",
        expect=202,
    )
    request_id = requested["id"]
    (rejected,) = await journey.tap.wait_types(
        tenant_id, "access.action_rejected", where=lambda e: e.data.get("request_id") == request_id
    )
    assert rejected.data["reasons"] == ["not_permitted"], rejected.data
    assert "seat" in (rejected.data.get("detail") or ""), rejected.data

    def noted(t: dict[str, Any]) -> None:
        notes = [n for n in entries(t, "note") if "reactivate rejected" in n["body"]]
        assert len(notes) == 1, t["timeline"]
        assert sam["email"] in notes[0]["body"] and "not_permitted" in notes[0]["body"]
        assert "seat" in notes[0]["body"]

    ticket = await ticket_until(journey, ticket_id, noted)
    # no approved "done" reply went out: the only reply is Sam's own e-mail
    assert [r["author_type"] for r in entries(ticket, "reply")] == ["customer"], ticket["timeline"]

    # no user change anywhere
    user = await journey.get("onboarding", f"/v1/users/{sam['id']}", roles=("onboarding",))
    assert user["status"] == "deactivated", user
    account = await journey.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
    assert users_by_email(account)[sam["email"]]["status"] == "deactivated"
    of_sam = lambda e: e.type.startswith("user.") and e.data.get("user_id") == sam["id"]  # noqa: E731
    assert [e.type for e in journey.tap.select(tenant=tenant_id, where=of_sam)] == [
        "user.invited",
        "user.activated",
        "user.deactivated",
    ]

    of_ticket = lambda e: e.data.get("ticket_id") == ticket_id  # noqa: E731
    found = assert_events(
        journey,
        tenant_id,
        [
            ("ticket.created", "ticket-service"),
            ("access.action_requested", "ticket-service"),
            ("access.action_rejected", "onboarding-service"),
        ],
        where=of_ticket,
    )
    (command,) = found["access.action_requested"]  # only the action that passed the gate
    assert command.data["action"] == "reactivate" and command.subject == request_id
    assert rejected.subject == request_id
    assert position(journey, command) < position(journey, rejected)

    await journey.assert_one_trace("ticket", "onboarding")
