"""Settings of the onboarding-service (environment prefix ``ONBOARDING_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class OnboardingSettings(ServiceSettings):
    service_name = "onboarding-service"
    env_prefix = "ONBOARDING_"
    default_port = 8003
    default_database = "onboarding"

    invitation_ttl_hours: int = 7 * 24
    """How long an invitation token can be accepted."""
    inactive_after_days: int = 90
    """A user without a sign-in for this many days is marked ``inactive`` by the scan."""
    suspend_after_days_overdue: int = 30
    """Billing policy: a follow-up for an invoice overdue this long suspends the tenant."""
    suspend_after_failed_attempts: int = 4
    """Billing policy: a follow-up after this many failed payment attempts suspends it."""
