"""The verified account context from events, and access actions through the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ticket_service_testkit import (
    AGENT,
    Service,
    error_fields,
    open_ticket,
    portal_ticket,
    problem,
    tenant,
    token,
)

from servicekit.testing import eventually, payload, send_events
from supportops_events import Envelope
from supportops_events.samples import sample
from supportops_events.tickets import AccessActionRequested


def _at(minutes: int) -> datetime:
    return datetime(2026, 1, 5, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def env(event_type: str, minutes: int, **fields: Any) -> Envelope:
    return Envelope.new(sample(event_type, **fields), source="test", time=_at(minutes))


async def _account(svc: Service, tenant_id: str) -> dict[str, Any]:
    response = await svc.client.get(f"/v1/accounts/{tenant_id}", headers=AGENT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def seed_account(svc: Service, t: str, *, tenant_status: str = "active") -> None:
    tenant_event = "tenant.activated" if tenant_status == "active" else "tenant.suspended"
    await send_events(
        [
            env("tenant.created", 0, tenant_id=t, company_name=f"Co {t}"),
            env(tenant_event, 1, tenant_id=t, company_name=f"Co {t}"),
            env(
                "user.activated",
                2,
                tenant_id=t,
                user_id=f"{t}-ada",
                email=f"ada@{t}.example",
                role="admin",
            ),
            env(
                "user.locked",
                3,
                tenant_id=t,
                user_id=f"{t}-bob",
                email=f"bob@{t}.example",
                role="member",
            ),
            env("subscription.updated", 4, tenant_id=t, plan_tier="business", seats=30),
            env("invoice.overdue", 5, tenant_id=t, invoice_id=f"{t}-inv"),
        ],
        prefix=svc.prefix,
    )

    async def arrived() -> None:
        assert (await svc.client.get(f"/v1/accounts/{t}", headers=AGENT)).status_code == 200
        account = await _account(svc, t)
        assert account["last_event_type"] == "invoice.overdue"

    await eventually(arrived)


async def test_account_context_is_built_from_events_and_shown_on_tickets(svc: Service) -> None:
    t = tenant()
    missing = await svc.client.get(f"/v1/accounts/{t}", headers=AGENT)
    assert problem(missing, 404)["type"].endswith("/account-not-found")
    await seed_account(svc, t)
    account = await _account(svc, t)
    assert account["company_name"] == f"Co {t}"
    assert account["tenant_status"] == "active"
    assert {u["email"]: u["status"] for u in account["users"]} == {
        f"ada@{t}.example": "active",
        f"bob@{t}.example": "locked",
    }
    assert (account["plan_tier"], account["seats"]) == ("business", 30)
    assert [i["invoice_id"] for i in account["overdue_invoices"]] == [f"{t}-inv"]
    assert account["last_heard_at"] == "2026-01-05T12:05:00Z"

    # a late, older event about a user changes nothing; a newer one does
    await send_events(
        [
            env("user.deactivated", -10, tenant_id=t, user_id=f"{t}-ada", email=f"ada@{t}.example"),
            env("invoice.paid", 20, tenant_id=t, invoice_id=f"{t}-inv"),
        ],
        prefix=svc.prefix,
    )

    async def paid() -> None:
        assert (await _account(svc, t))["open_invoices"] == []

    await eventually(paid)
    users = {u["email"]: u["status"] for u in (await _account(svc, t))["users"]}
    assert users[f"ada@{t}.example"] == "active"

    ticket = await open_ticket(svc.client, t)
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    assert detail["account"]["tenant_status"] == "active"
    assert detail["account"]["plan_tier"] == "business"


async def test_access_action_gate_refuses_with_reasons(svc: Service) -> None:
    t, other = tenant(), tenant()
    await seed_account(svc, t)
    await seed_account(svc, other, tenant_status="suspended")
    ticket = await portal_ticket(svc, t, f"{t}-ada", subject="MFA lost", body="reset my 2FA")
    url = f"/v1/tickets/{ticket['id']}/access-actions"

    unlock_active = await svc.client.post(
        url, json={"action": "unlock", "user_id": f"{t}-ada"}, headers=AGENT
    )
    body = problem(unlock_active, 409)
    assert body["type"].endswith("/verification-failed")
    assert [r["code"] for r in body["reasons"]] == ["action_does_not_fit_user_status"]

    foreign_user = await svc.client.post(
        url, json={"action": "mfa_reset", "user_email": f"ada@{other}.example"}, headers=AGENT
    )
    assert [r["code"] for r in problem(foreign_user, 409)["reasons"]] == ["user_not_in_tenant"]

    suspended_ticket = await portal_ticket(svc, other, f"{other}-ada")
    suspended = await svc.client.post(
        f"/v1/tickets/{suspended_ticket['id']}/access-actions",
        json={"action": "mfa_reset", "user_id": f"{other}-ada"},
        headers=AGENT,
    )
    assert [r["code"] for r in problem(suspended, 409)["reasons"]] == ["tenant_suspended"]

    nobody = await svc.client.post(url, json={"action": "unlock"}, headers=AGENT)
    assert problem(nobody, 422)["errors"][0]["field"] == "body"
    bad_action = await svc.client.post(
        url, json={"action": "delete_user", "user_id": "x"}, headers=AGENT
    )
    assert "action" in error_fields(problem(bad_action, 422))


async def test_access_action_requested_then_completed_adds_note_and_approved_reply(
    svc: Service,
) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await portal_ticket(svc, t, f"{t}-ada", subject="MFA lost", body="new phone")
    response = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/access-actions",
        json={"action": "mfa_reset", "user_id": f"{t}-ada", "reason": "verified by phone"},
        headers=AGENT,
    )
    assert response.status_code == 202, response.text
    request = response.json()
    assert request["status"] == "requested"
    (command,) = await svc.events_of("onboarding.commands", subject=request["id"], count=1)
    assert command.type == "access.action_requested"
    assert payload(command, AccessActionRequested).user_email == f"ada@{t}.example"

    completed = sample(
        "access.action_completed",
        tenant_id=t,
        request_id=request["id"],
        ticket_id=ticket["id"],
        action="mfa_reset",
        user_id=f"{t}-ada",
    )
    user_reset = sample(
        "user.mfa_reset",
        tenant_id=t,
        user_id=f"{t}-ada",
        email=f"ada@{t}.example",
        status="active",
        request_id=request["id"],
        ticket_id=ticket["id"],
    )
    await send_events([user_reset, completed, completed], prefix=svc.prefix)  # a duplicate

    async def replied() -> dict[str, Any]:
        detail: dict[str, Any] = (
            await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)
        ).json()
        assert any(e["template_key"] == "access_action_completed" for e in detail["timeline"])
        return detail

    detail = await eventually(replied)
    notes = [e for e in detail["timeline"] if e["kind"] == "note"]
    replies = [e for e in detail["timeline"] if e["template_key"] == "access_action_completed"]
    assert len(notes) == 1 and "mfa_reset completed" in notes[0]["body"]
    assert len(replies) == 1 and replies[0]["kind"] == "reply"
    assert f"ada@{t}.example" in replies[0]["body"] and "Pat Doe" in replies[0]["body"]
    assert replies[0]["template_version"] == 1
    assert any(e["action"] == "user.mfa_reset" for e in detail["timeline"])


async def test_churned_tenant_and_inactive_user_are_shown_and_gate_actions(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    await send_events(
        [
            env(
                "user.marked_inactive",
                10,
                tenant_id=t,
                user_id=f"{t}-cy",
                email=f"cy@{t}.example",
                inactive_days=90,
            )
        ],
        prefix=svc.prefix,
    )

    async def inactive() -> None:
        users = {u["email"]: u for u in (await _account(svc, t))["users"]}
        cy = users.get(f"cy@{t}.example", {})
        assert (cy.get("status"), cy.get("reported_at")) == ("inactive", "2026-01-05T12:10:00Z")

    await eventually(inactive)
    ticket = await portal_ticket(svc, t, f"{t}-ada", subject="Account inactive", body="cy")
    url = f"/v1/tickets/{ticket['id']}/access-actions"
    # an inactive user can be reactivated (and reset), as onboarding-service allows
    reactivate = await svc.client.post(
        url, json={"action": "reactivate", "user_email": f"cy@{t}.example"}, headers=AGENT
    )
    assert reactivate.status_code == 202, reactivate.text
    unlock = await svc.client.post(
        url, json={"action": "unlock", "user_id": f"{t}-cy"}, headers=AGENT
    )
    assert [r["code"] for r in problem(unlock, 409)["reasons"]] == [
        "action_does_not_fit_user_status"
    ]

    await send_events(
        [env("tenant.churned", 20, tenant_id=t, company_name=f"Co {t}")], prefix=svc.prefix
    )

    async def churned() -> dict[str, Any]:
        account = await _account(svc, t)
        assert account["tenant_status"] == "churned"
        return account

    account = await eventually(churned)
    assert account["tenant_status_reason"] == "subscription ended"
    assert account["tenant_status_since"] == "2026-01-05T12:20:00Z"
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    assert detail["account"]["tenant_status"] == "churned"
    refused = await svc.client.post(
        url, json={"action": "mfa_reset", "user_id": f"{t}-ada"}, headers=AGENT
    )
    assert [r["code"] for r in problem(refused, 409)["reasons"]] == ["tenant_churned"]


async def test_cancellation_and_suspension_show_in_the_account_view(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await portal_ticket(svc, t, f"{t}-ada")
    await send_events(
        [
            env("subscription.canceled", 30, tenant_id=t, plan_tier="business", seats=30),
            env(
                "tenant.suspended",
                31,
                tenant_id=t,
                company_name=f"Co {t}",
                reason="subscription_canceled",
            ),
        ],
        prefix=svc.prefix,
    )

    async def suspended() -> dict[str, Any]:
        detail: dict[str, Any] = (
            await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)
        ).json()
        assert detail["account"]["tenant_status"] == "suspended"
        return detail

    account = (await eventually(suspended))["account"]
    assert account["subscription_status"] == "canceled"
    assert account["cancel_at_period_end"] is True
    assert account["tenant_status_reason"] == "subscription_canceled"
    assert account["last_event_type"] == "tenant.suspended"
    refused = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/access-actions",
        json={"action": "mfa_reset", "user_id": f"{t}-ada"},
        headers=AGENT,
    )
    assert [r["code"] for r in problem(refused, 409)["reasons"]] == ["tenant_suspended"]


async def test_access_action_rejected_adds_a_note_with_the_reason_and_no_reply(
    svc: Service,
) -> None:
    t = tenant()
    await seed_account(svc, t)
    ticket = await portal_ticket(svc, t, f"{t}-ada", subject="Locked out", body="bob is locked")
    response = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/access-actions",
        json={"action": "unlock", "user_id": f"{t}-bob"},
        headers=AGENT,
    )
    assert response.status_code == 202, response.text
    request = response.json()
    rejected = sample(
        "access.action_rejected",
        tenant_id=t,
        request_id=request["id"],
        ticket_id=ticket["id"],
        action="unlock",
        user_id=f"{t}-bob",
        reasons=["invalid_user_state"],
        detail="the user was unlocked meanwhile",
    )
    await send_events([rejected, rejected], prefix=svc.prefix)

    async def noted() -> dict[str, Any]:
        detail: dict[str, Any] = (
            await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)
        ).json()
        assert any(e["kind"] == "note" for e in detail["timeline"])
        return detail

    detail = await eventually(noted)
    (note,) = [e for e in detail["timeline"] if e["kind"] == "note"]
    assert "unlock rejected" in note["body"] and "invalid_user_state" in note["body"]
    assert "unlocked meanwhile" in note["body"]
    assert [e["author_type"] for e in detail["timeline"] if e["kind"] == "reply"] == ["customer"]


def test_every_event_the_ticket_service_follows_has_a_handler() -> None:
    from supportops_events import billing, escalation, onboarding
    from ticket_service.consumers import events

    # every billing, onboarding and escalation event: none is skipped as unknown
    followed = {m.event_type for m in (*onboarding.EVENTS, *escalation.EVENTS, *billing.EVENTS)}
    assert followed - set(events.handlers) == set()


async def test_disputes_and_corrections_show_in_the_account_view(svc: Service) -> None:
    t = tenant()
    await seed_account(svc, t)
    dispute = {"tenant_id": t, "dispute_id": f"dp-{t}", "invoice_id": f"{t}-inv"}
    await send_events(
        [
            env("dispute.opened", 40, **dispute, status="needs_response", amount=4900),
            env("refund.issued", 41, tenant_id=t, refund_id=f"re-{t}", amount=1000),
            env("credit_note.issued", 42, tenant_id=t, credit_note_id=f"cn-{t}", amount=500),
        ],
        prefix=svc.prefix,
    )

    async def arrived() -> dict[str, Any]:
        account = await _account(svc, t)
        assert len(account["recent_corrections"]) == 2
        return account

    account = await eventually(arrived)
    assert [(d["dispute_id"], d["status"], d["amount"]) for d in account["open_disputes"]] == [
        (f"dp-{t}", "needs_response", 4900)
    ]
    assert [(c["kind"], c["amount"]) for c in account["recent_corrections"]] == [
        ("credit_note", 500),
        ("refund", 1000),
    ]
    await send_events(
        [
            env("dispute.closed", 50, **dispute, status="won", amount=4900),
            env("dispute.opened", 45, **dispute, status="needs_response", amount=4900),  # late
            env("refund.issued", 60, tenant_id=t, refund_id=f"re2-{t}", amount=700),  # marker
        ],
        prefix=svc.prefix,
    )

    async def after_marker() -> dict[str, Any]:
        account = await _account(svc, t)
        assert len(account["recent_corrections"]) == 3
        return account

    account = await eventually(after_marker)
    assert account["open_disputes"] == []  # the late "opened" changed nothing


async def test_a_ticket_page_shows_its_own_tenants_account_context_only(svc: Service) -> None:
    # the detail reads the account context in the ticket's own statement: it must be
    # exactly the account view of the ticket's tenant, whatever other tenants hold
    ours, theirs = tenant(), tenant()
    await seed_account(svc, ours)
    await seed_account(svc, theirs)
    ticket = await open_ticket(svc.client, ours)
    detail = await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)
    assert detail.status_code == 200, detail.text
    account = detail.json()["account"]
    assert account == await _account(svc, ours)
    assert {u["email"] for u in account["users"]} == {f"ada@{ours}.example", f"bob@{ours}.example"}
    assert [i["invoice_id"] for i in account["open_invoices"]] == [f"{ours}-inv"]
    # a customer's page does not show it
    bearer = token("agent", tenant_id=ours, subject=f"{ours}-ada", email=f"ada@{ours}.example")
    portal = {"Authorization": f"Bearer {bearer}"}
    mine = await open_ticket(svc.client, ours, headers=portal, email=f"ada@{ours}.example")
    from_portal = await svc.client.get(f"/v1/tickets/{mine['id']}", headers=portal)
    assert from_portal.status_code == 200, from_portal.text
    assert from_portal.json()["account"] is None
