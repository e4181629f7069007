"""Tenants: the record of a new tenant, what a PATCH may change, status changes on request.

Creating a tenant with its checklist and first admin, and an update that ticks the checklist,
are ``provisioning`` (above ``checklist`` and ``users``, which build on this package)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Tenant
from onboarding_service.tenants import repository
from onboarding_service.tenants.lifecycle import (
    TenantStatus,
    event_tenant_status,
    transition_tenant,
)
from onboarding_service.tenants.schemas import TenantCreate, TenantOut, TenantSettable, tenant_out
from servicekit.errors import Conflict
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish
from servicekit.pagination import PageParams
from supportops_events import onboarding as ev


class DomainTaken(Conflict):
    code, title = "domain-taken", "Domain already taken"


async def create_tenant(
    session: AsyncSession, *, body: TenantCreate, created_by: str, now: datetime
) -> Tenant:
    """Store a new tenant (``onboarding``) and announce it (``tenant.created``); its domains
    must be free."""
    taken = await repository.taken_domains(session, body.domains)
    if taken:
        raise DomainTaken(
            f"domain {taken[0]} belongs to another tenant", domain=taken[0], domains=taken
        )
    tenant = Tenant(
        id=uuid.uuid4(),
        company_name=body.company_name,
        status=TenantStatus.onboarding.value,
        plan_code=body.plan_code,
        seats=body.seats,
        seat_limit=body.seats,
        billing_email=body.billing.billing_email,
        collection_method=body.billing.collection_method.value,
        days_until_due=body.billing.days_until_due,
        configuration=body.configuration.model_dump(mode="json"),
        admin_email=body.admin.email.lower(),
        admin_name=body.admin.name,
        created_by=created_by[:200],
        created_at=now,
        updated_at=now,
    )
    try:
        await repository.add_tenant(session, tenant, body.domains)
    except sa_exc.IntegrityError as exc:  # a concurrent create took a domain first
        raise DomainTaken(
            "one of the domains was taken by a concurrent request", domains=body.domains
        ) from exc
    await publish(
        session,
        ev.TenantCreated(
            tenant_id=str(tenant.id),
            company_name=tenant.company_name,
            status=event_tenant_status(TenantStatus.onboarding),
            timezone=body.configuration.timezone,
            domains=list(body.domains),
            plan_code=tenant.plan_code,
            seats=tenant.seats,
            billing_email=tenant.billing_email,
            collection_method=body.billing.collection_method,
            days_until_due=tenant.days_until_due,
            admin_email=tenant.admin_email,
            admin_name=tenant.admin_name,
            created_at=now,
        ),
    )
    return tenant


async def tenant_view(session: AsyncSession, tenant: Tenant) -> TenantOut:
    """The tenant as the API shows it (with its domains)."""
    domains = await repository.domains_of(session, [tenant.id])
    return tenant_out(tenant, domains[tenant.id])


async def list_tenants(
    session: AsyncSession,
    *,
    status: str | None,
    plan_code: str | None,
    q: str | None,
    tenant_id: str | None,
    page: PageParams,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[TenantOut], str | None, int]:
    """One page of tenants as the API shows them (newest first unless ``asc``);
    ``tenant_id`` confines it to one."""
    rows, cursor, total = await repository.list_tenants(
        session,
        status=status,
        plan_code=plan_code,
        q=q,
        tenant_id=tenant_id,
        page=page,
        direction=direction,
    )
    domains = await repository.domains_of(session, [t.id for t in rows])
    return [tenant_out(t, domains[t.id]) for t in rows], cursor, total


def settable_of(tenant: Tenant) -> dict[str, Any]:
    """The tenant's current settable document (what a PATCH merge-patches)."""
    return {
        "company_name": tenant.company_name,
        "billing_email": tenant.billing_email,
        "configuration": dict(tenant.configuration),
    }


def merged_settable(tenant: Tenant, patch: dict[str, Any]) -> TenantSettable:
    """The tenant with an RFC 7396 merge patch applied, validated (422 naming the field):
    configuration keys the patch does not name are kept."""
    return apply_merge_patch(TenantSettable, document=settable_of(tenant), patch=patch)


def apply_settable(tenant: Tenant, merged: TenantSettable) -> None:
    """Take over a merged settable document (the caller holds the row and flushes)."""
    tenant.company_name = merged.company_name
    tenant.billing_email = merged.billing_email
    tenant.configuration = merged.configuration.model_dump(mode="json")


async def change_status(
    session: AsyncSession,
    *,
    tenant: Tenant,
    target: TenantStatus,
    now: datetime,
    reason: str | None = None,
) -> None:
    """A specialist's status change: suspensions and reactivations are ``manual``; the
    free-text reason is kept as the churn reason."""
    await transition_tenant(session, tenant=tenant, target=target, now=now, churn_reason=reason)
    await session.flush()
