"""The mail sender: delivers committed ``mail_outbox`` rows over SMTP, after the commit.

One message per transaction: the row is claimed ``FOR UPDATE SKIP LOCKED`` (two senders,
in two replicas, never hold the same row), handed to the SMTP server, and marked
``sent`` in that same transaction. So a message is sent once; only a crash between the
server's acceptance and the commit sends it again, with the same Message-ID (at least
once towards SMTP; receivers and Mailpit show the Message-ID, docs/email.md).

Errors:
- the SMTP server or the network away, a timeout, a 4xx (try later): the row stays
  ``queued``, ``attempts`` grows and it is retried with backoff, without limit —
  infrastructure errors never fail a message;
- a 5xx refusal of the message or of its recipients (no such mailbox, message rejected):
  ``failed`` with the server's reason in ``last_error``; retrying cannot help.

A service passes ``on_status`` to record the outcome where people look (a ticket's
timeline entry, a user's record): it runs in the transaction that marks the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

import aiosmtplib
import asyncpg
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database
from servicekit.mail import MAIL_CHANNEL, MailStatus, SmtpTarget

if TYPE_CHECKING:
    from servicekit.settings import ServiceSettings

logger = logging.getLogger("servicekit.mail")

MAIL_SENT = Counter("mail_sent_total", "Mails accepted by the SMTP server", ["service", "kind"])
MAIL_FAILED = Counter(
    "mail_failed_total", "Mails permanently refused (5xx), not retried", ["service", "kind"]
)
MAIL_RETRIES = Counter(
    "mail_send_retries_total",
    "Send attempts that met an SMTP or network error and will be retried",
    ["service"],
)
MAIL_PENDING = Gauge("mail_pending", "Mails queued and not yet sent", ["service"])
MAIL_PENDING_AGE = Gauge(
    "mail_pending_age_seconds", "Age of the oldest mail not yet sent", ["service"]
)

CLAIM_SQL = text(
    """
SELECT id, message_id, kind, ref, tenant_id, sender, recipients, raw, attempts
FROM mail_outbox
WHERE status = 'queued' AND next_attempt_at <= now()
ORDER BY next_attempt_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
)
# The bytes are dropped once the row is done: invitations carry activation tokens and
# MFA resets one-time codes, which the services themselves keep only as hashes.
SENT_SQL = text(
    "UPDATE mail_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1, "
    "last_error = NULL, raw = ''::bytea WHERE id = :id"
)
FAILED_SQL = text(
    "UPDATE mail_outbox SET status = 'failed', failed_at = now(), attempts = attempts + 1, "
    "last_error = :error, raw = ''::bytea WHERE id = :id"
)
RETRY_SQL = text(
    "UPDATE mail_outbox SET attempts = attempts + 1, last_error = :error, "
    "next_attempt_at = now() + make_interval(secs => :delay) WHERE id = :id"
)
LAG_SQL = text(
    "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)) "
    "FROM mail_outbox WHERE status = 'queued'"
)


@dataclass(frozen=True)
class MailOutcome:
    """What became of one message: handed to ``on_status`` in the marking transaction."""

    message_id: str
    kind: str
    ref: str | None
    tenant_id: str | None
    status: MailStatus
    error: str | None = None


StatusHook = Callable[[AsyncSession, MailOutcome], Awaitable[None]]


class PermanentRefusal(Exception):
    """The server refused the message for good (5xx)."""


class Undeliverable(Exception):
    """The message names no address an SMTP envelope can carry: failed for good, as a
    5xx refusal would be, without asking a server."""


def classify(exc: BaseException) -> str | None:
    """The reason of a permanent refusal, or None for an error worth retrying."""
    if isinstance(exc, Undeliverable):
        return str(exc)
    if isinstance(exc, UnicodeError):
        # a non-ASCII address the relay cannot take (no SMTPUTF8): no retry changes that
        return f"cannot be encoded for this SMTP server: {exc}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(500 <= c < 600 for c in codes):
            return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return None
    if (
        isinstance(exc, aiosmtplib.SMTPDataError | aiosmtplib.SMTPRecipientRefused)
        and 500 <= exc.code < 600
    ):
        return f"{exc.code} {exc.message}"
    # a 5xx to MAIL FROM or AUTH is our configuration: fixed by an operator, then retried
    return None


class MailSender:
    def __init__(
        self,
        db: Database,
        target: SmtpTarget,
        *,
        service_name: str,
        on_status: StatusHook | None = None,
        poll_interval: float = 1.0,
        max_backoff: float = 60.0,
        lag_refresh_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.target = target
        self.service_name = service_name
        self.on_status = on_status
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.lag_refresh_seconds = lag_refresh_seconds
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._smtp: aiosmtplib.SMTP | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def use(self, target: SmtpTarget) -> None:
        """Send through ``target`` from the next message on (another relay)."""
        self.target = target
        await self._drop_connection()
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    # --- one message ----------------------------------------------------------------

    async def send_one(self) -> bool:
        """Claim, send and mark one due message; False when none is due.

        An SMTP or network error is recorded on the row (retried later) and re-raised.
        """
        async with self.db.unit_of_work() as session:
            row = (await session.execute(CLAIM_SQL)).first()
            if row is None:
                return False
            try:
                await self._deliver(row)
            except Exception as exc:
                reason = classify(exc)
                if reason is None:
                    delay = min(self.max_backoff, 0.5 * 2 ** min(row.attempts, 10))
                    await session.execute(
                        RETRY_SQL, {"id": row.id, "error": _describe(exc), "delay": delay}
                    )
                    MAIL_RETRIES.labels(self.service_name).inc()
                    await session.commit()
                    await self._drop_connection()
                    raise
                await session.execute(FAILED_SQL, {"id": row.id, "error": reason[:2000]})
                await self._report(session, row, MailStatus.failed, reason)
                MAIL_FAILED.labels(self.service_name, row.kind).inc()
                logger.warning("mail %s refused for good: %s", row.message_id, reason)
                return True
            await session.execute(SENT_SQL, {"id": row.id})
            await self._report(session, row, MailStatus.sent, None)
        MAIL_SENT.labels(self.service_name, row.kind).inc()
        return True

    async def _report(
        self, session: AsyncSession, row: Any, status: MailStatus, error: str | None
    ) -> None:
        if self.on_status is not None:
            await self.on_status(
                session,
                MailOutcome(row.message_id, row.kind, row.ref, row.tenant_id, status, error),
            )

    async def _deliver(self, row: Any) -> None:
        if not row.recipients:
            raise Undeliverable("no deliverable recipient address in To, Cc or Bcc")
        smtp = await self._connection()
        envelope_from = getaddresses([row.sender])[0][1]
        errors, _ = await smtp.sendmail(envelope_from, list(row.recipients), bytes(row.raw))
        if errors:  # some recipients refused, others accepted: the message went out
            logger.warning("mail %s: some recipients refused: %s", row.message_id, errors)

    async def _connection(self) -> aiosmtplib.SMTP:
        smtp = self._smtp
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(Exception):
                await smtp.noop()
                return smtp
            await self._drop_connection()
        t = self.target
        smtp = aiosmtplib.SMTP(
            hostname=t.hostname,
            port=t.port,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            username=t.username,
            password=t.password,
            timeout=t.timeout,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def _drop_connection(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                smtp.close()

    # --- the loop ---------------------------------------------------------------------

    async def drain(self) -> int:
        """Send every due message now (tests, and a command); errors propagate."""
        sent = 0
        while await self.send_one():
            sent += 1
        return sent

    async def refresh_lag(self) -> tuple[int, float]:
        async with self.db.engine.connect() as conn:
            count, age = (await conn.execute(LAG_SQL)).one()
        MAIL_PENDING.labels(self.service_name).set(count)
        MAIL_PENDING_AGE.labels(self.service_name).set(float(age or 0.0))
        return int(count), float(age or 0.0)

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen_forever(), name="mail-listen")
        backoff = 0.5
        loop = asyncio.get_running_loop()
        last_lag = -self.lag_refresh_seconds
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                failed: Exception | None = None
                try:
                    while not self._stopping.is_set() and await self.send_one():
                        if loop.time() - last_lag >= self.lag_refresh_seconds:
                            break
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failed = exc
                if loop.time() - last_lag >= self.lag_refresh_seconds:
                    with contextlib.suppress(Exception):
                        await self.refresh_lag()
                    last_lag = loop.time()
                if failed is not None:
                    logger.warning("mail send failed, retrying in %.1fs: %r", backoff, failed)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
            await self._drop_connection()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _listen_forever(self) -> None:
        """LISTEN for queued mail; polling in ``run`` covers the gaps while disconnected."""
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.db.asyncpg_dsn)
                await conn.add_listener(MAIL_CHANNEL, lambda *_: self._wakeup.set())
                self._wakeup.set()
                while not conn.is_closed() and not self._stopping.is_set():
                    await self._sleep(1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("mail LISTEN connection failed: %r", exc)
                await self._sleep(2.0)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()


def _describe(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:2000]


@contextlib.asynccontextmanager
async def running_mail_sender(
    db: Database,
    target: SmtpTarget,
    *,
    service_name: str,
    enabled: bool = True,
    on_status: StatusHook | None = None,
    poll_interval: float = 1.0,
    max_backoff: float = 60.0,
) -> AsyncIterator[MailSender | None]:
    """Run a ``MailSender`` in the background for the duration of the block (a service's
    lifespan, where the relay runs); yields None when ``enabled`` is false."""
    if not enabled:
        yield None
        return
    sender = MailSender(
        db,
        target,
        service_name=service_name,
        on_status=on_status,
        poll_interval=poll_interval,
        max_backoff=max_backoff,
    )
    task = asyncio.create_task(sender.run(), name=f"{service_name}-mail-sender")
    try:
        yield sender
    finally:
        sender.stop()
        try:
            await asyncio.wait_for(task, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def settings_mail_sender(
    db: Database, settings: ServiceSettings, *, on_status: StatusHook | None = None
) -> contextlib.AbstractAsyncContextManager[MailSender | None]:
    """``running_mail_sender`` as a service's settings configure it (``SMTP_URL``,
    ``<P>_RUN_MAIL_SENDER``, poll interval and backoff): the one call in a lifespan."""
    return running_mail_sender(
        db,
        settings.smtp_target(),
        service_name=settings.service_name,
        enabled=bool(settings.run_mail_sender),
        on_status=on_status,
        poll_interval=settings.mail_poll_interval_seconds,
        max_backoff=settings.mail_max_backoff_seconds,
    )
