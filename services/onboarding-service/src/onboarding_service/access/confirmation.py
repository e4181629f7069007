"""The out-of-band confirmation of an MFA reset support asked for: a one-time code for the
user's registered address, stored only as a hash, with an expiry and an attempt limit.

The code generator is injected (``create_app(codes=...)``) so tests know the code; no API
ever returns it. The code is mailed to the user's registered address (``mail.outbound``,
queued in this transaction); in development it lands in Mailpit like every mail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access import repository
from onboarding_service.mail.outbound import mail_confirmation_code
from onboarding_service.models import AccessConfirmation
from servicekit.outbox import publish
from supportops_events import onboarding as ev
from supportops_events.tickets import AccessActionRequested

CODE_DIGITS = 6
CodeGenerator = Callable[[], str]


def random_code() -> str:
    """Six digits from the OS's CSPRNG: short enough to read out on a call."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalized(code: str) -> str:
    # users read codes back with spaces or dashes ("493 817")
    return "".join(ch for ch in code if ch.isalnum())


def code_hash(request_id: str, code: str) -> str:
    """Salted with the request id, so equal codes of two requests hash differently."""
    return hashlib.sha256(f"{request_id}:{normalized(code)}".encode()).hexdigest()


def code_matches(confirmation: AccessConfirmation, code: str) -> bool:
    return hmac.compare_digest(code_hash(confirmation.request_id, code), confirmation.code_hash)


def masked(email: str) -> str:
    """``pat@acme.example`` → ``p***@acme.example``: enough for the agent to recognise."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


async def open_confirmation(
    session: AsyncSession,
    *,
    command: AccessActionRequested,
    user_email: str,
    now: datetime,
    ttl: timedelta,
    attempts: int,
    codes: CodeGenerator,
) -> None:
    """Hold the action until the code is confirmed; announce the pending step."""
    code = codes()
    confirmation = AccessConfirmation(
        request_id=command.request_id[:128],
        tenant_id=command.tenant_id[:64],
        ticket_id=command.ticket_id[:128],
        action=command.action.value,
        user_id=command.user_id[:64],
        user_email=user_email,
        requested_by=command.requested_by[:200],
        reason=command.reason[:500] if command.reason else None,
        code_hash=code_hash(command.request_id[:128], code),
        expires_at=now + ttl,
        attempts_allowed=attempts,
        attempts_used=0,
        status="pending",
        created_at=now,
    )
    await repository.add_confirmation(session, confirmation)
    await mail_confirmation_code(
        session,
        tenant_id=confirmation.tenant_id,
        request_id=confirmation.request_id,
        user_email=user_email,
        action=command.action.value,
        code=code,
        expires=confirmation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
    )
    await publish(
        session,
        ev.AccessConfirmationPending(
            tenant_id=confirmation.tenant_id,
            request_id=confirmation.request_id,
            ticket_id=confirmation.ticket_id,
            action=command.action,
            user_id=confirmation.user_id,
            channel=ev.ConfirmationChannel.email,
            destination=masked(user_email),
            delivery=ev.ConfirmationDelivery.email,
            expires_at=confirmation.expires_at,
            attempts_allowed=attempts,
            pending_at=now,
        ),
    )
