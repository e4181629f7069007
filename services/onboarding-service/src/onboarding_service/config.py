"""Settings of the onboarding-service (environment prefix ``ONBOARDING_``)."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class OnboardingSettings(ServiceSettings):
    service_name = "onboarding-service"
    env_prefix = "ONBOARDING_"
    default_port = 8003
    default_database = "onboarding"

    invitation_ttl_hours: int = Field(default=7 * 24, ge=1)
    """How long an invitation token can be accepted."""
    inactive_after_days: int = Field(default=90, ge=1)
    """A user without a sign-in for this many days is marked ``inactive`` by the scan
    (unless the tenant's configuration sets its own ``inactive_after_days``)."""
    lock_after_failed_sign_ins: int = Field(default=5, ge=1)
    """This many failed sign-ins in a row (reported by the identity system) lock a user."""
    suspend_after_days_overdue: int = Field(default=30, ge=0)
    """Billing policy: an invoice overdue this long suspends (restricts) the tenant."""
    suspend_after_failed_attempts: int = Field(default=4, ge=1)
    """Billing policy: this many failed payment attempts suspend (restrict) the tenant."""
    churn_after_cancellation_days: int = Field(default=30, ge=0)
    scheduled_suspensions_interval_seconds: float = Field(default=300.0, gt=0)
    """How often the in-process scheduler's leader applies scheduled suspensions."""
    inactive_user_scan_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often the in-process scheduler's leader marks inactive users."""
    stuck_onboarding_scan_interval_seconds: float = Field(default=900.0, gt=0)
    """How often the leader counts onboardings with an overdue step
    (``onboarding_stuck_tenants``, and a warning in the log)."""
    """A tenant suspended because its subscription ended churns this many days later,
    unless reactivated meanwhile; 0 turns automatic churn off (churn by hand)."""
    confirmation_code_ttl_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """How long the one-time code of an MFA reset requested by support can be confirmed."""
    confirmation_code_attempts: int = Field(default=3, ge=1, le=10)
    """Wrong codes allowed per MFA reset request before it is rejected."""
    activation_url: str = Field(
        default="http://127.0.0.1:8003/activate?token={token}", min_length=8, max_length=500
    )
    """The link an invitation mail carries; ``{token}`` is replaced by the invitation
    token. Point it at the product's activation page, which posts the token to
    ``/v1/invitations/accept``."""
