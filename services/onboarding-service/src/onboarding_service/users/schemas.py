"""Request and response bodies of users, memberships and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    StringConstraints,
)

from onboarding_service.fields import Email, Name, Reason, Strict
from onboarding_service.models import User
from onboarding_service.users.status import UserRole, UserStatus
from servicekit.fields import AwareIsoDateTime, StrictBool
from supportops_events.onboarding import LockReason


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


def invitation_out(user: User, token: str) -> InvitationOut:
    """A user just invited (or invited again) with the token handed out once."""
    # every new token comes with its expiry (users.invitations.new_invitation)
    assert user.invitation_expires_at is not None
    return InvitationOut(
        user=user_out(user), invitation_token=token, expires_at=user.invitation_expires_at
    )


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
