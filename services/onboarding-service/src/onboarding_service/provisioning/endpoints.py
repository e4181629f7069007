"""``POST /v1/tenants`` (a tenant with its checklist and first admin) and
``PATCH /v1/tenants/{id}``; the other ``/v1/tenants`` operations are in
``tenants/endpoints.py``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response

from onboarding_service.deps import SettingsDep, load_tenant
from onboarding_service.provisioning import service
from onboarding_service.provisioning.schemas import TenantCreated
from onboarding_service.tenants import service as tenants
from onboarding_service.tenants.schemas import TenantCreate, TenantOut, TenantSettable, tenant_out
from onboarding_service.users.schemas import invitation_out
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import Forbidden
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.roles import Operator

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post(
    "",
    status_code=201,
    summary="Create a tenant with its first admin (invited)",
    responses={409: {"description": "a domain is taken"}},
)
async def create_tenant(
    body: TenantCreate,
    response: Response,
    session: SessionDep,
    principal: Operator,
    idem: IdempotencyDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TenantCreated:
    await idem.start(session, body)
    if principal.tenant_id is not None:
        raise Forbidden("a tenant-scoped token cannot create tenants", code="tenant-scoped")
    tenant, admin, token = await service.create_tenant(
        session,
        body=body,
        created_by=principal.subject,
        now=clock.now(),
        invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
    )
    out = TenantCreated(
        tenant=tenant_out(tenant, list(body.domains)),
        admin_invitation=invitation_out(admin, token),
    )
    headers = {"ETag": etag(tenant.version), "Location": f"/v1/tenants/{tenant.id}"}
    response.headers.update(headers)
    return await idem.complete(session, out, status_code=201, headers=headers)


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
    merged = tenants.merged_settable(tenant, body)
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
    return await tenants.tenant_view(session, tenant)
