"""Access actions (MFA reset, reactivate, unlock, resend activation): one set of rules for
support's ``access.action_requested`` commands and the admin REST actions."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.domain import UserStatus, event_user_status
from onboarding_service.models import AccessRequest, User
from onboarding_service.users.service import (
    OPEN_TENANT,
    SeatLimitReached,
    load_user_and_tenant,
    resend_invitation,
    reset_mfa,
    set_user_status,
)
from servicekit.errors import Conflict
from servicekit.outbox import publish
from supportops_events import onboarding as ev
from supportops_events.tickets import AccessActionRequested

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
    try:
        user_uuid = uuid.UUID(user_id)
    except ValueError:
        raise AccessRefused("no such user", reasons=[Reason.user_not_found]) from None
    found = await session.get(User, user_uuid)
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


async def handle_access_request(
    session: AsyncSession,
    *,
    command: AccessActionRequested,
    now: datetime,
    invitation_ttl: timedelta,
) -> None:
    """Perform a requested action at most once per ``request_id``, answering either way."""
    if await session.get(AccessRequest, command.request_id) is not None:
        return
    outcome: dict[str, Any] = {
        "tenant_id": command.tenant_id,
        "request_id": command.request_id,
        "ticket_id": command.ticket_id,
        "action": command.action,
        "user_id": command.user_id,
        "user_email": command.user_email,
    }
    reasons: list[str] = []
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
    except AccessRefused as refused:
        reasons = [r.value for r in refused.reasons]
        await publish(
            session,
            ev.AccessActionRejected(
                **outcome, reasons=refused.reasons, detail=refused.detail, rejected_at=now
            ),
        )
    else:
        await publish(
            session,
            ev.AccessActionCompleted(
                **outcome, user_status=event_user_status(user.status), completed_at=now
            ),
        )
    session.add(
        AccessRequest(
            request_id=command.request_id[:128],
            tenant_id=command.tenant_id[:64],
            action=command.action.value,
            user_id=command.user_id[:64],
            ticket_id=command.ticket_id[:128],
            outcome="rejected" if reasons else "completed",
            reasons=reasons,
            handled_at=now,
        )
    )
    await session.flush()
