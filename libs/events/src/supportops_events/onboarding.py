"""Events of onboarding-service: tenant lifecycle, user access and access-action outcomes."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from supportops_events.base import Event
from supportops_events.billing import CollectionMethod
from supportops_events.topics import ONBOARDING_EVENTS

# --- value sets -----------------------------------------------------------------------


class TenantStatus(StrEnum):
    """Whether a tenant's users can use the product."""

    pending = "pending"
    """Created; not usable yet (e.g. waiting for the first payment or the admin)."""
    active = "active"
    suspended = "suspended"
    """Access blocked, e.g. long overdue or subscription ended."""
    churned = "churned"
    """The customer left for good; terminal."""


class SuspensionReason(StrEnum):
    """Why a tenant was suspended."""

    payment_overdue = "payment_overdue"
    subscription_canceled = "subscription_canceled"
    manual = "manual"


class ReactivationReason(StrEnum):
    """Why a suspended tenant was reactivated."""

    payment_received = "payment_received"
    subscription_renewed = "subscription_renewed"
    manual = "manual"


class UserStatus(StrEnum):
    """The access state of one user of a tenant."""

    invited = "invited"
    """Invited; the activation link was not used yet."""
    active = "active"
    inactive = "inactive"
    """No sign-in for longer than the tenant's inactivity policy; signing in again
    (or a reactivation) makes the user active."""
    locked = "locked"
    """Temporarily locked, e.g. after too many failed logins."""
    deactivated = "deactivated"


class UserRole(StrEnum):
    """The role of a user inside the customer's tenant."""

    admin = "admin"
    member = "member"


class LockReason(StrEnum):
    """Why a user was locked."""

    failed_logins = "failed_logins"
    security = "security"
    manual = "manual"


class AccessAction(StrEnum):
    """An access action support may ask onboarding-service to perform on a user."""

    mfa_reset = "mfa_reset"
    reactivate = "reactivate"
    unlock = "unlock"
    resend_activation = "resend_activation"


class AccessRejectionReason(StrEnum):
    """Why onboarding-service refused a requested access action."""

    user_not_found = "user_not_found"
    tenant_mismatch = "tenant_mismatch"
    """The user does not belong to the tenant named in the request."""
    tenant_not_active = "tenant_not_active"
    invalid_user_state = "invalid_user_state"
    """The action does not apply, e.g. unlocking a user who is not locked."""
    not_permitted = "not_permitted"
    confirmation_expired = "confirmation_expired"
    """The one-time code of an MFA reset was not confirmed in time."""
    confirmation_failed = "confirmation_failed"
    """Every allowed attempt at the one-time code of an MFA reset was wrong."""


class ConfirmationChannel(StrEnum):
    """Where a one-time confirmation code is sent: the target user's registered address."""

    email = "email"


class ConfirmationDelivery(StrEnum):
    """How the code reaches the user. ``email``: mailed to the registered address, queued
    with the request (its delivery status is on the user's mail, not in this event).
    ``recorded`` (stored, not sent: before outbound mail existed) and ``sent`` stay for
    consumers reading older events."""

    recorded = "recorded"
    sent = "sent"
    email = "email"


# --- bases ----------------------------------------------------------------------------


class OnboardingEvent(Event):
    """Base of every onboarding-service event (not published itself)."""

    topic: ClassVar[str] = ONBOARDING_EVENTS
    producer: ClassVar[str] = "onboarding-service"


class TenantEvent(OnboardingEvent):
    """What every ``tenant.*`` event carries.

    Version 2 added the tenant's ``timezone`` (optional)."""

    subject_field: ClassVar[str | None] = "tenant_id"
    version: ClassVar[int] = 2

    company_name: str
    status: TenantStatus
    timezone: str | None = None
    """The tenant's IANA time zone, e.g. ``Europe/Berlin`` (its configuration's
    ``timezone``); absent from events published before it was carried."""


class UserEvent(OnboardingEvent):
    """The state of a user, carried by every ``user.*`` event."""

    subject_field: ClassVar[str | None] = "user_id"

    user_id: str
    email: str
    name: str | None = None
    status: UserStatus
    role: UserRole
    request_id: str | None = None
    """The access request that caused the change, if support asked for it."""
    ticket_id: str | None = None
    """The ticket of that access request."""


class AccessActionOutcome(OnboardingEvent):
    """What both outcomes of an ``access.action_requested`` command carry."""

    subject_field: ClassVar[str | None] = "request_id"

    request_id: str
    """The ``request_id`` of the command."""
    ticket_id: str
    action: AccessAction
    user_id: str
    user_email: str | None = None


class AccessConfirmationEvent(OnboardingEvent):
    """What the out-of-band confirmation steps of an access request carry."""

    subject_field: ClassVar[str | None] = "request_id"

    request_id: str
    """The ``request_id`` of the ``access.action_requested`` command."""
    ticket_id: str
    action: AccessAction
    user_id: str


# --- tenants --------------------------------------------------------------------------


class TenantCreated(TenantEvent):
    """A new customer tenant exists; billing creates its Stripe customer and subscription."""

    event_type: ClassVar[str] = "tenant.created"

    domains: list[str] = Field(default_factory=list)
    """E-mail and login domains of the company, e.g. ``acme.com``."""
    plan_code: str
    seats: int = Field(ge=1)
    billing_email: str
    collection_method: CollectionMethod
    days_until_due: int | None = Field(default=None, ge=0)
    """Net terms in days for ``send_invoice`` customers."""
    admin_email: str
    admin_name: str | None = None
    created_at: AwareDatetime


class TenantActivated(TenantEvent):
    """The tenant became usable (status ``active``)."""

    event_type: ClassVar[str] = "tenant.activated"

    activated_at: AwareDatetime


class TenantOnboarded(TenantEvent):
    """Every onboarding checklist step is done."""

    event_type: ClassVar[str] = "tenant.onboarded"

    completed_steps: list[str] = Field(default_factory=list)
    """The checklist steps, e.g. ``subscription_created``, ``payment_confirmed``."""
    onboarded_at: AwareDatetime


class TenantSuspended(TenantEvent):
    """The tenant's access was blocked."""

    event_type: ClassVar[str] = "tenant.suspended"

    reason: SuspensionReason
    suspended_at: AwareDatetime
    invoice_id: str | None = None
    """The overdue invoice, when suspended for non-payment."""
    subscription_id: str | None = None


class TenantReactivated(TenantEvent):
    """A suspended tenant became usable again."""

    event_type: ClassVar[str] = "tenant.reactivated"

    reason: ReactivationReason
    reactivated_at: AwareDatetime
    invoice_id: str | None = None
    """The invoice whose payment reactivated the tenant, if any."""


class TenantChurned(TenantEvent):
    """The customer left for good (terminal): the subscription ended and was not renewed,
    or support closed the tenant by hand."""

    event_type: ClassVar[str] = "tenant.churned"

    reason: str | None = None
    churned_at: AwareDatetime
    subscription_id: str | None = None


class TenantUpdated(TenantEvent):
    """A specialist changed a setting other services keep (the company name or the time
    zone); the event carries the tenant's state after the change."""

    event_type: ClassVar[str] = "tenant.updated"

    changed: list[str] = Field(default_factory=list)
    """Which of those settings changed: ``company_name``, ``timezone``."""
    updated_at: AwareDatetime


# --- users ----------------------------------------------------------------------------


class UserInvited(UserEvent):
    """A user was invited (or the activation e-mail was sent again)."""

    event_type: ClassVar[str] = "user.invited"

    invited_by: str | None = None
    invited_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    """When the activation link stops working."""
    is_resend: bool = False


class UserActivated(UserEvent):
    """The user accepted the invitation and can sign in."""

    event_type: ClassVar[str] = "user.activated"

    activated_at: AwareDatetime


class UserDeactivated(UserEvent):
    """The user can no longer sign in."""

    event_type: ClassVar[str] = "user.deactivated"

    deactivated_by: str | None = None
    reason: str | None = None
    deactivated_at: AwareDatetime


class UserReactivated(UserEvent):
    """A deactivated user can sign in again."""

    event_type: ClassVar[str] = "user.reactivated"

    reactivated_by: str | None = None
    reactivated_at: AwareDatetime


class UserMarkedInactive(UserEvent):
    """The user has not signed in for longer than the inactivity policy allows."""

    event_type: ClassVar[str] = "user.marked_inactive"

    last_sign_in_at: AwareDatetime | None = None
    """The last sign-in seen, or none if the user never signed in after activation."""
    inactive_days: int = Field(ge=0)
    """The policy threshold in days that was exceeded."""
    marked_at: AwareDatetime


class UserLocked(UserEvent):
    """The user was locked out."""

    event_type: ClassVar[str] = "user.locked"

    reason: LockReason
    locked_at: AwareDatetime


class UserUnlocked(UserEvent):
    """A locked user can sign in again."""

    event_type: ClassVar[str] = "user.unlocked"

    unlocked_by: str | None = None
    unlocked_at: AwareDatetime


class UserMfaReset(UserEvent):
    """The user's second factor was removed; they enrol again at next sign-in."""

    event_type: ClassVar[str] = "user.mfa_reset"

    reset_by: str | None = None
    reset_at: AwareDatetime


# --- access-action outcomes -----------------------------------------------------------


class AccessActionCompleted(AccessActionOutcome):
    """onboarding-service performed the requested access action."""

    event_type: ClassVar[str] = "access.action_completed"

    user_status: UserStatus
    """The user's status after the action."""
    completed_at: AwareDatetime


class AccessActionRejected(AccessActionOutcome):
    """onboarding-service refused the requested access action."""

    event_type: ClassVar[str] = "access.action_rejected"

    reasons: list[AccessRejectionReason] = Field(min_length=1)
    detail: str | None = None
    """A human sentence for the agent."""
    rejected_at: AwareDatetime


# --- out-of-band confirmation of access actions ----------------------------------------


class AccessConfirmationPending(AccessConfirmationEvent):
    """onboarding-service holds the action until the user confirms a one-time code sent to
    their registered address. The code itself is never in an event."""

    event_type: ClassVar[str] = "access.confirmation_pending"

    channel: ConfirmationChannel
    destination: str
    """The registered address, masked (``p***@acme.example``)."""
    delivery: ConfirmationDelivery
    expires_at: AwareDatetime
    attempts_allowed: int = Field(ge=1)
    pending_at: AwareDatetime


class AccessConfirmationFailed(AccessConfirmationEvent):
    """A submitted code did not match; the request stays pending while attempts are left."""

    event_type: ClassVar[str] = "access.confirmation_failed"

    attempts_left: int = Field(ge=0)
    failed_at: AwareDatetime


EVENTS: tuple[type[Event], ...] = (
    TenantCreated,
    TenantActivated,
    TenantOnboarded,
    TenantSuspended,
    TenantReactivated,
    TenantChurned,
    TenantUpdated,
    UserInvited,
    UserActivated,
    UserDeactivated,
    UserReactivated,
    UserMarkedInactive,
    UserLocked,
    UserUnlocked,
    UserMfaReset,
    AccessActionCompleted,
    AccessActionRejected,
    AccessConfirmationPending,
    AccessConfirmationFailed,
)
"""Every event onboarding-service publishes, in catalog order."""
