"""The mail a customer receives, through the four real processes and the real Mailpit:
the invitation whose link activates the admin; a ticket opened by mail, the agent's
reply, the customer's answer threading onto it, and the survey on solve."""

from __future__ import annotations

import re
import uuid
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from journey import Journey
from test_journey_new_customer import create_plan, create_tenant

from servicekit.mailpit import Mailpit


def raw_mail(sender: str, subject: str, text: str, **headers: str) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = f"Pat Doe <{sender}>"
    message["To"] = "support@supportops.localhost"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@customer.example.test>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


async def test_invitation_activates_and_a_mailed_ticket_gets_reply_and_survey(
    journey: Journey,
) -> None:
    plan = await create_plan(journey)
    created = await create_tenant(journey, plan)
    domain = created["tenant"]["domains"][0]
    admin_email = created["admin_invitation"]["user"]["email"]

    (invitation,) = await Mailpit().wait_for(admin_email, timeout=60)
    (link,) = re.findall(r"https?://\S+", invitation.text())
    token = parse_qs(urlsplit(link).query)["token"][0]
    activated = await journey.post(
        "onboarding", "/v1/invitations/accept", {"token": token}, roles=("service",), expect=200
    )
    assert activated["status"] == "active"

    # the customer writes in; the ticket-service knows the domain from tenant.created
    customer = f"pat-{uuid.uuid4().hex[:8]}@{domain}"
    inbound = journey.stack["ticket-service"].url + "/v1/inbound-email"
    raw_headers = journey.headers("service", extra={"Content-Type": "message/rfc822"})

    async def taken_in(raw: bytes) -> dict[str, Any]:
        response = await journey.http.post(inbound, content=raw, headers=raw_headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    opening = raw_mail(customer, "Cannot export invoices", "The export button does nothing.")
    ticket = await journey.until(lambda: taken_in(opening), timeout=60)
    ticket_id = ticket["ticket_id"]

    await journey.post(
        "ticket",
        f"/v1/tickets/{ticket_id}/messages",
        {"kind": "reply", "body": "Hello Pat, fixed on our side: please try again."},
        roles=("agent",),
        idempotency_key=f"reply-{ticket_id}",
        expect=201,
    )
    (reply,) = await Mailpit().wait_for(customer, timeout=60)
    assert "please try again" in reply.text()
    assert "[ref:" in reply.subject

    answer = raw_mail(
        customer,
        f"Re: {reply.subject}",
        "Works now, thanks!\n\nOn Monday, Support wrote:\n> Hello Pat, fixed on our side",
        In_Reply_To=reply.message_id,
    )
    threaded = await taken_in(answer)
    assert (threaded["ticket_id"], threaded["threaded"]) == (ticket_id, True)

    current = await journey.request(
        "ticket", "GET", f"/v1/tickets/{ticket_id}", roles=("agent",), expect=200
    )
    await journey.request(
        "ticket",
        "PATCH",
        f"/v1/tickets/{ticket_id}",
        roles=("agent",),
        json_body={"status": "solved", "reason": "the customer confirmed"},
        headers={"If-Match": current.headers["ETag"]},
        expect=200,
    )
    mails = await Mailpit().wait_for(customer, count=2, timeout=60)
    assert "/v1/csat-surveys/" in mails[1].text()
    detail = await journey.get("ticket", f"/v1/tickets/{ticket_id}", roles=("agent",))
    customer_words = [e["body"] for e in detail["timeline"] if e["author_type"] == "customer"]
    assert customer_words == ["The export button does nothing.", "Works now, thanks!"]
