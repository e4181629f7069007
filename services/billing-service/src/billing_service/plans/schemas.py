"""Request and response bodies of ``/v1/plans``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from supportops_events.billing import PlanTier

Interval = Literal["month", "year"]


class PlanIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)
    tier: PlanTier
    unit_amount: int = Field(ge=0, le=10**10, description="Price per seat per interval")
    currency: str = Field(pattern=r"^[a-z]{3}$")
    interval: Interval = "month"
    stripe_product_id: str | None = Field(default=None, min_length=1, max_length=255)
    stripe_price_id: str | None = Field(default=None, min_length=1, max_length=255)


class PlanOut(BaseModel):
    id: str
    code: str
    name: str
    tier: PlanTier
    unit_amount: int
    currency: str
    interval: Interval
    stripe_product_id: str | None
    stripe_price_id: str | None
    archived: bool
    archived_at: datetime | None
    stripe_price_active: bool
    """False once Stripe's price is deactivated (archived plans)."""
    version: int
