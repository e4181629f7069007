"""Request and response bodies of ``/v1/subscriptions``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator

from servicekit.fields import StrictBool
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
    at_period_end: StrictBool = True
    reason: str | None = Field(default=None, min_length=1, max_length=500)


SyncState = Literal["pending", "synced", "needs_attention"]
SYNC_STATES: TypeAdapter[SyncState] = TypeAdapter(SyncState)
"""Reads a stored ``sync_state`` as the literal it is (a bad value fails loudly)."""


class PendingChange(BaseModel):
    """A downgrade scheduled on Stripe for the end of the current period."""

    plan_code: str
    seats: int
    effective_at: datetime
    recurring_amount: int
    stripe_schedule_id: str | None


class SubscriptionOut(BaseModel):
    id: str
    tenant_id: str
    plan_code: str
    """The plan in effect; while ``needs_attention`` the plan the tenant asked for."""
    seats: int
    status: SubscriptionStatus
    collection_method: CollectionMethod
    days_until_due: int | None
    currency: str | None
    """None only while the requested plan is unknown."""
    recurring_amount: int | None
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    sync_state: SyncState
    attention_reason: str | None = Field(
        default=None,
        description="Why a person must act (`plan_unknown`, `plan_archived`, "
        "`stripe_rejected`) while `sync_state` is `needs_attention`",
    )
    attention_detail: str | None = None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    cancel_reason: str | None
    pending_change: PendingChange | None = None
    version: int
    change_effective: Literal["now", "period_end"] | None = Field(
        default=None,
        description="On a change: `now` (upgrade, prorated) or `period_end` (downgrade, "
        "scheduled: see `pending_change`); none when nothing changed or a scheduled "
        "downgrade was withdrawn",
    )
