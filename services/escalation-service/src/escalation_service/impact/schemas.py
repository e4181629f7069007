"""Response model of a bug's customer impact."""

from __future__ import annotations

from pydantic import BaseModel


class Impact(BaseModel):
    affected_tenants: list[str]
    highest_customer_tier: str | None
    tiers: dict[str, str]
    """Known plan tier per affected tenant."""
    open_linked_tickets: int
    sla_breached_tickets: int
    sla_at_risk_tickets: int
