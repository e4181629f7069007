"""What the customer receives from onboarding, read back from the real Mailpit: the
invitation whose link activates the account, the welcome and onboarding-complete
messages, the one-time code of an MFA reset (once, however often the command comes)."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR, KnownCodes

from onboarding_service.config import OnboardingSettings
from servicekit.mailpit import Mailpit
from servicekit.testing import eventually, send_events
from supportops_events import Envelope
from supportops_events.samples import sample


async def active_admin(client: httpx.AsyncClient, new_tenant: Any) -> tuple[str, dict[str, Any]]:
    created = await new_tenant()
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    assert accepted.status_code == 200, accepted.text
    return created["tenant"]["id"], accepted.json()


def mfa_reset(tenant_id: str, user: dict[str, Any]) -> Any:
    """Support's ``access.action_requested`` for an MFA reset of ``user``."""
    return sample(
        "access.action_requested",
        tenant_id=tenant_id,
        request_id=f"req-{uuid.uuid4().hex[:12]}",
        action="mfa_reset",
        user_id=user["id"],
        user_email=user["email"],
        ticket_id="tkt-1",
    )


def link_token(text: str) -> str:
    (url,) = re.findall(r"https?://\S+", text)
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_the_invitation_mail_carries_the_link_that_activates_the_account(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    created = await new_tenant()
    admin = created["admin_invitation"]
    address = admin["user"]["email"]
    (invitation,) = await Mailpit().wait_for(address)
    assert created["tenant"]["company_name"] in invitation.subject
    assert invitation.header("Auto-Submitted") == "auto-generated"
    token = link_token(invitation.text())
    assert token == admin["invitation_token"]
    assert f"token={token}" in (invitation.html() or "").replace("&amp;", "&")

    accepted = await client.post("/v1/invitations/accept", json={"token": token}, headers=IDENTITY)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"

    async def delivered() -> None:
        mail = await client.get(f"/v1/users/{admin['user']['id']}/mail", headers=OPERATOR)
        assert mail.status_code == 200, mail.text
        (sent,) = mail.json()
        assert (sent["kind"], sent["status"], sent["to"]) == ("user.invitation", "sent", [address])
        assert sent["message_id"] == invitation.message_id

    await eventually(delivered)


async def test_welcome_and_onboarding_complete_reach_the_admin(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    created = await new_tenant(seats=5)
    tenant_id = created["tenant"]["id"]
    address = created["admin_invitation"]["user"]["email"]
    await send_events(
        [
            sample("subscription.created", tenant_id=tenant_id, subscription_id=f"sub-{tenant_id}"),
            sample("invoice.paid", tenant_id=tenant_id),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def billing_ticked() -> None:
        body = (await client.get(f"/v1/tenants/{tenant_id}/onboarding", headers=OPERATOR)).json()
        ticked = {s["step"] for s in body["steps"] if s["done"]}
        assert {"subscription_attached", "payment_confirmed"} <= ticked

    await eventually(billing_ticked)
    await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    welcome = await client.post(
        f"/v1/tenants/{tenant_id}/onboarding/welcome", json={}, headers=OPERATOR
    )
    assert welcome.status_code == 201, welcome.text

    mails = await Mailpit().wait_for(address, count=3)
    subjects = [m.subject for m in mails]
    assert subjects[1] == welcome.json()["subject"]
    assert mails[1].text().strip() == welcome.json()["body"].strip()
    assert subjects[2] == f"{created['tenant']['company_name']} is ready on supportops"
    tenant_mail = (await client.get(f"/v1/tenants/{tenant_id}/mail", headers=OPERATOR)).json()
    assert [m["kind"] for m in tenant_mail] == ["tenant.welcome", "tenant.onboarded"]


async def test_the_mfa_reset_code_is_mailed_to_the_user_once(
    client: httpx.AsyncClient,
    new_tenant: Any,
    onboarding_settings: OnboardingSettings,
    codes: KnownCodes,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    request = mfa_reset(tenant_id, user)
    codes.queued.append("580214")
    prefix = onboarding_settings.kafka_topic_prefix
    # delivered twice (a producer retry with a new event id): one code, one mail
    await send_events(
        [Envelope.new(request, source="ticket-service"), Envelope.new(request, source="t")],
        prefix=prefix,
    )
    mails = await Mailpit().wait_for(user["email"], count=2)  # the invitation, the code
    code_mail = mails[-1]
    assert code_mail.subject == "Your supportops confirmation code"
    assert "580214" in code_mail.text()
    assert "mfa reset" in code_mail.text()
    assert len(await Mailpit().to(user["email"])) == 2
