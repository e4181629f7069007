"""Request and response bodies of ``/v1/subscriptions``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from supportops_events.billing import CollectionMethod, SubscriptionStatus


class SubscriptionIn(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64)
    plan_code: str = Field(min_length=1, max_length=64)
    seats: int = Field(ge=1, le=100_000)
    collection_method: CollectionMethod = CollectionMethod.charge_automatically
    days_until_due: int | None = Field(default=None, ge=0, le=365)
    trial_days: int | None = Field(default=None, ge=1, le=730)
    billing_email: str | None = Field(default=None, min_length=3, max_length=320)
    company_name: str | None = Field(default=None, min_length=1, max_length=200)


class SubscriptionChange(BaseModel):
    plan_code: str | None = Field(default=None, min_length=1, max_length=64)
    seats: int | None = Field(default=None, ge=1, le=100_000)

    @model_validator(mode="after")
    def _something(self) -> SubscriptionChange:
        if self.plan_code is None and self.seats is None:
            raise ValueError("give plan_code, seats or both")
        return self


class SubscriptionCancel(BaseModel):
    at_period_end: bool = True
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class SubscriptionOut(BaseModel):
    id: str
    tenant_id: str
    plan_code: str
    seats: int
    status: SubscriptionStatus
    collection_method: CollectionMethod
    days_until_due: int | None
    currency: str
    recurring_amount: int
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    sync_state: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    cancel_reason: str | None
    version: int
    change_effective: str | None = Field(
        default=None, description="`now` (upgrade, prorated) or `period_end` (downgrade)"
    )
