"""Invitations: inviting a user into a tenant (a seat is held until accepted or expired), the
activation e-mail again, and accepting an invitation (the user becomes active)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.mail.outbound import mail_invitation
from onboarding_service.models import Tenant, User
from onboarding_service.users import repository
from onboarding_service.users.events import user_fields
from onboarding_service.users.service import (
    ensure_open,
    ensure_seat,
    load_user_and_tenant,
    set_user_status,
)
from onboarding_service.users.status import UserRole, UserStatus
from servicekit.auth import Principal
from servicekit.errors import Conflict, InvalidTransition, NotFound
from servicekit.outbox import publish
from supportops_events import onboarding as ev


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invitation(user: User, *, now: datetime, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    user.invitation_token_hash = hash_token(token)
    user.invitation_expires_at = now + ttl
    return token


async def invite_user(
    session: AsyncSession,
    *,
    tenant: Tenant,
    email: str,
    name: str | None,
    role: UserRole,
    invited_by: str,
    now: datetime,
    ttl: timedelta,
) -> tuple[User, str]:
    """Invite into a tenant whose row the caller holds FOR UPDATE."""
    ensure_open(tenant)
    existing = await repository.find_by_email(session, tenant_id=tenant.id, email=email)
    if existing is not None:
        raise Conflict(
            f"{email} is already a member of this tenant",
            code="user-exists",
            email=email,
            user_id=str(existing.id),
        )
    await ensure_seat(session, tenant=tenant, now=now)
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=email.lower(),
        name=name,
        role=role.value,
        status=UserStatus.invited.value,
        invited_by=invited_by[:200],
        invited_at=now,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    token = new_invitation(user, now=now, ttl=ttl)
    await repository.add_user(session, user)
    await publish(
        session,
        ev.UserInvited(
            **user_fields(user),
            invited_by=invited_by,
            invited_at=now,
            expires_at=user.invitation_expires_at,
        ),
    )
    await mail_invitation(
        session, tenant=tenant, user=user, token=token, invited_by=invited_by, resend=False
    )
    if role is UserRole.admin:
        await tick_step(
            session, tenant=tenant, step=Step.admin_invited, now=now, by=invited_by, source="invite"
        )
    return user, token


async def resend_invitation(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    by: str,
    now: datetime,
    ttl: timedelta,
    request_id: str | None = None,
    ticket_id: str | None = None,
) -> str:
    if user.status != UserStatus.invited:
        raise InvalidTransition(
            "user",
            current=user.status,
            requested="resend_activation",
            allowed=[],
            detail="only an invited user can get the activation e-mail again",
        )
    expired = user.invitation_expires_at is None or user.invitation_expires_at <= now
    if expired:  # an expired invitation gave its seat back; taking it again needs one
        await ensure_seat(session, tenant=tenant, now=now)
    token = new_invitation(user, now=now, ttl=ttl)
    user.updated_at = now
    await session.flush()
    await publish(
        session,
        ev.UserInvited(
            **user_fields(user, request_id=request_id, ticket_id=ticket_id),
            invited_by=by,
            invited_at=now,
            expires_at=user.invitation_expires_at,
            is_resend=True,
        ),
    )
    await mail_invitation(
        session, tenant=tenant, user=user, token=token, invited_by=by, resend=True
    )
    return token


async def accept_invitation(
    session: AsyncSession, principal: Principal, *, token: str, name: str | None, now: datetime
) -> User:
    """The invited user becomes active (404 for an unknown token, 409 once expired)."""
    found = await repository.find_by_token_hash(session, hash_token(token))
    if found is None:
        raise NotFound("no pending invitation has this token", code="invitation-not-found")
    principal.ensure_tenant(str(found.tenant_id), resource="invitation")
    user, tenant = await load_user_and_tenant(session, found.id)
    if user.invitation_expires_at is None or user.invitation_expires_at <= now:
        raise Conflict(
            "the invitation has expired; ask for the activation e-mail again",
            code="invitation-expired",
        )
    if name is not None:
        user.name = name
    await set_user_status(
        session, tenant=tenant, user=user, target=UserStatus.active, now=now, actor=user.email
    )
    return user
