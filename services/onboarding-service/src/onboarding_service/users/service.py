"""Users and memberships: the user status machine, seats, the last active admin, sign-ins and
MFA resets. Invitations (and their acceptance) are ``users/invitations.py``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.models import Tenant, User
from onboarding_service.tenants.lifecycle import TenantStatus
from onboarding_service.tenants.repository import lock_tenant
from onboarding_service.users import repository
from onboarding_service.users.events import user_fields
from onboarding_service.users.schemas import UserSettable
from onboarding_service.users.status import TRANSITIONS, UserRole, UserStatus
from servicekit.auth import Principal
from servicekit.errors import Conflict, InvalidTransition, NotFound
from servicekit.outbox import publish
from servicekit.pagination import PageParams, SortParams
from supportops_events import onboarding as ev

OPEN_TENANT = frozenset({TenantStatus.onboarding, TenantStatus.active})


class SeatLimitReached(Conflict):
    code, title = "seat-limit-reached", "Seat limit reached"


class TenantNotOpen(Conflict):
    code, title = "tenant-not-active", "Tenant not active"


class LastActiveAdmin(Conflict):
    code, title = "last-admin", "Last active admin"


ADMIN_POWER = frozenset({UserStatus.active, UserStatus.inactive})
"""Statuses in which an admin can sign in and run the tenant (an inactive user can still
sign in; a locked, invited or deactivated one cannot)."""

LAST_ADMIN_RULE = "a tenant keeps at least one active admin"


async def ensure_active_admin_remains(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    role: UserRole | str,
    status: UserStatus | str,
) -> None:
    """Refuse to take admin power from the tenant's last active admin (role change,
    deactivation, removal: every such path calls this before it writes).
    Locks (by the identity system) and the inactivity mark are not refused: a lock
    protects the account, and an inactive admin can still sign in.

    The caller holds the tenant row FOR UPDATE, so two admins demoting each other at
    once are serialised and the second sees the first's change: one of them is refused.
    A churned tenant is exempt: nobody signs in to it any more.
    """
    holds = user.role == UserRole.admin and user.status in ADMIN_POWER
    keeps = role == UserRole.admin and status in ADMIN_POWER
    if not holds or keeps or tenant.status == TenantStatus.churned:
        return
    if await repository.active_admins(session, tenant_id=tenant.id, excluding=user.id) == 0:
        raise LastActiveAdmin(
            f"{user.email} is the last active admin of the tenant; "
            "make another user an active admin first",
            rule=LAST_ADMIN_RULE,
            user_id=str(user.id),
            tenant_id=str(tenant.id),
        )


async def ensure_seat(session: AsyncSession, *, tenant: Tenant, now: datetime) -> None:
    """The caller holds the tenant row FOR UPDATE, so the count cannot go stale."""
    in_use = await repository.seats_in_use(session, tenant_id=tenant.id, now=now)
    if in_use >= tenant.seat_limit:
        raise SeatLimitReached(
            f"all {tenant.seat_limit} seats are taken (pending invitations included)",
            seat_limit=tenant.seat_limit,
            seats_in_use=in_use,
        )


def ensure_open(tenant: Tenant) -> None:
    if tenant.status not in OPEN_TENANT:
        raise TenantNotOpen(
            f"the tenant is {tenant.status}; its users cannot change", tenant_status=tenant.status
        )


async def set_user_status(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    target: UserStatus,
    now: datetime,
    actor: str,
    reason: str | None = None,
    lock_reason: ev.LockReason = ev.LockReason.failed_logins,
    inactive_days: int = 0,
    request_id: str | None = None,
    ticket_id: str | None = None,
) -> None:
    """The user status machine, one event per transition. Roles never change here:
    deactivate/reactivate keep them."""
    previous = UserStatus(user.status)
    if target is UserStatus.deactivated:
        # Only a decision by a person is guarded: a lock reported by the identity system
        # (an attack on the account) must always apply, and support can unlock.
        await ensure_active_admin_remains(
            session, tenant=tenant, user=user, role=user.role, status=target
        )
    if (previous, target) == (UserStatus.deactivated, UserStatus.active):
        await ensure_seat(session, tenant=tenant, now=now)
    event: ev.UserEvent
    user.status = target.value  # events below carry the new status
    fields = user_fields(user, request_id=request_id, ticket_id=ticket_id)
    match (previous, target):
        case (UserStatus.invited, UserStatus.active):
            user.activated_at = now
            user.invitation_token_hash = None
            user.invitation_expires_at = None
            event = ev.UserActivated(**fields, activated_at=now)
        case (
            UserStatus.invited | UserStatus.active | UserStatus.inactive | UserStatus.locked,
            UserStatus.deactivated,
        ):
            user.session_epoch += 1
            user.invitation_token_hash = None
            event = ev.UserDeactivated(
                **fields, deactivated_by=actor, reason=reason, deactivated_at=now
            )
        case (UserStatus.deactivated | UserStatus.inactive, UserStatus.active):
            user.failed_sign_in_count = 0
            event = ev.UserReactivated(**fields, reactivated_by=actor, reactivated_at=now)
        case (UserStatus.active | UserStatus.inactive, UserStatus.locked):
            user.session_epoch += 1
            user.lock_reason = lock_reason.value
            event = ev.UserLocked(**fields, reason=lock_reason, locked_at=now)
        case (UserStatus.locked, UserStatus.active):
            user.lock_reason = None
            user.failed_sign_in_count = 0
            event = ev.UserUnlocked(**fields, unlocked_by=actor, unlocked_at=now)
        case (UserStatus.active, UserStatus.inactive):
            # Sessions stay: an inactive user may still sign in, which makes them active.
            event = ev.UserMarkedInactive(
                **fields,
                last_sign_in_at=user.last_sign_in_at,
                inactive_days=inactive_days,
                marked_at=now,
            )
        case _:
            user.status = previous.value
            raise InvalidTransition(
                "user",
                previous.value,
                target.value,
                allowed=[s.value for s in TRANSITIONS[previous]],
            )
    user.status_changed_at = now
    user.updated_at = now
    await session.flush()
    await publish(session, event)
    if (previous, target) == (
        UserStatus.invited,
        UserStatus.active,
    ) and user.role == UserRole.admin:
        await tick_step(
            session, tenant=tenant, step=Step.admin_activated, now=now, by=actor, source="accept"
        )


REMOVED = "removed"
"""The deactivation reason ``user.deactivated`` carries when a user is removed."""


async def remove_user(
    session: AsyncSession, *, tenant: Tenant, user: User, now: datetime, actor: str
) -> None:
    """Remove a membership (the caller holds tenant and user rows): the user is
    deactivated first (``user.deactivated``, reason ``removed``: sessions revoked, the
    seat freed, read models told), then forgotten, so the e-mail can be invited again.
    The last active admin cannot be removed."""
    await ensure_active_admin_remains(
        session, tenant=tenant, user=user, role=user.role, status=UserStatus.deactivated
    )
    if user.status != UserStatus.deactivated:
        await set_user_status(
            session,
            tenant=tenant,
            user=user,
            target=UserStatus.deactivated,
            now=now,
            actor=actor,
            reason=REMOVED,
        )
    await repository.delete_user(session, user)


async def mark_inactive(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    now: datetime,
    inactive_days: int,
    actor: str,
) -> None:
    """No sign-in for ``inactive_days``: ``active → inactive`` (``user.marked_inactive``)."""
    await set_user_status(
        session,
        tenant=tenant,
        user=user,
        target=UserStatus.inactive,
        now=now,
        actor=actor,
        inactive_days=inactive_days,
    )


SIGNED_IN = frozenset({UserStatus.active, UserStatus.inactive})
"""Who can sign in (so a sign-in can succeed, or a failure can lock them)."""


async def record_sign_in(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    succeeded: bool,
    at: datetime,
    now: datetime,
    lock_after: int,
    mfa_enrolled: bool | None,
    actor: str,
) -> None:
    """A sign-in reported by the identity system (the caller holds tenant and user rows).

    Success: recorded, the failure streak ends, an inactive user is active again; only
    someone who may sign in can succeed (409 otherwise). Failure: counted (whatever the
    status); the ``lock_after``-th failure in a row locks an active or inactive user.
    """
    if succeeded:
        if user.status not in SIGNED_IN:
            raise Conflict(
                f"a {user.status} user cannot sign in",
                code="sign-in-not-allowed",
                user_status=user.status,
            )
        if user.last_sign_in_at is None or at > user.last_sign_in_at:
            user.last_sign_in_at = at
        user.failed_sign_in_count = 0
        if mfa_enrolled is not None:
            user.mfa_enrolled = mfa_enrolled
        if user.status == UserStatus.inactive:
            await set_user_status(
                session, tenant=tenant, user=user, target=UserStatus.active, now=now, actor=actor
            )
    else:
        user.failed_sign_in_count += 1
        if user.last_failed_sign_in_at is None or at > user.last_failed_sign_in_at:
            user.last_failed_sign_in_at = at
        if user.status in SIGNED_IN and user.failed_sign_in_count >= lock_after:
            await set_user_status(
                session,
                tenant=tenant,
                user=user,
                target=UserStatus.locked,
                now=now,
                actor=actor,
                lock_reason=ev.LockReason.failed_logins,
            )
    user.updated_at = now
    await session.flush()


async def reset_mfa(
    session: AsyncSession,
    *,
    user: User,
    by: str,
    now: datetime,
    request_id: str | None = None,
    ticket_id: str | None = None,
) -> None:
    """Remove the second factor and revoke every session issued before now."""
    if user.status not in {UserStatus.active, UserStatus.inactive, UserStatus.locked}:
        raise InvalidTransition(
            "user",
            current=user.status,
            requested="mfa_reset",
            allowed=[],
            detail=f"MFA cannot be reset for a {user.status} user",
        )
    user.mfa_enrolled = False
    user.mfa_reset_at = now
    user.session_epoch += 1
    user.updated_at = now
    await session.flush()
    await publish(
        session,
        ev.UserMfaReset(
            **user_fields(user, request_id=request_id, ticket_id=ticket_id),
            reset_by=by,
            reset_at=now,
        ),
    )


async def load_user_and_tenant(session: AsyncSession, user_id: uuid.UUID) -> tuple[User, Tenant]:
    """Tenant row first, then the user, both FOR UPDATE (one lock order everywhere)."""
    found = await repository.get_user(session, user_id)
    if found is None:
        raise NotFound("user not found")
    tenant = await lock_tenant(session, found.tenant_id)
    user = await repository.lock_user(session, user_id)
    if tenant is None or user is None:
        raise NotFound("user not found")
    return user, tenant


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    """The user ``principal`` may see (404 otherwise, as for an unknown one)."""
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("user not found")
    principal.ensure_tenant(str(user.tenant_id), resource="user")
    return user


async def list_users(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    status: UserStatus | None,
    role: UserRole | None,
    page: PageParams,
    sort: SortParams,
) -> tuple[list[User], str | None, int]:
    return await repository.list_users(
        session, tenant_id=tenant_id, status=status, role=role, page=page, sort=sort
    )


async def update_user(
    session: AsyncSession, *, tenant: Tenant, user: User, merged: UserSettable, now: datetime
) -> None:
    """Take over a merged name and role (the caller holds tenant and user rows); the last
    active admin keeps the admin role."""
    if merged.role != user.role:
        await ensure_active_admin_remains(
            session, tenant=tenant, user=user, role=merged.role, status=user.status
        )
    user.name = merged.name
    user.role = merged.role.value
    user.updated_at = now
    await session.flush()
