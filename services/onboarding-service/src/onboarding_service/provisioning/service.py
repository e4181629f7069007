"""Provisioning a tenant: creating it with its onboarding checklist and its first admin, and
changing its settings (naming the configuration ticks the checklist). These span three
features (``tenants``, ``checklist``, ``users``), so they live above all three."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import start_checklist, tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.models import Tenant, User
from onboarding_service.tenants import service as tenants
from onboarding_service.tenants.lifecycle import event_tenant_status, tenant_timezone
from onboarding_service.tenants.schemas import TenantCreate, TenantSettable
from onboarding_service.users.invitations import invite_user
from onboarding_service.users.status import UserRole
from servicekit.outbox import publish
from supportops_events import onboarding as ev


async def create_tenant(
    session: AsyncSession,
    *,
    body: TenantCreate,
    created_by: str,
    now: datetime,
    invitation_ttl: timedelta,
) -> tuple[Tenant, User, str]:
    """The tenant, its checklist (company created; configuration applied if the body named
    one) and its first admin, invited: ``(tenant, admin, invitation token)``."""
    tenant = await tenants.create_tenant(session, body=body, created_by=created_by, now=now)
    await start_checklist(session, tenant=tenant, now=now)
    await tick_step(
        session, tenant=tenant, step=Step.company_created, now=now, by=created_by, source="create"
    )
    if "configuration" in body.model_fields_set:
        await tick_step(
            session,
            tenant=tenant,
            step=Step.configuration_applied,
            now=now,
            by=created_by,
            source="create",
        )
    admin, token = await invite_user(
        session,
        tenant=tenant,
        email=body.admin.email,
        name=body.admin.name,
        role=UserRole.admin,
        invited_by=created_by,
        now=now,
        ttl=invitation_ttl,
    )
    return tenant, admin, token


async def update_tenant(
    session: AsyncSession,
    *,
    tenant: Tenant,
    merged: TenantSettable,
    configuration_named: bool,
    by: str,
    now: datetime,
) -> None:
    """Store a merged tenant; naming the configuration ticks the checklist step. A change
    of what other services keep (company name, time zone) is announced (``tenant.updated``)."""
    before = {"company_name": tenant.company_name, "timezone": tenant_timezone(tenant)}
    tenants.apply_settable(tenant, merged)
    after = {"company_name": tenant.company_name, "timezone": tenant_timezone(tenant)}
    changed = [name for name in before if before[name] != after[name]]
    if changed:
        await publish(
            session,
            ev.TenantUpdated(
                tenant_id=str(tenant.id),
                company_name=tenant.company_name,
                status=event_tenant_status(tenant.status),
                timezone=after["timezone"],
                changed=changed,
                updated_at=now,
            ),
        )
    if configuration_named:
        await tick_step(
            session,
            tenant=tenant,
            step=Step.configuration_applied,
            now=now,
            by=by,
            source="configuration",
        )
    tenant.updated_at = now
    await session.flush()
