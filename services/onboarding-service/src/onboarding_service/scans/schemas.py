"""Request and response bodies of ``/v1/scans``."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from onboarding_service.fields import Strict


class ScheduledSuspensionsOut(BaseModel):
    scanned_at: datetime
    suspended: int
    """Tenants whose canceled subscription ended: suspended now (or churned, if they
    never went live)."""
    churned: int
    """Tenants whose grace period after that ended: churned now."""


class InactiveScanIn(Strict):
    tenant_id: uuid.UUID | None = None
    """Only this tenant's users (a tenant-scoped token is always confined to its own)."""
    after_days: int | None = Field(default=None, ge=1, le=3650)
    """Days without a sign-in for tenants without their own ``inactive_after_days``
    (``ONBOARDING_INACTIVE_AFTER_DAYS`` when omitted)."""


class MarkedInactiveOut(BaseModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    last_sign_in_at: datetime | None
    inactive_days: int


class InactiveScanOut(BaseModel):
    scanned_at: datetime
    after_days: int
    marked: list[MarkedInactiveOut]
