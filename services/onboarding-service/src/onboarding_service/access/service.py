"""Access actions (MFA reset, reactivate, unlock, resend activation): one set of rules for
support's ``access.action_requested`` commands and the admin REST actions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access import repository
from onboarding_service.access.confirmation import (
    CodeGenerator,
    code_matches,
    open_confirmation,
)
from onboarding_service.models import AccessRequest, Tenant, User
from onboarding_service.users import repository as users
from onboarding_service.users.invitations import resend_invitation
from onboarding_service.users.service import (
    OPEN_TENANT,
    SeatLimitReached,
    load_user_and_tenant,
    reset_mfa,
    set_user_status,
)
from onboarding_service.users.status import UserStatus, event_user_status
from servicekit.errors import Conflict
from servicekit.outbox import publish
from supportops_events import onboarding as ev
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted

Action = ev.AccessAction
Reason = ev.AccessRejectionReason

ALLOWED_FROM: dict[Action, frozenset[UserStatus]] = {
    Action.mfa_reset: frozenset({UserStatus.active, UserStatus.inactive, UserStatus.locked}),
    Action.reactivate: frozenset({UserStatus.deactivated, UserStatus.inactive}),
    Action.unlock: frozenset({UserStatus.locked}),
    Action.resend_activation: frozenset({UserStatus.invited}),
}


class AccessRefused(Conflict):
    code, title = "access-action-rejected", "Access action rejected"

    def __init__(self, detail: str, *, reasons: list[Reason], **extras: Any) -> None:
        status = 404 if reasons == [Reason.user_not_found] else 409
        super().__init__(detail, status=status, reasons=[r.value for r in reasons], **extras)
        self.reasons = reasons


async def perform_action(
    session: AsyncSession,
    *,
    action: Action,
    user_id: str,
    tenant_id: str | None,
    by: str,
    now: datetime,
    invitation_ttl: timedelta,
    expected_email: str | None = None,
    request_id: str | None = None,
    ticket_id: str | None = None,
) -> tuple[User, str | None]:
    """Re-verify, then act. Every refusal happens before any write."""
    user, tenant = await verify_action(
        session, action=action, user_id=user_id, tenant_id=tenant_id, expected_email=expected_email
    )
    token: str | None = None
    trace: dict[str, Any] = {"request_id": request_id, "ticket_id": ticket_id}
    try:
        match action:
            case Action.mfa_reset:
                await reset_mfa(session, user=user, by=by, now=now, **trace)
            case Action.reactivate | Action.unlock:
                await set_user_status(
                    session,
                    tenant=tenant,
                    user=user,
                    target=UserStatus.active,
                    now=now,
                    actor=by,
                    **trace,
                )
            case Action.resend_activation:
                token = await resend_invitation(
                    session,
                    tenant=tenant,
                    user=user,
                    by=by,
                    now=now,
                    ttl=invitation_ttl,
                    **trace,
                )
    except SeatLimitReached as exc:
        raise AccessRefused(str(exc.detail), reasons=[Reason.not_permitted]) from exc
    return user, token


async def verify_action(
    session: AsyncSession,
    *,
    action: Action,
    user_id: str,
    tenant_id: str | None,
    expected_email: str | None = None,
) -> tuple[User, Tenant]:
    """The rules every access action passes, whoever asks; refuses with reasons."""
    try:
        user_uuid = uuid.UUID(user_id)
    except ValueError:
        raise AccessRefused("no such user", reasons=[Reason.user_not_found]) from None
    found = await users.get_user(session, user_uuid)
    if found is None:
        raise AccessRefused("no such user", reasons=[Reason.user_not_found])
    if tenant_id is not None and str(found.tenant_id) != tenant_id:
        raise AccessRefused(
            "the user does not belong to the tenant of the request",
            reasons=[Reason.tenant_mismatch],
        )
    if expected_email is not None and expected_email.lower() != found.email:
        raise AccessRefused(
            "the user's e-mail does not match the request", reasons=[Reason.not_permitted]
        )
    user, tenant = await load_user_and_tenant(session, user_uuid)
    if tenant.status not in OPEN_TENANT:
        raise AccessRefused(f"the tenant is {tenant.status}", reasons=[Reason.tenant_not_active])
    if user.status not in ALLOWED_FROM[action]:
        raise AccessRefused(
            f"{action.value} does not apply to a {user.status} user",
            reasons=[Reason.invalid_user_state],
            user_status=user.status,
        )
    return user, tenant


async def already_handled(session: AsyncSession, request_id: str) -> AccessRequest | None:
    return await repository.handled_request(session, request_id)


async def record_outcome(
    session: AsyncSession,
    *,
    tenant_id: str,
    request_id: str,
    ticket_id: str,
    action: Action,
    user_id: str,
    user_email: str | None,
    requested_by: str,
    reason: str | None,
    source: str,
    now: datetime,
    user: User | None = None,
    refused: AccessRefused | None = None,
) -> None:
    """Publish ``access.action_completed`` (``user`` as it is now) or
    ``access.action_rejected`` (``refused``), and remember the request as handled."""
    outcome: dict[str, Any] = {
        "tenant_id": tenant_id,
        "request_id": request_id,
        "ticket_id": ticket_id,
        "action": action,
        "user_id": user_id,
        "user_email": user_email,
    }
    if refused is not None:
        await publish(
            session,
            ev.AccessActionRejected(
                **outcome, reasons=refused.reasons, detail=refused.detail, rejected_at=now
            ),
        )
    else:
        assert user is not None
        await publish(
            session,
            ev.AccessActionCompleted(
                **outcome, user_status=event_user_status(user.status), completed_at=now
            ),
        )
    repository.add_request(
        session,
        AccessRequest(
            request_id=request_id[:128],
            tenant_id=tenant_id[:64],
            action=action.value,
            user_id=user_id[:64],
            ticket_id=ticket_id[:128],
            outcome="rejected" if refused is not None else "completed",
            reasons=[r.value for r in refused.reasons] if refused is not None else [],
            source=source,
            requested_by=requested_by[:200],
            reason=reason[:500] if reason else None,
            handled_at=now,
        ),
    )
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request with the same id got there first
        raise Conflict(
            f"access request {request_id} was already handled",
            code="access-request-handled",
            request_id=request_id,
        ) from exc


async def handle_access_request(
    session: AsyncSession,
    *,
    command: AccessActionRequested,
    now: datetime,
    invitation_ttl: timedelta,
    confirmation: ConfirmationPolicy,
) -> None:
    """Perform a requested action at most once per ``request_id``, answering either way.

    An MFA reset is the one action that hands the account to whoever holds the password:
    it waits for the one-time code sent to the user's registered address
    (``handle_confirmation``)."""
    if await already_handled(session, command.request_id) is not None:
        return
    user: User | None = None
    refused: AccessRefused | None = None
    if command.action is Action.mfa_reset:
        if await repository.confirmation(session, command.request_id) is not None:
            return  # the code step is open already
        try:
            user, _ = await verify_action(
                session,
                action=command.action,
                user_id=command.user_id,
                tenant_id=command.tenant_id,
                expected_email=command.user_email,
            )
        except AccessRefused as exc:
            refused = exc
        else:
            await open_confirmation(
                session,
                command=command,
                user_email=user.email,
                now=now,
                ttl=confirmation.ttl,
                attempts=confirmation.attempts,
                codes=confirmation.codes,
            )
            return
    try:
        user, _ = await perform_action(
            session,
            action=command.action,
            user_id=command.user_id,
            tenant_id=command.tenant_id,
            by=command.requested_by,
            now=now,
            invitation_ttl=invitation_ttl,
            expected_email=command.user_email,
            request_id=command.request_id,
            ticket_id=command.ticket_id,
        )
    except AccessRefused as exc:
        refused = exc
    await record_outcome(
        session,
        tenant_id=command.tenant_id,
        request_id=command.request_id,
        ticket_id=command.ticket_id,
        action=command.action,
        user_id=command.user_id,
        user_email=command.user_email,
        requested_by=command.requested_by,
        reason=command.reason,
        source="command",
        now=now,
        user=user,
        refused=refused,
    )


@dataclass(frozen=True)
class ConfirmationPolicy:
    """How one-time codes are made and how long and how often they may be tried."""

    codes: CodeGenerator
    ttl: timedelta
    attempts: int


async def handle_confirmation(
    session: AsyncSession,
    *,
    command: AccessConfirmationSubmitted,
    now: datetime,
    invitation_ttl: timedelta,
) -> None:
    """Check a code read back by the user: perform the held action only if it matches
    in time; a wrong code uses an attempt; the last wrong one, or a late one, rejects."""
    pending = await repository.lock_confirmation(session, command.request_id)
    if pending is None or pending.status != "pending":
        return  # unknown, or decided already: a late or repeated submission changes nothing
    if pending.ticket_id != command.ticket_id or pending.user_id != command.user_id:
        return  # not the request it names
    refused: AccessRefused | None = None
    user: User | None = None
    action = Action(pending.action)
    if now >= pending.expires_at:
        pending.status = "expired"
        refused = AccessRefused(
            "the one-time code was not confirmed in time",
            reasons=[Reason.confirmation_expired],
        )
    elif code_matches(pending, command.code):
        pending.status = "confirmed"
        try:
            # the user's state may have changed while the code was out: verify again
            user, _ = await perform_action(
                session,
                action=action,
                user_id=pending.user_id,
                tenant_id=pending.tenant_id,
                by=pending.requested_by,
                now=now,
                invitation_ttl=invitation_ttl,
                expected_email=pending.user_email,
                request_id=pending.request_id,
                ticket_id=pending.ticket_id,
            )
        except AccessRefused as exc:
            refused = exc
    else:
        pending.attempts_used += 1
        attempts_left = pending.attempts_allowed - pending.attempts_used
        if attempts_left > 0:
            await publish(
                session,
                ev.AccessConfirmationFailed(
                    tenant_id=pending.tenant_id,
                    request_id=pending.request_id,
                    ticket_id=pending.ticket_id,
                    action=action,
                    user_id=pending.user_id,
                    attempts_left=attempts_left,
                    failed_at=now,
                ),
            )
            await session.flush()
            return
        pending.status = "failed"
        refused = AccessRefused(
            f"the one-time code was wrong {pending.attempts_used} times",
            reasons=[Reason.confirmation_failed],
        )
    pending.decided_at = now
    await record_outcome(
        session,
        tenant_id=pending.tenant_id,
        request_id=pending.request_id,
        ticket_id=pending.ticket_id,
        action=action,
        user_id=pending.user_id,
        user_email=pending.user_email,
        requested_by=pending.requested_by,
        reason=pending.reason,
        source="command",
        now=now,
        user=user,
        refused=refused,
    )


async def perform_admin_action(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    action: Action,
    by: str,
    reason: str | None,
    ticket_id: str | None,
    request_id: str | None,
    now: datetime,
    invitation_ttl: timedelta,
) -> tuple[User | None, str | None, AccessRefused | None]:
    """An admin's REST action, with the command's rules: ``(user, token, None)`` when
    done, ``(None, None, refusal)`` when refused. When it names a ticket, the outcome is
    also published for that ticket (and remembered under ``request_id``), refusals too:
    the caller commits either way."""
    user: User | None = None
    token: str | None = None
    refused: AccessRefused | None = None
    try:
        user, token = await perform_action(
            session,
            action=action,
            user_id=str(user_id),
            tenant_id=None,
            by=by,
            now=now,
            invitation_ttl=invitation_ttl,
            request_id=request_id,
            ticket_id=ticket_id,
        )
    except AccessRefused as exc:
        refused = exc
    if ticket_id is not None and request_id is not None:
        found = user or await users.get_user(session, user_id)
        assert found is not None  # the caller found the user
        await record_outcome(
            session,
            tenant_id=str(found.tenant_id),
            request_id=request_id,
            ticket_id=ticket_id,
            action=action,
            user_id=str(user_id),
            user_email=found.email,
            requested_by=by,
            reason=reason,
            source="rest",
            now=now,
            user=user,
            refused=refused,
        )
        if refused is not None:
            refused.extras["request_id"] = request_id
    return user, token, refused
