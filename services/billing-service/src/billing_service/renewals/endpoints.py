"""``/v1/renewals``: the trackers, and the scan an admin can trigger by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from billing_service.config import BillingSettings
from billing_service.deps import BillingReader, DatabaseDep
from billing_service.renewals import repository, scan
from billing_service.renewals.lifecycle import RenewalState
from billing_service.stripe_gateway import StripeDep
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly

router = APIRouter(prefix="/v1/renewals", tags=["renewals"])


class RenewalOut(BaseModel):
    id: str
    tenant_id: str
    subscription_id: str
    period_start: datetime
    period_end: datetime
    state: RenewalState
    reason: str | None
    invoice_id: str | None
    stripe_invoice_id: str | None
    followup_reason: str | None
    """The risk a person was asked to follow up on, while that follow-up is open."""


class ScanOut(BaseModel):
    upcoming: int
    invoiced: int
    at_risk: int
    overdue: int
    payment_methods_checked: int
    errors: list[str]


@router.get("", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_renewals(
    session: SessionDep,
    principal: BillingReader,
    page: PageDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    state: RenewalState | None = None,
) -> Page[RenewalOut]:
    rows, cursor = await repository.page(
        session,
        tenant_id=principal.tenant_filter(tenant_id),
        state=state.value if state is not None else None,
        params=page,
    )
    return Page[RenewalOut](
        items=[RenewalOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


@router.post("/scan")
async def run_scan(
    request: Request, principal: AdminOnly, db: DatabaseDep, stripe: StripeDep, clock: ClockDep
) -> ScanOut:
    """The same scan as the ``renewal-scan`` command (idempotent; safe to run any time)."""
    settings: BillingSettings = request.app.state.settings
    report = await scan.scan(
        db=db,
        stripe=stripe,
        clock=clock,
        window_days=settings.renewal_window_days,
        grace_hours=settings.renewal_grace_hours,
        claim_timeout=timedelta(seconds=settings.renewal_claim_timeout_seconds),
    )
    return ScanOut(**report.__dict__)
