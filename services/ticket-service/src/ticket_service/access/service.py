"""Access actions: the verification gate, the command to onboarding, and its outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.outbox import publish
from supportops_events import Envelope
from supportops_events.onboarding import (
    AccessAction,
    AccessActionCompleted,
    AccessActionOutcome,
    AccessActionRejected,
    AccessConfirmationFailed,
    AccessConfirmationPending,
    UserEvent,
    UserStatus,
)
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted
from ticket_service.access.schemas import AccessActionIn
from ticket_service.models import (
    AccessRequest,
    Account,
    AccountUser,
    InboundMessage,
    Ticket,
    TimelineEntry,
)
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
# an access request is open until onboarding reports its outcome
OPEN_STATUSES = ("requested", "awaiting_code")
ACTION_LABELS = {
    AccessAction.mfa_reset: "reset of your second factor (MFA)",
    AccessAction.reactivate: "reactivation of the account",
    AccessAction.unlock: "unlock of the account",
    AccessAction.resend_activation: "new activation e-mail",
}


@dataclass(frozen=True)
class Check:
    """One check of the verification gate and its outcome, as the timeline records it."""

    check: str
    passed: bool
    code: str
    detail: str

    def as_reason(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "passed": self.passed,
            "code": self.code,
            "detail": self.detail,
        }


def gate(
    *,
    action: AccessAction,
    ticket: Ticket,
    account: Account | None,
    user: AccountUser | None,
) -> list[dict[str, str]]:
    """Why the action must not be requested (the account and target checks only)."""
    return [
        c.as_reason()
        for c in target_checks(action=action, ticket=ticket, account=account, user=user)
        if not c.passed
    ]


def target_checks(
    *,
    action: AccessAction,
    ticket: Ticket,
    account: Account | None,
    user: AccountUser | None,
) -> list[Check]:
    """Is the tenant open, is the target a user of it, does the action fit their status?"""
    checks: list[Check] = []
    if account is None:
        checks.append(
            Check("tenant", False, "account_unknown", "no verified account context for this tenant")
        )
    elif account.tenant_status == "suspended":
        checks.append(Check("tenant", False, "tenant_suspended", "the tenant is suspended"))
    elif account.tenant_status == "churned":
        checks.append(
            Check("tenant", False, "tenant_churned", "the tenant has left (churned) for good")
        )
    else:
        checks.append(
            Check(
                "tenant", True, "tenant_open", f"the tenant is {account.tenant_status or 'known'}"
            )
        )
    if user is None:
        checks.append(Check("target_user", False, "user_unknown", "no such user is known"))
        return checks
    if user.tenant_id != ticket.tenant_id:
        checks.append(
            Check("target_user", False, "user_not_in_tenant", "the user belongs to another tenant")
        )
        return checks
    checks.append(
        Check("target_user", True, "user_in_tenant", f"{user.email} is a user of the tenant")
    )
    if UserStatus(user.status) not in FITTING_STATUSES[action]:
        fitting = ", ".join(sorted(s.value for s in FITTING_STATUSES[action]))
        checks.append(
            Check(
                "user_status",
                False,
                "action_does_not_fit_user_status",
                f"{action.value} applies to users who are {fitting}; this user is {user.status}",
            )
        )
    else:
        checks.append(
            Check("user_status", True, "action_fits_user_status", f"the user is {user.status}")
        )
    return checks


@dataclass(frozen=True)
class VerifiedChannel:
    """Who the ticket's channel vouches for: the sender of an inbound e-mail, or the
    subject of the portal token that opened it. Nothing else a ticket carries (the
    requester fields an agent typed in) identifies anybody."""

    channel: str  # email | portal | none
    identity: str | None
    detail: str


async def verified_channel(session: AsyncSession, ticket: Ticket) -> VerifiedChannel:
    by_mail = await session.scalar(
        select(InboundMessage.message_id).where(InboundMessage.ticket_id == ticket.id).limit(1)
    )
    if by_mail is not None:
        # intake takes the requester from the mail's sender (the mail provider's webhook)
        return VerifiedChannel(
            "email", ticket.requester_email, f"e-mail from {ticket.requester_email}"
        )
    opened = await session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_id == ticket.id, TimelineEntry.action == "created")
        .order_by(TimelineEntry.seq)
        .limit(1)
    )
    opener = (opened.data or {}).get("created_by") if opened is not None else None
    if not isinstance(opener, str) or not opener:
        return VerifiedChannel("none", None, "the ticket was opened by the system")
    # the subject of the token that opened the ticket; only a portal token's subject is
    # a user of the tenant (staff subjects are not), which the next check establishes
    return VerifiedChannel("portal", opener, f"opened with the token of {opener}")


async def requester_checks(
    session: AsyncSession,
    *,
    ticket: Ticket,
    target: AccountUser | None,
) -> tuple[list[Check], VerifiedChannel]:
    """Is whoever asks a user of the tenant, and may they ask for the target user?"""
    channel = await verified_channel(session, ticket)
    if channel.identity is None:
        return [
            Check("requester", False, "requester_unverified", channel.detail + "; nobody to verify")
        ], channel
    identity = channel.identity.lower()
    match = func.lower(AccountUser.email) == identity
    if channel.channel == "portal":
        match = or_(match, AccountUser.user_id == channel.identity)
    known = (
        await session.scalars(
            select(AccountUser)
            .where(match)
            .order_by((AccountUser.tenant_id != ticket.tenant_id), AccountUser.user_id)
        )
    ).all()
    requester = next((u for u in known if u.tenant_id == ticket.tenant_id), None)
    if requester is None:
        if known:
            check = Check(
                "requester",
                False,
                "requester_in_other_tenant",
                f"{channel.detail}: a user of another tenant, not of this one",
            )
        else:
            check = Check(
                "requester",
                False,
                "requester_unknown",
                f"{channel.detail}: not a user of the tenant",
            )
        return [check], channel
    checks = [
        Check(
            "requester",
            True,
            "requester_identified",
            f"{channel.detail}: {requester.email} ({requester.role}, {requester.status})",
        )
    ]
    if target is None or target.tenant_id != ticket.tenant_id:
        return checks, channel  # the target checks already refuse
    if requester.user_id == target.user_id:
        checks.append(Check("authority", True, "requester_is_target", "the user asks for themself"))
    elif requester.role != "admin":
        checks.append(
            Check(
                "authority",
                False,
                "requester_not_authorized",
                f"{requester.email} is a {requester.role}: only the user themself or an "
                "active tenant admin may ask for another user",
            )
        )
    elif requester.status != UserStatus.active.value:
        checks.append(
            Check(
                "authority",
                False,
                "requester_admin_not_active",
                f"{requester.email} is an admin but {requester.status}",
            )
        )
    else:
        checks.append(
            Check(
                "authority",
                True,
                "requester_is_active_admin",
                f"{requester.email} is an active admin of the tenant",
            )
        )
    return checks, channel


class VerificationRefused(Conflict):
    """The gate refused; unlike other errors, the request's timeline entries are kept
    (the endpoint answers with this problem and commits), so an auditor sees why."""

    def __init__(self, checks: list[Check]) -> None:
        super().__init__(
            "the verification gate refused this access action",
            code="verification-failed",
            reasons=[c.as_reason() for c in checks if not c.passed],
            checks=[c.as_dict() for c in checks],
        )


async def _record_checks(
    session: AsyncSession,
    *,
    ticket: Ticket,
    action: AccessAction,
    checks: list[Check],
    actor: Actor,
    at: datetime,
) -> None:
    for check in checks:
        await add_entry(
            session,
            ticket=ticket,
            kind="system",
            actor=actor,
            at=at,
            action="verification_check",
            body=f"{action.value}: {check.check} {'passed' if check.passed else 'failed'} "
            f"({check.code})",
            reason=check.detail,
            data={"action": action.value, **check.as_dict()},
        )
    failed = [c.code for c in checks if not c.passed]
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="verification_refused" if failed else "verification_passed",
        body=f"{action.value}: the verification gate "
        + (f"refused ({', '.join(failed)})" if failed else "passed"),
        reason="every check must pass: the tenant is open, the target is its user in a "
        "fitting status, and the requester is that user or an active tenant admin",
        data={"action": action.value, "failed": failed},
    )


async def request_action(
    session: AsyncSession, *, ticket: Ticket, body: AccessActionIn, actor: Actor, at: datetime
) -> AccessRequest:
    """Run the gate and record each check on the timeline; the command goes to onboarding
    only if every check passed (otherwise ``VerificationRefused``, entries kept)."""
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
    checks = target_checks(action=body.action, ticket=ticket, account=account, user=user)
    by_requester, channel = await requester_checks(session, ticket=ticket, target=user)
    checks += by_requester
    await _record_checks(
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


async def record_outcome(session: AsyncSession, envelope: Envelope, *, at: datetime) -> None:
    event = envelope.data
    assert isinstance(event, AccessActionOutcome)
    try:
        request_id = uuid.UUID(event.request_id)
    except ValueError:
        return  # not one of ours
    request = await session.get(AccessRequest, request_id, with_for_update=True)
    if request is None or request.status not in OPEN_STATUSES:
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


# --- the out-of-band confirmation of an MFA reset --------------------------------------


async def _open_request(
    session: AsyncSession, request_id: str, *, tenant_id: str
) -> tuple[AccessRequest, Ticket] | None:
    try:
        request_uuid = uuid.UUID(request_id)
    except ValueError:
        return None  # not one of ours
    request = await session.get(AccessRequest, request_uuid, with_for_update=True)
    if request is None or request.tenant_id != tenant_id:
        return None
    ticket = await session.get(Ticket, request.ticket_id, with_for_update=True)
    if ticket is None:
        return None
    return request, ticket


async def record_confirmation_step(
    session: AsyncSession, envelope: Envelope, *, at: datetime
) -> None:
    """``access.confirmation_pending`` and ``access.confirmation_failed`` on the ticket."""
    event = envelope.data
    assert isinstance(event, AccessConfirmationPending | AccessConfirmationFailed)
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
    request = await session.get(AccessRequest, request_id, with_for_update=True)
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
