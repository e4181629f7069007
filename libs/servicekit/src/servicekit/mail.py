"""Outbound e-mail, the outbox way: a message is queued in the caller's transaction.

``queue_mail(session, message, kind=…)`` stores the finished RFC 5322 message (the exact
bytes that will go out) in the kit's ``mail_outbox`` table, in the same transaction as
the business change that caused it: no mail for a change that rolled back, and no
change without its mail. The sender (``servicekit.mail_sender``) delivers committed
rows over SMTP afterwards.

The ``Message-ID`` (ours: ``<uuid@domain>``) is the idempotency key: queueing the same
Message-ID twice stores one row, and the sender marks a row ``sent`` in the row itself,
so a message is handed to SMTP once — except in the crash window between the SMTP
server's acceptance and the commit of ``sent`` (see docs/email.md).

Statuses: ``queued`` (waiting, or being retried after an SMTP or network error, without
limit), ``sent``, ``failed`` (a permanent refusal, 5xx, with its reason in ``last_error``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import make_metadata

MAIL_CHANNEL = "servicekit_mail"
"""NOTIFY channel: a queued mail wakes the sender at once (polling covers the gaps)."""

logger = logging.getLogger("servicekit.mail")


class MailStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


mail_metadata = make_metadata()
"""Apart from the kit's tables: only services that send mail have this table."""

mail_outbox = sa.Table(
    "mail_outbox",
    mail_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    # without angle brackets, lower-cased: the idempotency key
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(64), nullable=False),
    # what the mail belongs to ("timeline_entry:<id>", "user:<id>"): the status hook's key
    sa.Column("ref", sa.String(255), nullable=True, index=True),
    sa.Column("tenant_id", sa.String(64), nullable=True),
    sa.Column("sender", sa.String(320), nullable=False),
    sa.Column("recipients", ARRAY(sa.String(320)), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    # the message exactly as it goes out: the sender never re-renders anything
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=MailStatus.queued.value),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column(
        "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(
        "ix_mail_outbox_due",
        "next_attempt_at",
        "id",
        postgresql_where=sa.text("status = 'queued'"),
    ),
)

MAIL_NOTIFY_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION servicekit_mail_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('{MAIL_CHANNEL}', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

MAIL_NOTIFY_TRIGGER_SQL = """
CREATE TRIGGER mail_outbox_notify AFTER INSERT ON mail_outbox
FOR EACH STATEMENT EXECUTE FUNCTION servicekit_mail_notify()
"""


def create_mail_outbox_v1(op: Any) -> None:
    """The ``mail_outbox`` table; call from a service's migration (like the kit tables)."""
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", ARRAY(sa.String(320)), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
        sa.UniqueConstraint("message_id", name="uq_mail_outbox_message_id"),
    )
    op.create_index("ix_mail_outbox_ref", "mail_outbox", ["ref"])
    op.create_index(
        "ix_mail_outbox_due",
        "mail_outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.execute(MAIL_NOTIFY_FUNCTION_SQL)
    op.execute(MAIL_NOTIFY_TRIGGER_SQL)


def drop_mail_outbox_v1(op: Any) -> None:
    op.execute("DROP TRIGGER IF EXISTS mail_outbox_notify ON mail_outbox")
    op.drop_table("mail_outbox")
    op.execute("DROP FUNCTION IF EXISTS servicekit_mail_notify()")


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: parsed from ``SMTP_URL`` (``smtp://[user@]host:port[?starttls=…]``
    for plain SMTP or STARTTLS, ``smtps://…`` for implicit TLS) and ``SMTP_PASSWORD``."""

    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool | None = None
    """None: STARTTLS when the server offers it (aiosmtplib's default); True: required."""
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_url(
        cls, url: str, *, password: str | None = None, timeout: float = 10.0
    ) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must be smtp://host:port or smtps://host:port, not {url!r}")
        query = parse_qs(parts.query)
        starttls = (query.get("starttls") or [""])[0].lower()
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            use_tls=parts.scheme == "smtps",
            start_tls={"true": True, "1": True, "false": False, "0": False}.get(starttls),
            username=unquote(parts.username) if parts.username else None,
            password=password if password is not None else (unquote(parts.password or "") or None),
            timeout=timeout,
        )


# --- building messages --------------------------------------------------------------------


def new_message_id(domain: str) -> str:
    """Our Message-ID, with angle brackets: ``<uuid@domain>``."""
    return f"<{uuid.uuid4()}@{domain}>"


def bare_id(message_id: str) -> str:
    """A Message-ID as stored and compared: no angle brackets, no spaces, lower-case."""
    return message_id.strip().strip("<>").strip().lower()


def bracketed(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>').strip()}>"


def domain_of(address: str) -> str:
    """The domain of an address (``Name <a@b.dev>`` or ``a@b.dev``)."""
    (_, email_address), *_ = getaddresses([address])
    return email_address.rsplit("@", 1)[-1].lower() or "localhost"


def build_message(
    *,
    sender: str,
    to: str | Address | Sequence[str | Address],
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    auto_submitted: bool = False,
    reply_to: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A plain-text message with an optional HTML alternative (``multipart/alternative``).

    ``message_id`` defaults to a new one in the sender's domain; ``auto_submitted`` marks
    mail no person wrote (RFC 3834), so auto-responders do not answer it.
    """
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = one_line(sender)
    recipients = [to] if isinstance(to, str | Address) else list(to)
    message["To"] = [_one_line_address(r) for r in recipients]
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(_now())
    message["Message-ID"] = message_id or new_message_id(domain_of(sender))
    refs = [bracketed(r) for r in references if r]
    if in_reply_to:
        message["In-Reply-To"] = bracketed(in_reply_to)
        if bracketed(in_reply_to) not in refs:
            refs.append(bracketed(in_reply_to))
    if refs:
        message["References"] = " ".join(refs)
    if reply_to:
        message["Reply-To"] = one_line(reply_to)
    if auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        message[name] = one_line(value)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def one_line(value: str) -> str:
    """A header value from text a customer or an admin typed (a name, a subject): line
    breaks become spaces. A header cannot hold them (the ``email`` package refuses them,
    and a raw CR/LF would let the text inject headers of its own)."""
    return " ".join(value.replace("\r", "\n").split("\n")).strip()


def _one_line_address(value: str | Address) -> str | Address:
    if isinstance(value, Address):
        return Address(display_name=one_line(value.display_name), addr_spec=value.addr_spec)
    return one_line(value)


def _now() -> datetime:
    return datetime.now(UTC)


# --- queueing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedMail:
    message_id: str
    """Bare (no angle brackets), as stored."""
    created: bool
    """False when this Message-ID was queued before (nothing new was stored)."""


async def queue_mail(
    session: AsyncSession,
    message: EmailMessage,
    *,
    kind: str,
    ref: str | None = None,
    tenant_id: str | None = None,
) -> QueuedMail:
    """Store ``message`` in the mail outbox in ``session``'s transaction.

    It is sent only if, and after, that transaction commits. The same Message-ID twice
    is stored once (the first wins).
    """
    message_id = message["Message-ID"]
    if not message_id:
        raise ValueError("a queued message needs a Message-ID")
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    recipients = [addr for _, addr in getaddresses(fields) if addr]
    if not recipients:
        # an address the API accepted but no SMTP envelope can carry: the business change
        # goes on; the sender fails this mail with its reason (visible like a refusal)
        logger.warning("mail %s names no deliverable recipient: %s", message_id, fields)
    bcc = message.get_all("Bcc")
    if bcc:
        del message["Bcc"]  # recipients of the envelope only, never in the header
    raw = message.as_bytes(policy=policy.SMTP)
    key = bare_id(str(message_id))
    stored = await session.scalar(
        insert(mail_outbox)
        .values(
            message_id=key,
            kind=kind,
            ref=ref,
            tenant_id=tenant_id,
            sender=str(message["From"]),
            recipients=recipients,
            subject=str(message["Subject"] or ""),
            raw=raw,
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(mail_outbox.c.id)
    )
    return QueuedMail(message_id=key, created=stored is not None)


@dataclass(frozen=True)
class MailState:
    message_id: str
    status: MailStatus
    attempts: int
    last_error: str | None


async def mail_states(session: AsyncSession, message_ids: Iterable[str]) -> dict[str, MailState]:
    """The delivery state of each queued Message-ID (bare or bracketed) found."""
    keys = sorted({bare_id(m) for m in message_ids})
    if not keys:
        return {}
    rows = (
        await session.execute(
            sa.select(
                mail_outbox.c.message_id,
                mail_outbox.c.status,
                mail_outbox.c.attempts,
                mail_outbox.c.last_error,
            ).where(mail_outbox.c.message_id.in_(keys))
        )
    ).all()
    return {
        r.message_id: MailState(r.message_id, MailStatus(r.status), r.attempts, r.last_error)
        for r in rows
    }
