"""Request and response bodies of ``/v1/tenants``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from onboarding_service.fields import Email, Name, Reason, Strict
from onboarding_service.models import Tenant
from onboarding_service.tenants.configuration import TenantConfiguration
from onboarding_service.tenants.lifecycle import TenantStatus
from supportops_events.billing import CollectionMethod

Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]
PlanCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


DEFAULT_NET_TERMS_DAYS = 30


class BillingDetails(Strict):
    collection_method: CollectionMethod
    billing_email: Email
    days_until_due: int | None = Field(default=None, ge=1, le=365)
    """Net terms in days for ``send_invoice`` (30 when omitted); refused for card collection."""

    @model_validator(mode="after")
    def _terms_match_method(self) -> BillingDetails:
        if self.collection_method is CollectionMethod.send_invoice and self.days_until_due is None:
            self.days_until_due = DEFAULT_NET_TERMS_DAYS
        if (
            self.collection_method is CollectionMethod.charge_automatically
            and self.days_until_due is not None
        ):
            raise ValueError("days_until_due applies only to send_invoice")
        return self


class FirstAdmin(Strict):
    email: Email
    name: Name | None = None


class TenantCreate(Strict):
    company_name: Name
    domains: list[Domain] = Field(min_length=1, max_length=20)
    plan_code: PlanCode
    seats: int = Field(ge=1, le=100_000)
    billing: BillingDetails
    configuration: TenantConfiguration = Field(default_factory=TenantConfiguration)
    admin: FirstAdmin

    @field_validator("domains")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("domains must be distinct")
        return value


class TenantSettable(Strict):
    """What a specialist may change after creation: the document a PATCH merge-patches."""

    company_name: Name
    billing_email: Email
    configuration: TenantConfiguration = Field(default_factory=TenantConfiguration)
    """``null`` puts every key back to its default; an object merges key by key."""


class TenantTransition(Strict):
    status: TenantStatus
    reason: Reason | None = None
    """Kept as the churn reason when ``status`` is ``churned``."""


class ChurnIn(Strict):
    reason: Reason | None = None
    """Why the customer left (``manual`` when omitted); carried by ``tenant.churned``."""


class BillingOut(BaseModel):
    collection_method: CollectionMethod
    billing_email: str
    days_until_due: int | None


class AdminOut(BaseModel):
    email: str
    name: str | None


class TenantOut(BaseModel):
    id: uuid.UUID
    company_name: str
    status: TenantStatus
    domains: list[str]
    plan_code: str
    seats: int
    seat_limit: int
    billing: BillingOut
    configuration: dict[str, Any]
    """The configuration as applied (see ``TenantConfiguration`` for the keys)."""
    admin: AdminOut
    subscription_id: str | None
    restricted: bool
    suspension_reason: str | None
    scheduled_suspension_at: datetime | None
    """When a canceled subscription ends and the tenant is suspended."""
    suspended_at: datetime | None
    scheduled_churn_at: datetime | None
    """When a tenant suspended because its subscription ended churns automatically."""
    churned_at: datetime | None
    churn_reason: str | None
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    onboarded_at: datetime | None
    version: int


def tenant_out(tenant: Tenant, domains: list[str]) -> TenantOut:
    return TenantOut(
        id=tenant.id,
        company_name=tenant.company_name,
        status=TenantStatus(tenant.status),
        domains=domains,
        plan_code=tenant.plan_code,
        seats=tenant.seats,
        seat_limit=tenant.seat_limit,
        billing=BillingOut(
            collection_method=CollectionMethod(tenant.collection_method),
            billing_email=tenant.billing_email,
            days_until_due=tenant.days_until_due,
        ),
        configuration=dict(tenant.configuration),
        admin=AdminOut(email=tenant.admin_email, name=tenant.admin_name),
        subscription_id=tenant.subscription_id,
        restricted=tenant.restricted,
        suspension_reason=tenant.suspension_reason,
        scheduled_suspension_at=tenant.scheduled_suspension_at,
        suspended_at=tenant.suspended_at,
        scheduled_churn_at=tenant.scheduled_churn_at,
        churned_at=tenant.churned_at,
        churn_reason=tenant.churn_reason,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        activated_at=tenant.activated_at,
        onboarded_at=tenant.onboarded_at,
        version=tenant.version,
    )
