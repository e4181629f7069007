"""Tenants: creation with the first admin, updates, and status changes on request."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import start_checklist, tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.domain import TenantStatus, UserRole, event_tenant_status
from onboarding_service.models import Tenant, TenantDomain, User
from onboarding_service.tenants import repository
from onboarding_service.tenants.lifecycle import transition_tenant
from onboarding_service.tenants.schemas import TenantCreate, TenantSettable
from onboarding_service.users.service import invite_user
from servicekit.errors import Conflict
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish
from supportops_events import onboarding as ev
from supportops_events.billing import CollectionMethod


class DomainTaken(Conflict):
    code, title = "domain-taken", "Domain already taken"


async def create_tenant(
    session: AsyncSession,
    *,
    body: TenantCreate,
    created_by: str,
    now: datetime,
    invitation_ttl: timedelta,
) -> tuple[Tenant, User, str]:
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
    session.add(tenant)
    for position, domain in enumerate(body.domains):
        session.add(TenantDomain(domain=domain, tenant_id=tenant.id, position=position))
    try:
        await session.flush()
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


async def update_tenant(
    session: AsyncSession,
    *,
    tenant: Tenant,
    merged: TenantSettable,
    configuration_named: bool,
    by: str,
    now: datetime,
) -> None:
    """Store a merged tenant; naming the configuration ticks the checklist step."""
    tenant.company_name = merged.company_name
    tenant.billing_email = merged.billing_email
    tenant.configuration = merged.configuration.model_dump(mode="json")
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


async def accept_net_terms(
    session: AsyncSession, *, tenant: Tenant, by: str, now: datetime
) -> None:
    """Net-terms customers confirm payment by accepting the terms, not by paying first."""
    if tenant.collection_method != CollectionMethod.send_invoice:
        raise Conflict(
            "net terms apply only to send_invoice customers; card customers confirm by paying",
            code="not-net-terms",
        )
    if tenant.net_terms_accepted_at is None:
        tenant.net_terms_accepted_at = now
        tenant.updated_at = now
    await tick_step(
        session, tenant=tenant, step=Step.payment_confirmed, now=now, by=by, source="net_terms"
    )
    await session.flush()
