"""``/v1/tenants``: create, read, list, update, and status changes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.clock import ClockDep
from onboarding_service.config import OnboardingSettings
from onboarding_service.deps import (
    PROBLEM_RESPONSES,
    Operator,
    Reader,
)
from onboarding_service.domain import TenantStatus
from onboarding_service.models import Tenant
from onboarding_service.tenants import repository, service
from onboarding_service.tenants.schemas import (
    AdminOut,
    BillingOut,
    ChurnIn,
    PlanCode,
    TenantCreate,
    TenantOut,
    TenantSettable,
    TenantTransition,
)
from onboarding_service.text import SearchText
from onboarding_service.users.repository import lock_tenant
from onboarding_service.users.schemas import InvitationOut, user_out
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.errors import Forbidden, NotFound
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate
from supportops_events.billing import CollectionMethod

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], responses=PROBLEM_RESPONSES)


class TenantCreated(BaseModel):
    tenant: TenantOut
    admin_invitation: InvitationOut


def tenant_out(tenant: Tenant, domains: list[str]) -> TenantOut:
    return TenantOut(
        id=tenant.id,
        company_name=tenant.company_name,
        status=TenantStatus(tenant.status),
        domains=domains,
        plan_code=tenant.plan_code,
        seats=tenant.seats,
        seat_limit=tenant.seat_limit,
        billing=BillingOut(
            collection_method=CollectionMethod(tenant.collection_method),
            billing_email=tenant.billing_email,
            days_until_due=tenant.days_until_due,
        ),
        configuration=dict(tenant.configuration),
        admin=AdminOut(email=tenant.admin_email, name=tenant.admin_name),
        subscription_id=tenant.subscription_id,
        restricted=tenant.restricted,
        suspension_reason=tenant.suspension_reason,
        scheduled_suspension_at=tenant.scheduled_suspension_at,
        suspended_at=tenant.suspended_at,
        scheduled_churn_at=tenant.scheduled_churn_at,
        churned_at=tenant.churned_at,
        churn_reason=tenant.churn_reason,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        activated_at=tenant.activated_at,
        onboarded_at=tenant.onboarded_at,
        version=tenant.version,
    )


async def load_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, *, lock: bool = False
) -> Tenant:
    principal.ensure_tenant(str(tenant_id), resource="tenant")
    if lock:
        tenant = await lock_tenant(session, tenant_id)
    else:
        tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


async def render(session: AsyncSession, tenant: Tenant) -> TenantOut:
    domains = await repository.domains_of(session, [tenant.id])
    return tenant_out(tenant, domains[tenant.id])


def settings_of(request: Request) -> OnboardingSettings:
    settings: OnboardingSettings = request.app.state.settings
    return settings


@router.post(
    "",
    status_code=201,
    summary="Create a tenant with its first admin (invited)",
    responses={409: {"description": "a domain is taken"}},
)
async def create_tenant(
    body: TenantCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Operator,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> TenantCreated:
    await idem.start(session, body)
    if principal.tenant_id is not None:
        raise Forbidden("a tenant-scoped token cannot create tenants", code="tenant-scoped")
    ttl = timedelta(hours=settings_of(request).invitation_ttl_hours)
    tenant, admin, token = await service.create_tenant(
        session, body=body, created_by=principal.subject, now=clock.now(), invitation_ttl=ttl
    )
    out = TenantCreated(
        tenant=tenant_out(tenant, list(body.domains)),
        admin_invitation=InvitationOut(
            user=user_out(admin),
            invitation_token=token,
            expires_at=admin.invitation_expires_at,  # type: ignore[arg-type]
        ),
    )
    headers = {"ETag": etag(tenant.version), "Location": f"/v1/tenants/{tenant.id}"}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=201, headers=headers)


@router.get("", summary="List tenants (newest last)")
async def list_tenants(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    status: TenantStatus | None = None,
    plan_code: Annotated[PlanCode | None, Query()] = None,
    q: Annotated[SearchText | None, Query(description="company name or domain")] = None,
) -> Page[TenantOut]:
    stmt = repository.list_query(
        status=status.value if status else None,
        plan_code=plan_code,
        q=q,
        tenant_id=principal.tenant_id,
    )
    rows, cursor = await paginate(session, stmt, keys=[Tenant.created_at, Tenant.id], params=page)
    domains = await repository.domains_of(session, [t.id for t in rows])
    return Page[TenantOut](items=[tenant_out(t, domains[t.id]) for t in rows], next_cursor=cursor)


@router.get(
    "/{tenant_id}",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="Read a tenant (ETag)",
)
async def get_tenant(
    tenant_id: uuid.UUID, response: Response, session: SessionDep, principal: Reader
) -> TenantOut:
    tenant = await load_tenant(session, principal, tenant_id)
    response.headers["ETag"] = etag(tenant.version)
    return await render(session, tenant)


@router.patch(
    "/{tenant_id}",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="Update name, billing e-mail or configuration (If-Match required)",
    responses={412: {"description": "stale ETag"}, 428: {"description": "If-Match missing"}},
    **merge_patch_route(TenantSettable),
)
async def update_tenant(
    tenant_id: uuid.UUID,
    body: MergePatch,
    response: Response,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> TenantOut:
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    # invalid input is refused (422) before the precondition is looked at (412)
    merged = service.merged_settable(tenant, body)
    if_match.require(tenant.version)
    await service.update_tenant(
        session,
        tenant=tenant,
        merged=merged,
        configuration_named="configuration" in body,
        by=principal.subject,
        now=clock.now(),
    )
    response.headers["ETag"] = etag(tenant.version)
    return await render(session, tenant)


@router.post(
    "/{tenant_id}/status",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="Change the tenant's status (If-Match optional)",
    responses={409: {"description": "transition not allowed"}},
)
async def change_status(
    tenant_id: uuid.UUID,
    body: TenantTransition,
    response: Response,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> TenantOut:
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    if_match.check(tenant.version)
    await service.change_status(
        session, tenant=tenant, target=body.status, now=clock.now(), reason=body.reason
    )
    response.headers["ETag"] = etag(tenant.version)
    return await render(session, tenant)


@router.post(
    "/{tenant_id}/churn",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="The customer left: churn the tenant for good (If-Match optional)",
    responses={409: {"description": "already churned"}},
)
async def churn_tenant(
    tenant_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    if_match: IfMatchHeader,
    body: Annotated[ChurnIn | None, Body()] = None,
) -> TenantOut:
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    if_match.check(tenant.version)
    reason = body.reason if body is not None else None
    await service.change_status(
        session, tenant=tenant, target=TenantStatus.churned, now=clock.now(), reason=reason
    )
    response.headers["ETag"] = etag(tenant.version)
    return await render(session, tenant)
