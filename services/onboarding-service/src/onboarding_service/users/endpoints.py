"""``/v1/tenants/{id}/users``, ``/v1/users/{id}`` and ``/v1/invitations``."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access import service as access
from onboarding_service.clock import ClockDep
from onboarding_service.config import OnboardingSettings
from onboarding_service.deps import (
    PROBLEM_RESPONSES,
    IdentitySystem,
    Operator,
    OperatorOrService,
    Reader,
)
from onboarding_service.domain import UserRole, UserStatus
from onboarding_service.models import Tenant, User
from onboarding_service.scans import mark_inactive_users
from onboarding_service.tenants.endpoints import load_tenant
from onboarding_service.users import repository, service
from onboarding_service.users.schemas import (
    AcceptIn,
    AccessActionIn,
    AccessActionOut,
    DeactivateIn,
    InactiveScanIn,
    InactiveScanOut,
    InvitationOut,
    InviteIn,
    LockIn,
    MarkedInactiveOut,
    SignInIn,
    SignInOutcome,
    UserOut,
    UserSettable,
    user_out,
)
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.errors import Conflict, NotFound, Unprocessable, problem_response
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, apply_merge_patch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/v1", tags=["users"], responses=PROBLEM_RESPONSES)


SIGN_IN_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a reported sign-in may be (the identity system's clock)."""


def _settings(request: Request) -> OnboardingSettings:
    settings: OnboardingSettings = request.app.state.settings
    return settings


def _ttl(request: Request) -> timedelta:
    return timedelta(hours=_settings(request).invitation_ttl_hours)


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
    dependencies=[owned(path={"tenant_id": "tenant"})],
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
    await idem.start(session, body)
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
    return await idem.complete(session, out, status_code=201, headers=headers)


@router.get(
    "/tenants/{tenant_id}/users",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="List a tenant's users",
)
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


@router.get(
    "/users/{user_id}", dependencies=[owned(path={"user_id": "user"})], summary="Read a user (ETag)"
)
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
    if merged.role != user.role:
        await service.ensure_active_admin_remains(
            session, tenant=tenant, user=user, role=merged.role, status=user.status
        )
    user.name = merged.name
    user.role = merged.role.value
    user.updated_at = clock.now()
    await session.flush()
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
    dependencies=[owned(path={"user_id": "user"})],
    summary="Record a sign-in attempt, successful or failed (reported by the identity system)",
    responses={409: {"description": "a successful sign-in of a user who may not sign in"}},
)
async def record_sign_in(
    user_id: uuid.UUID,
    body: SignInIn,
    request: Request,
    session: SessionDep,
    principal: IdentitySystem,
    clock: ClockDep,
    idem: IdempotencyDep,
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
        lock_after=_settings(request).lock_after_failed_sign_ins,
        mfa_enrolled=body.mfa_enrolled,
        actor=principal.subject,
    )
    return await idem.complete(session, user_out(user), status_code=200)


@router.post(
    "/users/{user_id}/actions",
    dependencies=[
        owned(
            path={"user_id": "user"},
            exempt={
                "ticket_id": "the ticket-service ticket the command answers (recorded, never read)",
                "request_id": "the requesting service's own request id",
            },
        )
    ],
    summary="Perform an access action (same rules as access.action_requested)",
    response_model=AccessActionOut,
    responses={
        409: {"description": "rejected (with reasons), or the request_id was handled before"}
    },
)
async def access_action(
    user_id: uuid.UUID,
    body: AccessActionIn,
    request: Request,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
) -> AccessActionOut | JSONResponse:
    found = await session.get(User, user_id)
    if found is None:
        raise NotFound("user not found")
    principal.ensure_tenant(str(found.tenant_id), resource="user")
    ticket_id = body.ticket_id
    request_id: str | None = None
    if ticket_id is not None:
        request_id = body.request_id or f"rest-{uuid.uuid4()}"
        if (earlier := await access.already_handled(session, request_id)) is not None:
            raise Conflict(
                f"access request {request_id} was already handled",
                code="access-request-handled",
                request_id=request_id,
                outcome=earlier.outcome,
                reasons=earlier.reasons,
            )
    user, token, refused = await access.perform_admin_action(
        session,
        user_id=user_id,
        action=body.action,
        by=principal.subject,
        reason=body.reason,
        ticket_id=ticket_id,
        request_id=request_id,
        now=clock.now(),
        invitation_ttl=_ttl(request),
    )
    if refused is not None:
        if ticket_id is None:
            raise refused
        # The ticket heard about the refusal, so it must commit: answer, do not raise.
        return problem_response(refused.to_problem(instance=request.url.path))
    assert user is not None
    return AccessActionOut(
        action=body.action,
        user=user_out(user),
        invitation_token=token,
        ticket_id=ticket_id,
        request_id=request_id,
    )


@router.post(
    "/scans/inactive-users",
    dependencies=[owned(body={"tenant_id": "tenant"})],
    summary="Mark users inactive after days without a sign-in (what the CronJob runs)",
)
async def inactive_user_scan(
    request: Request,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    body: Annotated[InactiveScanIn | None, Body()] = None,
) -> InactiveScanOut:
    body = body or InactiveScanIn()
    tenant_id = body.tenant_id
    if principal.tenant_id is not None:
        if tenant_id is not None:
            principal.ensure_tenant(str(tenant_id), resource="tenant")
        tenant_id = _uuid_or_nil(principal.tenant_id)
    now = clock.now()
    after_days = body.after_days or _settings(request).inactive_after_days
    marked = await mark_inactive_users(session, now=now, after_days=after_days, tenant_id=tenant_id)
    return InactiveScanOut(
        scanned_at=now,
        after_days=after_days,
        marked=[MarkedInactiveOut(**asdict(m)) for m in marked],
    )


def _uuid_or_nil(value: str) -> uuid.UUID:
    """A tenant claim that is no UUID names no tenant of ours: scan nothing."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)
