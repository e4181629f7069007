"""Outbound mail through the kit's mail outbox, delivered to the real Mailpit.

What a user notices: a queued mail arrives once, whole (plain and HTML), only if its
transaction committed; an SMTP outage delays it but neither loses nor doubles it; a
recipient the server refuses for good is ``failed`` with the server's reason.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import select, text

from servicekit.db import Database
from servicekit.localstack import default_smtp_url
from servicekit.mail import (
    MAIL_NOTIFY_FUNCTION_SQL,
    MailStatus,
    SmtpTarget,
    build_message,
    mail_metadata,
    mail_outbox,
    mail_states,
    queue_mail,
)
from servicekit.mail_sender import MailOutcome, MailSender, classify
from servicekit.mailpit import Mailpit, unique_address
from servicekit.testing import eventually

SENDER = "supportops <support@supportops.test>"


@pytest.fixture
async def mail_db(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.run_sync(mail_metadata.create_all)
        await conn.execute(text(MAIL_NOTIFY_FUNCTION_SQL))
        await conn.execute(
            text(
                "CREATE OR REPLACE TRIGGER mail_outbox_notify AFTER INSERT ON mail_outbox "
                "FOR EACH STATEMENT EXECUTE FUNCTION servicekit_mail_notify()"
            )
        )
        await conn.execute(text("TRUNCATE mail_outbox"))
    return db


def live() -> SmtpTarget:
    return SmtpTarget.from_url(default_smtp_url())


async def queue(db: Database, to: str, *, subject: str = "Hello", **kw: object) -> str:
    async with db.unit_of_work() as session:
        message = build_message(
            sender=SENDER,
            to=to,
            subject=subject,
            text="Plain words, with ünïcode.",
            html="<p>Plain <b>words</b>, with ünïcode.</p>",
            **kw,  # type: ignore[arg-type]
        )
        queued = await queue_mail(session, message, kind="test")
    return queued.message_id


async def test_a_queued_mail_arrives_once_with_text_and_html(mail_db: Database) -> None:
    to = unique_address()
    message_id = await queue(mail_db, to, in_reply_to="<their-1@example.test>")
    outcomes: list[MailOutcome] = []

    async def record(_session: object, outcome: MailOutcome) -> None:
        outcomes.append(outcome)

    sender = MailSender(mail_db, live(), service_name="kit-test", on_status=record)
    assert await sender.drain() == 1
    assert await sender.drain() == 0  # sent is sent: never again
    (mail,) = await Mailpit().wait_for(to)
    assert mail.message_id == f"<{message_id}>"
    assert mail.header("In-Reply-To") == "<their-1@example.test>"
    assert mail.header("References") == "<their-1@example.test>"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.text().strip() == "Plain words, with ünïcode."
    assert "<b>words</b>" in (mail.html() or "")
    assert [o.status for o in outcomes] == [MailStatus.sent]
    async with mail_db.unit_of_work() as session:
        states = await mail_states(session, [f"<{message_id}>"])
    assert states[message_id].status is MailStatus.sent
    async with mail_db.unit_of_work() as session:
        kept = await session.scalar(
            select(mail_outbox.c.raw).where(mail_outbox.c.message_id == message_id)
        )
    assert kept == b""  # sent: the bytes (tokens, codes) are not kept
    await sender._drop_connection()


async def test_the_same_message_id_queued_twice_is_sent_once(mail_db: Database) -> None:
    to = unique_address()
    message = build_message(sender=SENDER, to=to, subject="Once", text="only once")
    for _ in range(2):
        async with mail_db.unit_of_work() as session:
            await queue_mail(session, message, kind="test")
    sender = MailSender(mail_db, live(), service_name="kit-test")
    assert await sender.drain() == 1
    await Mailpit().wait_for(to)
    await sender._drop_connection()
    # a later look still finds one
    assert len(await Mailpit().to(to)) == 1


async def test_a_rolled_back_change_sends_nothing(mail_db: Database) -> None:
    to = unique_address()
    with contextlib.suppress(RuntimeError):
        async with mail_db.unit_of_work() as session:
            await queue_mail(
                session, build_message(sender=SENDER, to=to, subject="x", text="y"), kind="test"
            )
            raise RuntimeError("the business change failed")
    sender = MailSender(mail_db, live(), service_name="kit-test")
    assert await sender.drain() == 0
    assert await Mailpit().to(to) == []


async def test_an_smtp_outage_delays_mail_but_neither_loses_nor_doubles_it(
    mail_db: Database,
) -> None:
    addresses = [unique_address() for _ in range(3)]
    # the relay is away: a port nobody listens on
    dead = SmtpTarget(hostname="127.0.0.1", port=_free_port(), timeout=1.0)
    sender = MailSender(mail_db, dead, service_name="kit-test", poll_interval=0.1, max_backoff=0.2)
    task = asyncio.create_task(sender.run())
    try:
        for to in addresses:
            await queue(mail_db, to)

        async def retried() -> None:
            async with mail_db.unit_of_work() as session:
                rows = (await session.execute(select(mail_outbox))).all()
            assert rows and all(r.status == "queued" for r in rows)
            assert max(r.attempts for r in rows) >= 2
            assert all(r.last_error for r in rows if r.attempts)

        await eventually(retried, timeout=20)
        sender.target = live()  # the relay is back
        for to in addresses:
            assert len(await Mailpit().wait_for(to)) == 1

        async def all_sent() -> None:
            async with mail_db.unit_of_work() as session:
                statuses = (await session.scalars(select(mail_outbox.c.status))).all()
            assert set(statuses) == {"sent"}

        await eventually(all_sent)
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)
    for to in addresses:  # and nothing doubled after the outage
        assert len(await Mailpit().to(to)) == 1


async def test_a_recipient_refused_for_good_is_failed_with_the_reason(
    mail_db: Database,
) -> None:
    """A 550 to RCPT TO (no such mailbox) fails the message; nothing retries it."""
    server = await asyncio.start_server(_refusing_smtp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    outcomes: list[MailOutcome] = []

    async def record(_session: object, outcome: MailOutcome) -> None:
        outcomes.append(outcome)

    try:
        message_id = await queue(mail_db, "nobody@example.test")
        sender = MailSender(
            mail_db,
            SmtpTarget(hostname="127.0.0.1", port=port, timeout=5.0),
            service_name="kit-test",
            on_status=record,
        )
        assert await sender.drain() == 1
        assert await sender.drain() == 0
        await sender._drop_connection()
    finally:
        server.close()
    async with mail_db.unit_of_work() as session:
        state = (await mail_states(session, [message_id]))[message_id]
    assert state.status is MailStatus.failed
    assert state.last_error is not None and "550" in state.last_error
    assert [(o.status, "no such mailbox" in (o.error or "")) for o in outcomes] == [
        (MailStatus.failed, True)
    ]


async def test_a_message_without_a_deliverable_address_is_failed_not_an_error(
    mail_db: Database,
) -> None:
    """An address the API accepted but no SMTP envelope can carry (here the empty group
    ``undisclosed-recipients:;``) must not fail the business change that queued it (the
    onboarding fuzzer found a 500 on POST /v1/tenants): the mail is stored and then
    failed with its reason, visible like any refusal, and nothing is sent."""
    outcomes: list[MailOutcome] = []

    async def record(_session: object, outcome: MailOutcome) -> None:
        outcomes.append(outcome)

    message_id = await queue(mail_db, "undisclosed-recipients:;")
    sender = MailSender(
        mail_db,
        SmtpTarget.from_url(default_smtp_url()),
        service_name="kit-test",
        on_status=record,
    )
    assert await sender.drain() == 1
    await sender._drop_connection()
    async with mail_db.unit_of_work() as session:
        state = (await mail_states(session, [message_id]))[message_id]
    assert state.status is MailStatus.failed
    assert state.last_error is not None and "no deliverable recipient" in state.last_error
    assert [o.status for o in outcomes] == [MailStatus.failed]


def test_typed_line_breaks_cannot_reach_a_header() -> None:
    """A name or subject someone typed with a line break (the onboarding fuzzer's admin
    name) becomes one line: no 500, and no header injected through it."""
    message = build_message(
        sender="Support <support@vendor.example>",
        to="Ada\r\nBcc: evil@attacker.example <ada@example.test>",
        subject="Welcome\nX-Injected: yes",
        text="hello",
    )
    raw = message.as_bytes().decode()
    assert "X-Injected: yes" not in raw.replace("Subject: Welcome X-Injected: yes", "")
    assert message["Bcc"] is None and message.get_all("X-Injected") is None
    assert str(message["Subject"]) == "Welcome X-Injected: yes"


def test_an_address_the_relay_cannot_encode_is_a_permanent_failure() -> None:
    assert classify(UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)"))


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_smtp_url_names_the_relay_its_tls_and_its_user() -> None:
    plain = SmtpTarget.from_url("smtp://127.0.0.1:1025")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == (
        "127.0.0.1",
        1025,
        False,
        None,
    )
    starttls = SmtpTarget.from_url(
        "smtp://mailer%40corp@smtp.example.com:587?starttls=true", password="s3cret-value"
    )
    assert (starttls.start_tls, starttls.username, starttls.password) == (
        True,
        "mailer@corp",
        "s3cret-value",
    )
    implicit = SmtpTarget.from_url("smtps://smtp.example.com")
    assert (implicit.port, implicit.use_tls) == (465, True)
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTarget.from_url("http://smtp.example.com")
