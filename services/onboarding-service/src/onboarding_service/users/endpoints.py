"""``/v1/tenants/{id}/users``, ``/v1/users/{id}`` and ``/v1/invitations``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access.service import perform_action
from onboarding_service.clock import ClockDep
from onboarding_service.config import OnboardingSettings
from onboarding_service.deps import (
    PROBLEM_RESPONSES,
    IdentitySystem,
    IfMatchHeader,
    Operator,
    OperatorOrService,
    Reader,
    check_if_match,
    etag,
)
from onboarding_service.domain import UserRole, UserStatus
from onboarding_service.models import Tenant, User
from onboarding_service.tenants.endpoints import load_tenant
from onboarding_service.users import repository, service
from onboarding_service.users.schemas import (
    AcceptIn,
    AccessActionIn,
    AccessActionOut,
    DeactivateIn,
    InvitationOut,
    InviteIn,
    LockIn,
    SignInIn,
    UserOut,
    UserUpdate,
    user_out,
)
from servicekit.auth import Principal
from servicekit.deps import SessionDep
from servicekit.errors import Conflict, NotFound
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/v1", tags=["users"], responses=PROBLEM_RESPONSES)


def _ttl(request: Request) -> timedelta:
    settings: OnboardingSettings = request.app.state.settings
    return timedelta(hours=settings.invitation_ttl_hours)


async def _user_for_update(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> tuple[User, Tenant]:
    found = await session.get(User, user_id)
    if found is None:
        raise NotFound("user not found")
    principal.ensure_tenant(str(found.tenant_id), resource="user")
    return await service.load_user_and_tenant(session, user_id)


@router.post(
    "/tenants/{tenant_id}/users",
    status_code=201,
    summary="Invite a user (holds a seat until accepted or expired)",
    responses={409: {"description": "seat limit reached, or already a member"}},
)
async def invite(
    tenant_id: uuid.UUID,
    body: InviteIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Operator,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> InvitationOut:
    if (replay := await idem.begin(session, body)) is not None:
        return replay  # type: ignore[return-value]
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    user, token = await service.invite_user(
        session,
        tenant=tenant,
        email=body.email,
        name=body.name,
        role=body.role,
        invited_by=principal.subject,
        now=clock.now(),
        ttl=_ttl(request),
    )
    out = InvitationOut(
        user=user_out(user),
        invitation_token=token,
        expires_at=user.invitation_expires_at,  # type: ignore[arg-type]
    )
    headers = {"Location": f"/v1/users/{user.id}", "ETag": etag(user.version)}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=201, headers=headers)  # type: ignore[no-any-return]


@router.get("/tenants/{tenant_id}/users", summary="List a tenant's users")
async def list_users(
    tenant_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    status: UserStatus | None = None,
    role: UserRole | None = None,
) -> Page[UserOut]:
    await load_tenant(session, principal, tenant_id)
    stmt = select(User).where(User.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(User.status == status.value)
    if role is not None:
        stmt = stmt.where(User.role == role.value)
    rows, cursor = await paginate(session, stmt, keys=[User.created_at, User.id], params=page)
    return Page[UserOut](items=[user_out(u) for u in rows], next_cursor=cursor)


@router.post(
    "/invitations/accept",
    summary="Accept an invitation: the user becomes active",
    responses={404: {"description": "unknown token"}, 409: {"description": "expired"}},
)
async def accept(
    body: AcceptIn, session: SessionDep, principal: OperatorOrService, clock: ClockDep
) -> UserOut:
    now = clock.now()
    found = await repository.find_by_token_hash(session, service.hash_token(body.token))
    if found is None:
        raise NotFound("no pending invitation has this token", code="invitation-not-found")
    principal.ensure_tenant(str(found.tenant_id), resource="invitation")
    user, tenant = await service.load_user_and_tenant(session, found.id)
    if user.invitation_expires_at is None or user.invitation_expires_at <= now:
        raise Conflict(
            "the invitation has expired; ask for the activation e-mail again",
            code="invitation-expired",
        )
    if body.name is not None:
        user.name = body.name
    await service.set_user_status(
        session, tenant=tenant, user=user, target=UserStatus.active, now=now, actor=user.email
    )
    return user_out(user)


@router.get("/users/{user_id}", summary="Read a user (ETag)")
async def get_user(
    user_id: uuid.UUID, response: Response, session: SessionDep, principal: Reader
) -> UserOut:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    principal.ensure_tenant(str(user.tenant_id), resource="user")
    response.headers["ETag"] = etag(user.version)
    return user_out(user)


@router.patch(
    "/users/{user_id}",
    summary="Change a user's name or role (If-Match required)",
    responses={412: {"description": "stale ETag"}, 428: {"description": "If-Match missing"}},
)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    response: Response,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader = None,
) -> UserOut:
    user, _ = await _user_for_update(session, principal, user_id)
    check_if_match(if_match, version=user.version, required=True)
    if body.role is not None and body.role != user.role and user.role == UserRole.admin:
        admins = await session.scalars(
            select(User.id).where(
                User.tenant_id == user.tenant_id,
                User.role == UserRole.admin.value,
                User.status.in_([UserStatus.active, UserStatus.inactive, UserStatus.locked]),
                User.id != user.id,
            )
        )
        if not admins.first():
            raise Conflict("a tenant keeps at least one admin", code="last-admin")
    if body.name is not None:
        user.name = body.name
    if body.role is not None:
        user.role = body.role.value
    user.updated_at = clock.now()
    await session.flush()
    response.headers["ETag"] = etag(user.version)
    return user_out(user)


@router.post("/users/{user_id}/deactivate", summary="Deactivate a user (role kept)")
async def deactivate(
    user_id: uuid.UUID,
    body: DeactivateIn,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
) -> UserOut:
    user, tenant = await _user_for_update(session, principal, user_id)
    await service.set_user_status(
        session,
        tenant=tenant,
        user=user,
        target=UserStatus.deactivated,
        now=clock.now(),
        actor=principal.subject,
        reason=body.reason,
    )
    return user_out(user)


@router.post(
    "/users/{user_id}/lock",
    summary="Lock a user (reported by the identity system)",
)
async def lock(
    user_id: uuid.UUID,
    body: LockIn,
    session: SessionDep,
    principal: IdentitySystem,
    clock: ClockDep,
) -> UserOut:
    user, tenant = await _user_for_update(session, principal, user_id)
    await service.set_user_status(
        session,
        tenant=tenant,
        user=user,
        target=UserStatus.locked,
        now=clock.now(),
        actor=principal.subject,
        lock_reason=body.reason,
    )
    return user_out(user)


@router.post(
    "/users/{user_id}/sign-ins",
    summary="Record a sign-in (reported by the identity system)",
)
async def record_sign_in(
    user_id: uuid.UUID,
    body: SignInIn,
    session: SessionDep,
    principal: IdentitySystem,
    clock: ClockDep,
) -> UserOut:
    user, tenant = await _user_for_update(session, principal, user_id)
    now = clock.now()
    at = body.signed_in_at or now
    if user.status not in {UserStatus.active, UserStatus.inactive}:
        raise Conflict(f"a {user.status} user cannot sign in", code="sign-in-not-allowed")
    if user.last_sign_in_at is None or at > user.last_sign_in_at:
        user.last_sign_in_at = at
    if body.mfa_enrolled is not None:
        user.mfa_enrolled = body.mfa_enrolled
    if user.status == UserStatus.inactive:
        await service.set_user_status(
            session,
            tenant=tenant,
            user=user,
            target=UserStatus.active,
            now=now,
            actor=principal.subject,
        )
    user.updated_at = now
    await session.flush()
    return user_out(user)


@router.post(
    "/users/{user_id}/actions",
    summary="Perform an access action (same rules as access.action_requested)",
    responses={409: {"description": "rejected, with reasons"}},
)
async def access_action(
    user_id: uuid.UUID,
    body: AccessActionIn,
    request: Request,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
) -> AccessActionOut:
    found = await session.get(User, user_id)
    if found is None:
        raise NotFound("user not found")
    principal.ensure_tenant(str(found.tenant_id), resource="user")
    user, token = await perform_action(
        session,
        action=body.action,
        user_id=str(user_id),
        tenant_id=None,
        by=principal.subject,
        now=clock.now(),
        invitation_ttl=_ttl(request),
    )
    return AccessActionOut(action=body.action, user=user_out(user), invitation_token=token)
