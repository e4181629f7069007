"""E-mail with the customer, end to end on the real Mailpit: raw mail in (charsets,
HTML, attachments, quoted history), our replies out (threaded both ways, sent once, the
delivery status on the timeline), the survey on solve, loop protection, the size limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from ticket_service_testkit import AGENT, Service, patch_ticket, problem

from servicekit.mail import SmtpTarget
from servicekit.mailpit import Mailpit, unique_address
from servicekit.testing import app_client, auth, eventually, known_tenant, topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app

SERVICE = auth("service", subject="mail-gateway")
RAW = {**SERVICE, "Content-Type": "message/rfc822"}
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
async def mail_svc(ticket_db_url: str) -> AsyncIterator[Service]:
    settings = TicketSettings(
        database_url=ticket_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        inbound_email_max_bytes=LIMIT,
        mail_poll_interval_seconds=0.2,
    )
    app = create_app(settings)
    async with app_client(app) as client:
        yield Service(client=client, app=app, prefix=settings.kafka_topic_prefix, settings=settings)


async def customer(svc: Service) -> tuple[str, str]:
    """A tenant with a verified domain, and a unique customer address in it."""
    tenant_id = str(uuid.uuid4())
    domain = f"c{uuid.uuid4().hex[:10]}.example.test"
    await known_tenant(svc.app, tenant_id, event_type="tenant.created", domains=[domain])
    return tenant_id, unique_address("pat", domain)


def raw_mail(
    sender: str,
    *,
    subject: str = "Export broken",
    text: str | None = "The export button does nothing.",
    html: str | None = None,
    charset: str = "utf-8",
    cte: str | None = None,
    headers: dict[str, str] | None = None,
    files: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> tuple[bytes, str]:
    message = EmailMessage(policy=policy.SMTP)
    message_id = f"<{uuid.uuid4()}@customer.example.test>"
    message["From"] = f"Pat Doe <{sender}>"
    message["To"] = "support@supportops.localhost"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text, charset=charset, cte=cte)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for filename, content_type, content in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(), message_id


async def take_in(svc: Service, raw: bytes, status: int = 201) -> dict[str, Any]:
    response = await svc.client.post("/v1/inbound-email", content=raw, headers=RAW)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def timeline(svc: Service, ticket_id: str) -> list[dict[str, Any]]:
    detail = await svc.client.get(f"/v1/tickets/{ticket_id}", headers=AGENT)
    assert detail.status_code == 200, detail.text
    entries: list[dict[str, Any]] = detail.json()["timeline"]
    return entries


async def test_a_latin1_mail_opens_a_ticket_the_reply_reaches_the_customer_once_and_threads(
    mail_svc: Service,
) -> None:
    svc = mail_svc
    _, address = await customer(svc)
    raw, their_id = raw_mail(
        address,
        text="Grüße aus Köln: the export façade is broken.",
        charset="latin-1",
        cte="quoted-printable",
    )
    assert b"K=F6ln" in raw  # really latin-1, quoted-printable on the wire
    created = await take_in(svc, raw)
    ticket_id = created["ticket_id"]
    (opening, *_) = await timeline(svc, ticket_id)
    assert opening["body"] == "Grüße aus Köln: the export façade is broken."

    # the agent's reply, retried with the same Idempotency-Key: one mail
    reply = {"kind": "reply", "body": "Hello Pat,\n\nplease try again now.\n\n<Ann>"}
    headers = {**AGENT, "Idempotency-Key": f"reply-{uuid.uuid4()}"}
    for _ in range(2):
        posted = await svc.client.post(
            f"/v1/tickets/{ticket_id}/messages", json=reply, headers=headers
        )
        assert posted.status_code == 201, posted.text
    (mail,) = await Mailpit().wait_for(address)
    assert f"[ref:{uuid.UUID(ticket_id).hex[:12]}]" in mail.subject
    assert mail.subject.startswith("Export broken")
    assert mail.header("In-Reply-To") == their_id.lower()
    assert mail.text().strip() == reply["body"]
    assert "&lt;Ann&gt;" in (mail.html() or "")  # the agent's words, escaped in HTML
    assert posted.json()["data"]["email"]["message_id"] == mail.message_id

    async def delivered() -> None:
        entry = next(e for e in await timeline(svc, ticket_id) if e["id"] == posted.json()["id"])
        assert entry["data"]["email"]["status"] == "sent"

    await eventually(delivered)
    assert len(await Mailpit().to(address)) == 1  # the retry sent nothing

    # the customer answers our mail, quoting it: threaded, the quote trimmed
    answer, _ = raw_mail(
        address,
        subject=f"Re: {mail.subject}",
        text="Thanks, it works now!\n\nOn Mon, 7 Dec 2026 at 10:00, Support wrote:\n"
        "> Hello Pat,\n> please try again now.\n",
        headers={"In-Reply-To": mail.message_id, "References": f"{their_id} {mail.message_id}"},
    )
    threaded = await take_in(svc, answer)
    assert (threaded["ticket_id"], threaded["threaded"]) == (ticket_id, True)
    bodies = [e["body"] for e in await timeline(svc, ticket_id) if e["author_type"] == "customer"]
    assert bodies[-1] == "Thanks, it works now!"

    # a client that dropped the headers: the subject's [ref:…] token threads it
    bare, _ = raw_mail(address, subject=f"Re: {mail.subject}", text="One more thing.")
    by_token = await take_in(svc, bare)
    assert (by_token["ticket_id"], by_token["threaded"]) == (ticket_id, True)
    # but a stranger quoting the token opens a ticket of their own
    _, stranger_address = await customer(svc)
    other, _ = raw_mail(stranger_address, subject=f"Re: {mail.subject}", text="Me too")
    assert (await take_in(svc, other))["ticket_id"] != ticket_id


async def test_an_html_mail_with_attachments_is_read_and_its_files_kept_exactly(
    mail_svc: Service,
) -> None:
    svc = mail_svc
    tenant_id, address = await customer(svc)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    csv = "name;amount\nMüller;12,50\n".encode("utf-16")
    raw, _ = raw_mail(
        address,
        text=None,
        html="<html><head><style>p{color:red}</style></head><body><p>The <b>invoice</b>"
        " export fails:</p><ul><li>step one</li><li>step two</li></ul></body></html>",
        files=[("report.pdf", "application/pdf", pdf), ("données.csv", "text/csv", csv)],
    )
    created = await take_in(svc, raw)
    ticket_id = created["ticket_id"]
    (opening, *_) = await timeline(svc, ticket_id)
    assert opening["body"] == "The invoice export fails:\n\n- step one\n- step two"
    assert "color" not in opening["body"]

    listed = await svc.client.get(f"/v1/tickets/{ticket_id}/attachments", headers=AGENT)
    assert listed.status_code == 200, listed.text
    files = {a["filename"]: a for a in listed.json()}
    assert set(files) == {"report.pdf", "données.csv"}
    assert files["report.pdf"]["size"] == len(pdf)
    assert files["report.pdf"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert files["report.pdf"]["content_type"] == "application/pdf"
    download = await svc.client.get(f"/v1/attachments/{files['report.pdf']['id']}", headers=AGENT)
    assert download.status_code == 200
    assert download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]
    got_csv = await svc.client.get(f"/v1/attachments/{files['données.csv']['id']}", headers=AGENT)
    assert got_csv.content == csv

    # the tenant's own (portal) token reads it; another tenant's gets a 404
    own = auth("agent", tenant_id=tenant_id, subject="pat")
    assert (
        await svc.client.get(f"/v1/attachments/{files['report.pdf']['id']}", headers=own)
    ).content == pdf
    other = auth("agent", tenant_id=await svc.tenant(), subject="eve")
    problem(
        await svc.client.get(f"/v1/attachments/{files['report.pdf']['id']}", headers=other), 404
    )
    problem(await svc.client.get(f"/v1/tickets/{ticket_id}/attachments", headers=other), 404)


@pytest.mark.parametrize(
    ("headers", "content_type", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, None, "auto-submitted"),
        ({"Precedence": "bulk"}, None, "precedence"),
        ({"X-Autoreply": "yes"}, None, "auto-reply"),
        ({}, "multipart/report", "bounce"),
    ],
)
async def test_auto_replies_bulk_and_bounces_make_no_ticket_and_no_mail(
    mail_svc: Service, headers: dict[str, str], content_type: str | None, reason: str
) -> None:
    svc = mail_svc
    tenant_id, address = await customer(svc)
    raw, _ = raw_mail(address, subject="Out of office", text="I am away.", headers=headers)
    if content_type == "multipart/report":
        raw = (
            f"From: Mail Delivery System <{address}>\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <{uuid.uuid4()}@mx.example.test>\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
            "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
            "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.test\r\n\r\n"
            "Final-Recipient: rfc822; gone@example.test\r\nAction: failed\r\n"
            "Status: 5.1.1\r\n--b1--\r\n"
        ).encode()
    ignored = await take_in(svc, raw, status=202)
    assert ignored == {**ignored, "ignored": reason, "ticket_id": None}
    listed = await svc.client.get(f"/v1/tickets?tenant_id={tenant_id}", headers=AGENT)
    assert listed.json()["items"] == []
    assert await Mailpit().to(address) == []


async def test_an_oversized_mail_is_refused_with_413_and_nothing_is_stored(
    mail_svc: Service,
) -> None:
    svc = mail_svc
    tenant_id, address = await customer(svc)
    raw, _ = raw_mail(address, files=[("big.bin", "application/octet-stream", b"x" * LIMIT)])
    refused = problem(await svc.client.post("/v1/inbound-email", content=raw, headers=RAW), 413)
    assert refused["type"].endswith("/payload-too-large")

    # also when the size is not announced (a streamed body)
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 4096):
            yield raw[start : start + 4096]

    streamed = await svc.client.post("/v1/inbound-email", content=chunks(), headers=RAW)
    problem(streamed, 413)
    listed = await svc.client.get(f"/v1/tickets?tenant_id={tenant_id}", headers=AGENT)
    assert listed.json()["items"] == []


async def test_solving_mails_the_satisfaction_survey_link(mail_svc: Service) -> None:
    svc = mail_svc
    _, address = await customer(svc)
    raw, _ = raw_mail(address, subject="Password reset")
    ticket_id = (await take_in(svc, raw))["ticket_id"]
    await patch_ticket(svc.client, ticket_id, {"status": "solved", "reason": "fixed"})
    (survey,) = await Mailpit().wait_for(address)
    assert "/v1/csat-surveys/" in survey.text()
    assert survey.header("Auto-Submitted") == "auto-generated"  # no person wrote it
    assert "[ref:" in survey.subject


async def test_an_unreadable_raw_mail_is_a_422(mail_svc: Service) -> None:
    response = await mail_svc.client.post(
        "/v1/inbound-email", content=b"this is not a mail\r\n", headers=RAW
    )
    assert problem(response, 422)["type"].endswith("/unreadable-mail")


async def test_a_reply_the_mail_server_refuses_for_good_shows_failed_with_the_reason(
    mail_svc: Service,
) -> None:
    """The relay answers 550 to the recipient: the reply's timeline entry says so."""
    svc = mail_svc
    _, address = await customer(svc)
    raw, _ = raw_mail(address, subject="Wrong address")
    ticket_id = (await take_in(svc, raw))["ticket_id"]
    server = await asyncio.start_server(_refusing_smtp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = svc.app.state.mail_sender
    await sender.use(SmtpTarget(hostname="127.0.0.1", port=port, timeout=5.0))
    try:
        posted = await svc.client.post(
            f"/v1/tickets/{ticket_id}/messages",
            json={"kind": "reply", "body": "Hello?"},
            headers=AGENT,
        )
        assert posted.status_code == 201, posted.text

        async def failed() -> None:
            entries = await timeline(svc, ticket_id)
            entry = next(e for e in entries if e["id"] == posted.json()["id"])
            email = entry["data"]["email"]
            assert email["status"] == "failed", email
            assert "550" in email["error"] and "no such mailbox" in email["error"]

        await eventually(failed)
    finally:
        await sender.use(svc.settings.smtp_target())
        server.close()
    assert await Mailpit().to(address) == []


async def _refusing_smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal SMTP server that refuses every recipient (550)."""
    writer.write(b"220 refuser ESMTP\r\n")
    while line := await reader.readline():
        verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
        reply = {
            "EHLO": b"250 refuser\r\n",
            "HELO": b"250 refuser\r\n",
            "MAIL": b"250 ok\r\n",
            "RCPT": b"550 5.1.1 no such mailbox\r\n",
            "RSET": b"250 ok\r\n",
            "NOOP": b"250 ok\r\n",
            "QUIT": b"221 bye\r\n",
        }.get(verb, b"502 not implemented\r\n")
        writer.write(reply)
        await writer.drain()
        if verb == "QUIT":
            break
    writer.close()
