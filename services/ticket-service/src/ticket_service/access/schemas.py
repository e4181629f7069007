"""API shapes of access actions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from supportops_events.onboarding import AccessAction


class AccessActionIn(BaseModel):
    action: AccessAction
    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    user_email: str | None = Field(default=None, min_length=3, max_length=320)
    reason: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _names_a_user(self) -> AccessActionIn:
        if self.user_id is None and self.user_email is None:
            raise ValueError("name the user with user_id or user_email")
        return self


class AccessRequestOut(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    tenant_id: str
    action: AccessAction
    user_id: str
    user_email: str
    status: str
    reason: str | None
    requested_by: str
    created_at: datetime
    decided_at: datetime | None


class ConfirmationIn(BaseModel):
    """The one-time code the user read back (digits; spaces and dashes are ignored)."""

    code: str = Field(min_length=4, max_length=32, pattern=r"^[0-9][0-9 -]*[0-9]$")
