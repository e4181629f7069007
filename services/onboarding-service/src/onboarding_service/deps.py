"""Dependencies shared by the feature routers: who may call, the settings, the tenant a path
names (``load_tenant``), and the If-Match contract."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository
from onboarding_service.config import OnboardingSettings
from onboarding_service.models import Tenant
from servicekit.auth import Principal, Role, require_roles
from servicekit.errors import NotFound, PreconditionFailed, PreconditionRequired

Operator = Annotated[Principal, Depends(require_roles(Role.onboarding))]
"""Onboarding specialists (admin always passes)."""
Reader = Annotated[
    Principal, Depends(require_roles(Role.onboarding, Role.agent, Role.billing, Role.service))
]
IdentitySystem = Annotated[Principal, Depends(require_roles(Role.service))]
"""The identity system reporting sign-ins and lockouts."""
OperatorOrService = Annotated[Principal, Depends(require_roles(Role.onboarding, Role.service))]


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


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=64,
        description="The ETag of the resource as last read; required on updates",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, *, version: int, required: bool) -> None:
    """428 when required and missing, 412 when it names another version."""
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "send If-Match with the ETag you last read", code="if-match-required"
            )
        return
    candidates = [c.strip() for c in if_match.split(",")]
    if "*" in candidates:
        return
    for candidate in candidates:
        # lenient about quoting: a bare version number names the same ETag
        if candidate.removeprefix("W/").strip('"') == str(version):
            return
    raise PreconditionFailed(
        "the resource changed since you read it", code="etag-mismatch", current_etag=etag(version)
    )
