"""Request and response bodies of users, memberships and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from onboarding_service.domain import UserRole, UserStatus
from onboarding_service.models import User
from onboarding_service.text import Email, Name, Reason
from servicekit.fields import AwareIsoDateTime, StrictBool
from supportops_events.onboarding import AccessAction, LockReason


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str | None
    role: UserRole
    status: UserStatus
    invited_at: datetime | None
    invitation_expires_at: datetime | None
    activated_at: datetime | None
    last_sign_in_at: datetime | None
    session_epoch: int
    """Sessions issued under an older epoch are revoked."""
    mfa_enrolled: bool
    mfa_reset_at: datetime | None
    lock_reason: str | None
    failed_sign_in_count: int
    """Failed sign-ins in a row, as reported by the identity system."""
    last_failed_sign_in_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


class InvitationOut(BaseModel):
    user: UserOut
    invitation_token: str
    """Shown once: only its hash is stored."""
    expires_at: datetime


class InviteIn(Strict):
    email: Email
    name: Name | None = None
    role: UserRole = UserRole.member


class AcceptIn(Strict):
    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    name: Name | None = None


class UserSettable(Strict):
    """What a PATCH may change on a user (the document it merge-patches)."""

    name: Name | None = None
    role: UserRole


class DeactivateIn(Strict):
    reason: Reason | None = None


class LockIn(Strict):
    reason: LockReason = LockReason.failed_logins


class SignInOutcome(StrEnum):
    succeeded = "succeeded"
    failed = "failed"


class SignInIn(Strict):
    outcome: SignInOutcome = SignInOutcome.succeeded
    signed_in_at: AwareIsoDateTime | None = None
    """When the attempt happened (with a UTC offset); now when omitted."""
    mfa_enrolled: StrictBool | None = None
    """Whether the user has a second factor, as the identity system saw it (successes)."""


ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f]+$"
    ),
]
"""An id another system gave (a ticket, a request): printable, no spaces."""


class AccessActionIn(Strict):
    action: AccessAction
    reason: Reason | None = None
    ticket_id: ExternalId | None = None
    """The support ticket this action is for: the outcome is then also published as
    ``access.action_completed`` / ``access.action_rejected`` for that ticket."""
    request_id: ExternalId | None = None
    """With ``ticket_id``: the request's id (generated when omitted); each is performed
    at most once, like the command's ``request_id``."""

    @model_validator(mode="after")
    def _request_needs_ticket(self) -> AccessActionIn:
        if self.request_id is not None and self.ticket_id is None:
            raise ValueError("request_id applies only together with ticket_id")
        return self


class AccessActionOut(BaseModel):
    action: AccessAction
    user: UserOut
    invitation_token: str | None = None
    """A new activation token, for ``resend_activation``."""
    ticket_id: str | None = None
    request_id: str | None = None
    """The id the outcome events carry, when a ticket was named."""


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
