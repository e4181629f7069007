"""Access actions: the verification gate, the command to onboarding, and its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict
from servicekit.outbox import publish
from supportops_events import Envelope
from supportops_events.onboarding import (
    AccessAction,
    AccessActionCompleted,
    AccessActionOutcome,
    AccessActionRejected,
    UserEvent,
    UserStatus,
)
from supportops_events.tickets import AccessActionRequested
from ticket_service.access.schemas import AccessActionIn
from ticket_service.models import AccessRequest, Account, AccountUser, Ticket
from ticket_service.templates.service import send_approved_reply
from ticket_service.tickets.schemas import MessageKind
from ticket_service.tickets.service import SYSTEM, Actor, add_entry, add_message

# The user statuses each action applies to (the same rules onboarding-service applies).
FITTING_STATUSES: dict[AccessAction, set[UserStatus]] = {
    AccessAction.mfa_reset: {UserStatus.active, UserStatus.inactive, UserStatus.locked},
    AccessAction.reactivate: {UserStatus.deactivated, UserStatus.inactive},
    AccessAction.unlock: {UserStatus.locked},
    AccessAction.resend_activation: {UserStatus.invited},
}
ACTION_LABELS = {
    AccessAction.mfa_reset: "reset of your second factor (MFA)",
    AccessAction.reactivate: "reactivation of the account",
    AccessAction.unlock: "unlock of the account",
    AccessAction.resend_activation: "new activation e-mail",
}


def gate(
    *,
    action: AccessAction,
    ticket: Ticket,
    account: Account | None,
    user: AccountUser | None,
) -> list[dict[str, str]]:
    """Why the action must not be requested; empty when the gate passes."""
    reasons: list[dict[str, str]] = []
    if account is None:
        reasons.append(
            {"code": "account_unknown", "detail": "no verified account context for this tenant"}
        )
    elif account.tenant_status == "suspended":
        reasons.append({"code": "tenant_suspended", "detail": "the tenant is suspended"})
    elif account.tenant_status == "churned":
        reasons.append(
            {"code": "tenant_churned", "detail": "the tenant has left (churned) for good"}
        )
    if user is None:
        reasons.append({"code": "user_unknown", "detail": "no such user is known"})
    elif user.tenant_id != ticket.tenant_id:
        reasons.append(
            {"code": "user_not_in_tenant", "detail": "the user belongs to another tenant"}
        )
    elif UserStatus(user.status) not in FITTING_STATUSES[action]:
        fitting = ", ".join(sorted(s.value for s in FITTING_STATUSES[action]))
        reasons.append(
            {
                "code": "action_does_not_fit_user_status",
                "detail": f"{action.value} applies to users who are {fitting}; "
                f"this user is {user.status}",
            }
        )
    return reasons


async def request_action(
    session: AsyncSession, *, ticket: Ticket, body: AccessActionIn, actor: Actor, at: datetime
) -> AccessRequest:
    conditions = []
    if body.user_id is not None:
        conditions.append(AccountUser.user_id == body.user_id)
    if body.user_email is not None:
        conditions.append(func.lower(AccountUser.email) == body.user_email.lower())
    # the same e-mail may exist in several tenants: the ticket's own tenant comes first
    user = (
        await session.scalars(
            select(AccountUser)
            .where(or_(*conditions))
            .order_by((AccountUser.tenant_id != ticket.tenant_id), AccountUser.user_id)
            .limit(1)
        )
    ).first()
    account = await session.get(Account, ticket.tenant_id)
    reasons = gate(action=body.action, ticket=ticket, account=account, user=user)
    if reasons:
        # the refusal is the response itself; the request's transaction is rolled back
        raise Conflict(
            "the verification gate refused this access action",
            code="verification-failed",
            reasons=reasons,
        )
    assert user is not None
    request = AccessRequest(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        tenant_id=ticket.tenant_id,
        action=body.action.value,
        user_id=user.user_id,
        user_email=user.email,
        status="requested",
        reason=body.reason,
        requested_by=actor.id or "system",
        created_at=at,
    )
    session.add(request)
    await session.flush()
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="access_action_requested",
        body=f"{body.action.value} requested for {user.email}",
        reason=body.reason or "verification gate passed",
        data={"request_id": str(request.id), "action": body.action.value, "user_id": user.user_id},
    )
    await publish(
        session,
        AccessActionRequested(
            tenant_id=ticket.tenant_id,
            request_id=str(request.id),
            action=body.action,
            user_id=user.user_id,
            user_email=user.email,
            ticket_id=str(ticket.id),
            requested_by=request.requested_by,
            reason=body.reason,
            requested_at=at,
        ),
    )
    return request


async def record_outcome(session: AsyncSession, envelope: Envelope, *, at: datetime) -> None:
    event = envelope.data
    assert isinstance(event, AccessActionOutcome)
    try:
        request_id = uuid.UUID(event.request_id)
    except ValueError:
        return  # not one of ours
    request = await session.get(AccessRequest, request_id, with_for_update=True)
    if request is None or request.status != "requested":
        return  # unknown, or an outcome already recorded
    ticket = await session.get(Ticket, request.ticket_id, with_for_update=True)
    if ticket is None:
        return
    request.decided_at = at
    if isinstance(event, AccessActionCompleted):
        request.status = "completed"
        await add_message(
            session,
            ticket=ticket,
            kind=MessageKind.note,
            body=f"{event.action.value} completed for {request.user_email}; "
            f"user is now {event.user_status.value}",
            actor=SYSTEM,
            at=at,
        )
        if ticket.status == "closed":
            return  # a closed ticket takes no more replies; the note records the outcome
        await send_approved_reply(
            session,
            ticket=ticket,
            key="access_action_completed",
            values={
                "requester_name": ticket.requester_name or "there",
                "action_label": ACTION_LABELS[event.action],
                "user_email": request.user_email,
            },
            actor=SYSTEM,
            at=at,
        )
    elif isinstance(event, AccessActionRejected):
        request.status = "rejected"
        reasons = ", ".join(r.value for r in event.reasons)
        await add_message(
            session,
            ticket=ticket,
            kind=MessageKind.note,
            body=f"{event.action.value} rejected by onboarding for {request.user_email}: "
            f"{reasons}" + (f" — {event.detail}" if event.detail else ""),
            actor=SYSTEM,
            at=at,
        )
    await session.flush()


async def note_user_change(session: AsyncSession, envelope: Envelope, *, at: datetime) -> None:
    """A user change caused by an access request lands on that request's ticket."""
    event = envelope.data
    assert isinstance(event, UserEvent)
    if event.ticket_id is None:
        return
    try:
        ticket_id = uuid.UUID(event.ticket_id)
    except ValueError:
        return
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None or ticket.tenant_id != event.tenant_id:
        return
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=SYSTEM,
        at=at,
        action=event.event_type,
        body=f"{event.email}: {event.event_type} (status {event.status.value})",
        reason=f"reported by onboarding-service for request {event.request_id}"
        if event.request_id
        else "reported by onboarding-service",
        data={"user_id": event.user_id, "status": event.status.value},
    )
