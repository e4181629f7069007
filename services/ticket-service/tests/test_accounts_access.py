"""The verified account context from events, and access actions through the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ticket_service_testkit import AGENT, Service, error_fields, open_ticket, problem, tenant

from servicekit.testing import eventually, send_events
from supportops_events import Envelope
from supportops_events.samples import sample


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
            env("user.activated", 2, tenant_id=t, user_id=f"{t}-ada", email=f"ada@{t}.example"),
            env("user.locked", 3, tenant_id=t, user_id=f"{t}-bob", email=f"bob@{t}.example"),
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
    ticket = await open_ticket(svc.client, t, subject="MFA lost", body="reset my 2FA please")
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

    suspended_ticket = await open_ticket(svc.client, other)
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
    ticket = await open_ticket(svc.client, t, subject="MFA lost", body="new phone, MFA gone")
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
    assert command.data.user_email == f"ada@{t}.example"  # type: ignore[attr-defined]

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
