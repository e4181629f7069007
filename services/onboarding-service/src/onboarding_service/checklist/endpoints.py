"""``/v1/tenants/{id}/onboarding`` (checklist, net terms, welcome) and stuck onboardings."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist import service
from onboarding_service.checklist.schemas import (
    ChecklistOut,
    CompletionReport,
    StepOut,
    StuckOnboarding,
    StuckOverdueStep,
    WelcomeIn,
    WelcomeOut,
)
from onboarding_service.checklist.steps import Step
from onboarding_service.deps import TenantReader, load_tenant
from onboarding_service.models import OnboardingStep, Tenant
from onboarding_service.tenants.lifecycle import TenantStatus
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep
from servicekit.roles import Operator

router = APIRouter(prefix="/v1", tags=["onboarding"])


def _step_out(step: OnboardingStep, now: datetime) -> StepOut:
    done = step.completed_at is not None
    return StepOut(
        step=Step(step.step),
        done=done,
        started_at=step.started_at,
        due_at=step.due_at,
        overdue=not done and step.due_at < now,
        completed_at=step.completed_at,
        completed_by=step.completed_by,
        source=step.source,
        duration_seconds=(step.completed_at - step.started_at).total_seconds()
        if step.completed_at
        else None,
    )


async def checklist_of(session: AsyncSession, tenant: Tenant, now: datetime) -> ChecklistOut:
    steps = [_step_out(s, now) for s in await service.steps_of(session, tenant.id)]
    complete = bool(steps) and all(s.done for s in steps)
    report = None
    if complete and tenant.onboarded_at is not None:
        started = min(s.started_at for s in steps)
        report = CompletionReport(
            started_at=started,
            completed_at=tenant.onboarded_at,
            total_duration_seconds=(tenant.onboarded_at - started).total_seconds(),
            steps=steps,
        )
    return ChecklistOut(
        tenant_id=tenant.id,
        tenant_status=TenantStatus(tenant.status),
        complete=complete,
        steps=steps,
        report=report,
    )


@router.get(
    "/tenants/{tenant_id}/onboarding",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="The onboarding checklist and report",
)
async def get_checklist(
    tenant_id: uuid.UUID, session: SessionDep, principal: TenantReader, clock: ClockDep
) -> ChecklistOut:
    tenant = await load_tenant(session, principal, tenant_id)
    return await checklist_of(session, tenant, clock.now())


@router.post(
    "/tenants/{tenant_id}/onboarding/net-terms",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="Record that a send_invoice customer accepted net terms (payment confirmed)",
    responses={409: {"description": "not a net-terms customer"}},
)
async def accept_net_terms(
    tenant_id: uuid.UUID, session: SessionDep, principal: Operator, clock: ClockDep
) -> ChecklistOut:
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    now = clock.now()
    await service.accept_net_terms(session, tenant=tenant, by=principal.subject, now=now)
    return await checklist_of(session, tenant, now)


@router.post(
    "/tenants/{tenant_id}/onboarding/welcome",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    status_code=201,
    summary="Send the welcome message from an approved template",
)
async def send_welcome(
    tenant_id: uuid.UUID,
    body: WelcomeIn,
    session: SessionDep,
    principal: Operator,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> WelcomeOut:
    await idem.start(session, body)
    tenant = await load_tenant(session, principal, tenant_id, lock=True)
    message = await service.send_welcome(
        session, tenant=tenant, template=body.template, by=principal.subject, now=clock.now()
    )
    out = WelcomeOut.model_validate(message, from_attributes=True)
    return await idem.complete(session, out, status_code=201)


@router.get("/onboarding/stuck", summary="Onboardings with an overdue step")
async def stuck(
    session: SessionDep, principal: TenantReader, page: PageDep, clock: ClockDep
) -> Page[StuckOnboarding]:
    now = clock.now()
    rows, cursor = await service.stuck_page(
        session,
        now=now,
        tenant_id=_uuid_or_none(principal.tenant_id),
        only_tenant=principal.tenant_id is not None,
        page=page,
    )
    items = []
    for tenant in rows:
        steps = await service.steps_of(session, tenant.id)
        items.append(
            StuckOnboarding(
                tenant_id=tenant.id,
                company_name=tenant.company_name,
                started_at=tenant.created_at,
                overdue_steps=[
                    StuckOverdueStep(step=Step(s.step), due_at=s.due_at)
                    for s in steps
                    if s.completed_at is None and s.due_at < now
                ],
            )
        )
    return Page[StuckOnboarding](items=items, next_cursor=cursor)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
