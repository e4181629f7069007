"""Request and response bodies of users, memberships and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from onboarding_service.domain import UserRole, UserStatus
from onboarding_service.models import User
from onboarding_service.text import Email, Name, Reason
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


class UserUpdate(Strict):
    name: Name | None = None
    role: UserRole | None = None


class DeactivateIn(Strict):
    reason: Reason | None = None


class LockIn(Strict):
    reason: LockReason = LockReason.failed_logins


class SignInIn(Strict):
    signed_in_at: datetime | None = None
    """When the sign-in happened; now when omitted."""
    mfa_enrolled: bool | None = None


class AccessActionIn(Strict):
    action: AccessAction
    reason: Reason | None = None


class AccessActionOut(BaseModel):
    action: AccessAction
    user: UserOut
    invitation_token: str | None = None
    """A new activation token, for ``resend_activation``."""
