"""``/v1/tenants``: read, list, and status changes. Creating a tenant (with its checklist and
first admin) and updating one are in ``provisioning/endpoints.py``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from onboarding_service.deps import TenantReader, load_tenant
from onboarding_service.fields import SearchText
from onboarding_service.tenants import service
from onboarding_service.tenants.lifecycle import TenantStatus
from onboarding_service.tenants.schemas import (
    ChurnIn,
    PlanCode,
    TenantOut,
    TenantTransition,
)
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import IfMatchHeader, etag
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.roles import Operator

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.get("", summary="List tenants (newest first; `sort`)")
async def list_tenants(
    session: SessionDep,
    principal: TenantReader,
    page: PageDep,
    sort: SortDep,
    status: TenantStatus | None = None,
    plan_code: Annotated[PlanCode | None, Query()] = None,
    q: Annotated[SearchText | None, Query(description="company name or domain")] = None,
) -> Page[TenantOut]:
    items, cursor, total = await service.list_tenants(
        session,
        status=status.value if status else None,
        plan_code=plan_code,
        q=q,
        tenant_id=principal.tenant_id,
        page=page,
        direction=sort.direction,
    )
    return Page[TenantOut](items=items, next_cursor=cursor, total=total)


@router.get(
    "/{tenant_id}",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="Read a tenant (ETag)",
)
async def get_tenant(
    tenant_id: uuid.UUID, response: Response, session: SessionDep, principal: TenantReader
) -> TenantOut:
    tenant = await load_tenant(session, principal, tenant_id)
    response.headers["ETag"] = etag(tenant.version)
    return await service.tenant_view(session, tenant)


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
    return await service.tenant_view(session, tenant)


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
    return await service.tenant_view(session, tenant)
