"""Every query on tenants and their domains."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository as base
from onboarding_service.models import Tenant, TenantDomain
from servicekit.pagination import PageParams, count_rows, paginate


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant row FOR UPDATE: serialises everything that counts seats or ticks steps."""
    return await base.lock(session, Tenant, tenant_id)


async def add_tenant(session: AsyncSession, tenant: Tenant, domains: Sequence[str]) -> None:
    """Insert a tenant with its domains (in order); a domain another tenant took meanwhile
    raises ``IntegrityError`` here."""
    await base.add(
        session,
        tenant,
        *(
            TenantDomain(domain=domain, tenant_id=tenant.id, position=position)
            for position, domain in enumerate(domains)
        ),
    )


def owner_query(tenant_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The owning tenant of a tenant id (itself, if it exists): for ``servicekit.authz``."""
    return select(Tenant.id).where(Tenant.id == tenant_id)


async def taken_domains(session: AsyncSession, domains: Sequence[str]) -> list[str]:
    rows = await session.scalars(
        select(TenantDomain.domain).where(TenantDomain.domain.in_([d.lower() for d in domains]))
    )
    return sorted(rows.all())


async def domains_of(
    session: AsyncSession, tenant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    rows = await session.execute(
        select(TenantDomain.tenant_id, TenantDomain.domain)
        .where(TenantDomain.tenant_id.in_(tenant_ids))
        .order_by(TenantDomain.tenant_id, TenantDomain.position)
    )
    found: dict[uuid.UUID, list[str]] = {t: [] for t in tenant_ids}
    for tenant_id, domain in rows.all():
        found[tenant_id].append(domain)
    return found


async def list_tenants(
    session: AsyncSession,
    *,
    status: str | None,
    plan_code: str | None,
    q: str | None,
    tenant_id: str | None,
    page: PageParams,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[Tenant], str | None, int]:
    """One page of tenants, newest first unless ``asc``, and how many match (tenants are
    few: thousands, so the count is cheap)."""
    stmt = list_query(status=status, plan_code=plan_code, q=q, tenant_id=tenant_id)
    rows, cursor = await paginate(
        session, stmt, keys=[Tenant.created_at, Tenant.id], params=page, direction=direction
    )
    return list(rows), cursor, await count_rows(session, stmt)


def list_query(
    *, status: str | None, plan_code: str | None, q: str | None, tenant_id: str | None
) -> Select[tuple[Tenant]]:
    stmt = select(Tenant)
    if tenant_id is not None:
        try:
            stmt = stmt.where(Tenant.id == uuid.UUID(tenant_id))
        except ValueError:
            stmt = stmt.where(false())  # a tenant claim that is no UUID: none of ours
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    if plan_code is not None:
        stmt = stmt.where(Tenant.plan_code == plan_code)
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        by_domain = select(TenantDomain.tenant_id).where(TenantDomain.domain.like(pattern))
        stmt = stmt.where(
            or_(func.lower(Tenant.company_name).like(pattern), Tenant.id.in_(by_domain))
        )
    return stmt
