"""``/v1/tenants/{id}/users``, ``/v1/users/{id}`` and ``/v1/invitations``. A user's access
actions are in ``access/endpoints.py``, the inactive-user scan in ``scans/endpoints.py``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.deps import SettingsDep, TenantReader, load_tenant
from onboarding_service.models import Tenant, User
from onboarding_service.users import invitations, service
from onboarding_service.users.schemas import (
    AcceptIn,
    DeactivateIn,
    InvitationOut,
    InviteIn,
    LockIn,
    SignInIn,
    SignInOutcome,
    UserOut,
    UserSettable,
    invitation_out,
    user_out,
)
from onboarding_service.users.status import UserRole, UserStatus
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import Unprocessable
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, apply_merge_patch, merge_patch_route
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.roles import Operator, OperatorOrService, ServiceOnly

router = APIRouter(prefix="/v1", tags=["users"])


SIGN_IN_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a reported sign-in may be (the identity system's clock)."""


async def _user_for_update(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> tuple[User, Tenant]:
    """The user the caller may see (404 otherwise), then its tenant's and its own rows
    FOR UPDATE."""
    found = await service.get_user(session, principal, user_id)
    return await service.load_user_and_tenant(session, found.id)


@router.post(
    "/tenants/{tenant_id}/users",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    status_code=201,
    summary="Invite a user (holds a seat until accepted or expired)",
    responses={409: {"description": "seat limit reached, or already a member"}},
)
async def invite(
    tenant_id: uuid.UUID,
    body: InviteIn,
    response: Response,
    session: SessionDep,
    principal: Operator,
    idem: IdempotencyDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> InvitationOut:
    await idem.start(session, body)
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    user, token = await invitations.invite_user(
        session,
        tenant=tenant,
        email=body.email,
        name=body.name,
        role=body.role,
        invited_by=principal.subject,
        now=clock.now(),
        ttl=timedelta(hours=settings.invitation_ttl_hours),
    )
    out = invitation_out(user, token)
    headers = {"Location": f"/v1/users/{user.id}", "ETag": etag(user.version)}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=201, headers=headers)


@router.get(
    "/tenants/{tenant_id}/users",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="List a tenant's users (newest first; `sort`)",
)
async def list_users(
    tenant_id: uuid.UUID,
    session: SessionDep,
    principal: TenantReader,
    page: PageDep,
    sort: SortDep,
    status: UserStatus | None = None,
    role: UserRole | None = None,
) -> Page[UserOut]:
    tenant = await load_tenant(session, principal, tenant_id)
    rows, cursor, total = await service.list_users(
        session, tenant_id=tenant.id, status=status, role=role, page=page, sort=sort
    )
    return Page[UserOut](items=[user_out(u) for u in rows], next_cursor=cursor, total=total)


@router.post(
    "/invitations/accept",
    summary="Accept an invitation: the user becomes active",
    responses={404: {"description": "unknown token"}, 409: {"description": "expired"}},
)
async def accept(
    body: AcceptIn, session: SessionDep, principal: OperatorOrService, clock: ClockDep
) -> UserOut:
    user = await invitations.accept_invitation(
        session, principal, token=body.token, name=body.name, now=clock.now()
    )
    return user_out(user)


@router.get(
    "/users/{user_id}", dependencies=[owned(path={"user_id": "user"})], summary="Read a user (ETag)"
)
async def get_user(
    user_id: uuid.UUID, response: Response, session: SessionDep, principal: TenantReader
) -> UserOut:
    user = await service.get_user(session, principal, user_id)
    response.headers["ETag"] = etag(user.version)
    return user_out(user)


@router.patch(
    "/users/{user_id}",
    dependencies=[owned(path={"user_id": "user"})],
    summary="Change a user's name or role (If-Match required)",
    responses={
        409: {"description": "the last active admin would lose the admin role"},
        412: {"description": "stale ETag"},
        428: {"description": "If-Match missing"},
    },
    **merge_patch_route(UserSettable),
)
async def update_user(
    user_id: uuid.UUID,
    body: MergePatch,
    response: Response,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> UserOut:
    user, tenant = await _user_for_update(session, principal, user_id)
    # invalid input is refused (422) before the precondition is looked at (412)
    merged = apply_merge_patch(
        UserSettable, document={"name": user.name, "role": user.role}, patch=body
    )
    if_match.require(user.version)
    await service.update_user(session, tenant=tenant, user=user, merged=merged, now=clock.now())
    response.headers["ETag"] = etag(user.version)
    return user_out(user)


@router.post(
    "/users/{user_id}/deactivate",
    dependencies=[owned(path={"user_id": "user"})],
    summary="Deactivate a user (role kept)",
)
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


@router.delete(
    "/users/{user_id}",
    dependencies=[owned(path={"user_id": "user"})],
    status_code=204,
    summary="Remove a user from the tenant (deactivated, then forgotten; If-Match optional)",
    responses={
        409: {"description": "the last active admin of the tenant"},
        412: {"description": "stale ETag"},
    },
)
async def remove_user(
    user_id: uuid.UUID,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> Response:
    user, tenant = await _user_for_update(session, principal, user_id)
    if_match.check(user.version)
    await service.remove_user(
        session, tenant=tenant, user=user, now=clock.now(), actor=principal.subject
    )
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/lock",
    dependencies=[owned(path={"user_id": "user"})],
    summary="Lock a user (reported by the identity system)",
)
async def lock(
    user_id: uuid.UUID,
    body: LockIn,
    session: SessionDep,
    principal: ServiceOnly,
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
    dependencies=[owned(path={"user_id": "user"})],
    summary="Record a sign-in attempt, successful or failed (reported by the identity system)",
    responses={409: {"description": "a successful sign-in of a user who may not sign in"}},
)
async def record_sign_in(
    user_id: uuid.UUID,
    body: SignInIn,
    session: SessionDep,
    principal: ServiceOnly,
    clock: ClockDep,
    idem: IdempotencyDep,
    settings: SettingsDep,
) -> UserOut:
    """A retried report with the same ``Idempotency-Key`` is answered as the first time
    and counted once (a failed sign-in reported twice must not lock a user early)."""
    await idem.start(session, body)
    now = clock.now()
    at = body.signed_in_at or now
    if at > now + SIGN_IN_CLOCK_SKEW:
        raise Unprocessable(
            "signed_in_at lies in the future",
            errors=[
                {
                    "field": "signed_in_at",
                    "in": "body",
                    "message": "must not lie in the future",
                    "code": "future",
                }
            ],
        )
    user, tenant = await _user_for_update(session, principal, user_id)
    await service.record_sign_in(
        session,
        tenant=tenant,
        user=user,
        succeeded=body.outcome is SignInOutcome.succeeded,
        at=at,
        now=now,
        lock_after=settings.lock_after_failed_sign_ins,
        mfa_enrolled=body.mfa_enrolled,
        actor=principal.subject,
    )
    return await idem.complete(session, user_out(user), status_code=200)
