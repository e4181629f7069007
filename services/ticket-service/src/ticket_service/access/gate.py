"""The verification gate of access actions: is the tenant open, is the target its user
in a fitting status, and is whoever asks that user or an active tenant admin? Each check
is recorded on the ticket's timeline, passed or not, so an auditor sees why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict
from supportops_events.onboarding import AccessAction, UserStatus
from ticket_service.access import repository
from ticket_service.models import Account, AccountUser, Ticket
from ticket_service.tickets.timeline import Actor, add_entry

# The user statuses each action applies to (the same rules onboarding-service applies).
FITTING_STATUSES: dict[AccessAction, set[UserStatus]] = {
    AccessAction.mfa_reset: {UserStatus.active, UserStatus.inactive, UserStatus.locked},
    AccessAction.reactivate: {UserStatus.deactivated, UserStatus.inactive},
    AccessAction.unlock: {UserStatus.locked},
    AccessAction.resend_activation: {UserStatus.invited},
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
    if await repository.came_by_mail(session, ticket.id):
        # intake takes the requester from the mail's sender (the mail provider's webhook)
        return VerifiedChannel(
            "email", ticket.requester_email, f"e-mail from {ticket.requester_email}"
        )
    opened = await repository.opening_entry(session, ticket.id)
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
    known = await repository.users_known_as(
        session,
        email=channel.identity,
        user_id=channel.identity if channel.channel == "portal" else None,
        tenant_first=ticket.tenant_id,
    )
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


async def record_checks(
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
