"""Dependencies shared by the feature routers: the reader role set of this service, the
settings, and the tenant a path names (``load_tenant``). The other role aliases are
``servicekit.roles``; If-Match is ``servicekit.etag``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository
from onboarding_service.config import OnboardingSettings
from onboarding_service.models import Tenant
from servicekit.auth import Principal, Role
from servicekit.errors import NotFound
from servicekit.roles import roles

TenantReader = Annotated[
    Principal, Depends(roles(Role.onboarding, Role.agent, Role.billing, Role.service))
]
"""Who may read tenants, users and checklists: onboarding, agents, billing and services
(admin always; a tenant token is confined to its tenant)."""


async def get_settings(request: Request) -> OnboardingSettings:
    settings: OnboardingSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[OnboardingSettings, Depends(get_settings)]


async def load_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, *, lock: bool = False
) -> Tenant:
    """The tenant ``principal`` may see (404 otherwise, as for an unknown one); ``lock``
    takes its row FOR UPDATE, which serialises everything that counts seats, ticks
    checklist steps or changes its status.

    Called by the endpoint, not declared as an ``Annotated`` dependency: the endpoint keeps
    ``tenant_id: uuid.UUID`` as its own path parameter, which ``servicekit.authz`` checks
    (a malformed id stays a 422), and an idempotent replay answers before the row is locked.
    """
    principal.ensure_tenant(str(tenant_id), resource="tenant")
    if lock:
        tenant = await repository.lock(session, Tenant, tenant_id)
    else:
        tenant = await repository.get(session, Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant
