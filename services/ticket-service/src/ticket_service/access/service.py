"""Access actions: the command to onboarding once the gate (``gate``) passed, its
outcome, and the out-of-band confirmation of an MFA reset."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.outbox import publish
from supportops_events.onboarding import (
    AccessAction,
    AccessActionCompleted,
    AccessActionOutcome,
    AccessActionRejected,
    AccessConfirmationFailed,
    AccessConfirmationPending,
    UserEvent,
)
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted
from ticket_service.access import repository
from ticket_service.access.gate import (
    VerificationRefused,
    record_checks,
    requester_checks,
    target_checks,
)
from ticket_service.access.schemas import AccessActionIn
from ticket_service.models import AccessRequest, Ticket
from ticket_service.templates.service import send_approved_reply
from ticket_service.tickets.schemas import MessageKind
from ticket_service.tickets.service import add_message
from ticket_service.tickets.timeline import SYSTEM, Actor, add_entry

# an access request is open until onboarding reports its outcome
OPEN_STATUSES = ("requested", "awaiting_code")
ACTION_LABELS = {
    AccessAction.mfa_reset: "reset of your second factor (MFA)",
    AccessAction.reactivate: "reactivation of the account",
    AccessAction.unlock: "unlock of the account",
    AccessAction.resend_activation: "new activation e-mail",
}


async def request_action(
    session: AsyncSession, *, ticket: Ticket, body: AccessActionIn, actor: Actor, at: datetime
) -> AccessRequest:
    """Run the gate and record each check on the timeline; the command goes to onboarding
    only if every check passed (otherwise ``VerificationRefused``, entries kept)."""
    # the same e-mail may exist in several tenants: the ticket's own tenant comes first
    known = await repository.users_known_as(
        session, email=body.user_email, user_id=body.user_id, tenant_first=ticket.tenant_id
    )
    user = known[0] if known else None
    account = await repository.get_account(session, ticket.tenant_id)
    checks = target_checks(action=body.action, ticket=ticket, account=account, user=user)
    by_requester, channel = await requester_checks(session, ticket=ticket, target=user)
    checks += by_requester
    await record_checks(
        session, ticket=ticket, action=body.action, checks=checks, actor=actor, at=at
    )
    if any(not c.passed for c in checks):
        raise VerificationRefused(checks)
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
    await repository.add_request(session, request)
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="access_action_requested",
        body=f"{body.action.value} requested for {user.email}",
        reason=body.reason or "verification gate passed",
        data={
            "request_id": str(request.id),
            "action": body.action.value,
            "user_id": user.user_id,
            "verified_channel": channel.channel,
            "verified_requester": channel.identity,
        },
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


async def record_outcome(
    session: AsyncSession, event: AccessActionOutcome, *, at: datetime
) -> None:
    try:
        request_id = uuid.UUID(event.request_id)
    except ValueError:
        return  # not one of ours
    request = await repository.lock_request(session, request_id)
    if request is None or request.status not in OPEN_STATUSES:
        return  # unknown, or an outcome already recorded
    ticket = await repository.lock_ticket(session, request.ticket_id)
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


async def note_user_change(session: AsyncSession, event: UserEvent, *, at: datetime) -> None:
    """A user change caused by an access request lands on that request's ticket."""
    if event.ticket_id is None:
        return
    try:
        ticket_id = uuid.UUID(event.ticket_id)
    except ValueError:
        return
    ticket = await repository.lock_ticket(session, ticket_id)
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


# --- the out-of-band confirmation of an MFA reset --------------------------------------


async def _open_request(
    session: AsyncSession, request_id: str, *, tenant_id: str
) -> tuple[AccessRequest, Ticket] | None:
    try:
        request_uuid = uuid.UUID(request_id)
    except ValueError:
        return None  # not one of ours
    request = await repository.lock_request(session, request_uuid)
    if request is None or request.tenant_id != tenant_id:
        return None
    ticket = await repository.lock_ticket(session, request.ticket_id)
    if ticket is None:
        return None
    return request, ticket


async def record_confirmation_step(
    session: AsyncSession,
    event: AccessConfirmationPending | AccessConfirmationFailed,
    *,
    at: datetime,
) -> None:
    """``access.confirmation_pending`` and ``access.confirmation_failed`` on the ticket."""
    found = await _open_request(session, event.request_id, tenant_id=event.tenant_id)
    if found is None:
        return
    request, ticket = found
    if request.status not in OPEN_STATUSES:
        return  # decided already; a late step changes nothing
    if isinstance(event, AccessConfirmationPending):
        request.status = "awaiting_code"
        delivery = {
            "recorded": "recorded; it is not sent yet (no outbound mail): the step stays pending",
            "email": "sent by email; the step is pending until the user reads it back",
        }.get(event.delivery.value, event.delivery.value)
        await add_entry(
            session,
            ticket=ticket,
            kind="system",
            actor=SYSTEM,
            at=at,
            action="access_confirmation_pending",
            body=f"{event.action.value} waits for a one-time code sent to the user's "
            f"registered address {event.destination} ({delivery}); ask the user to read it "
            f"back before {event.expires_at.isoformat()}",
            reason="out-of-band confirmation: the reset happens only when the code matches",
            data={
                "request_id": event.request_id,
                "destination": event.destination,
                "delivery": event.delivery.value,
                "expires_at": event.expires_at.isoformat(),
                "attempts_allowed": event.attempts_allowed,
            },
        )
    else:
        await add_entry(
            session,
            ticket=ticket,
            kind="system",
            actor=SYSTEM,
            at=at,
            action="access_confirmation_failed",
            body=f"the one-time code for {event.action.value} did not match; "
            f"{event.attempts_left} attempt(s) left",
            reason="reported by onboarding-service",
            data={"request_id": event.request_id, "attempts_left": event.attempts_left},
        )
    await session.flush()


async def submit_confirmation(
    session: AsyncSession,
    *,
    ticket: Ticket,
    request_id: uuid.UUID,
    code: str,
    actor: Actor,
    at: datetime,
) -> AccessRequest:
    """Pass the code the user read back to onboarding, which alone can check it."""
    request = await repository.lock_request(session, request_id)
    if request is None or request.ticket_id != ticket.id:
        raise NotFound("no such access request on this ticket", code="access-request-not-found")
    if request.status != "awaiting_code":
        raise Conflict(
            f"access request is {request.status}: no one-time code is awaited",
            code="confirmation-not-pending",
            request_status=request.status,
        )
    submission_id = uuid.uuid4()
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="access_confirmation_submitted",
        body=f"one-time code for {request.action} entered by {actor.id or 'system'}; "
        "onboarding-service checks it",
        data={"request_id": str(request.id), "submission_id": str(submission_id)},
    )
    await publish(
        session,
        AccessConfirmationSubmitted(
            tenant_id=request.tenant_id,
            request_id=str(request.id),
            submission_id=str(submission_id),
            ticket_id=str(ticket.id),
            user_id=request.user_id,
            code=code,
            submitted_by=actor.id or "system",
            submitted_at=at,
        ),
    )
    return request
