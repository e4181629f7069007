"""Settings of the billing-service (environment prefix ``BILLING_``)."""

from __future__ import annotations

from pydantic import Field

from servicekit.localstack import default_stripe_api_base
from servicekit.settings import ServiceSettings, _shared

DEV_STRIPE_API_KEY = "sk_test_123"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev-only-change-me"
# stripe-mock on SUPPORTOPS_STRIPE_MOCK_PORT (read again by stripe_base, at call time)
DEV_STRIPE_API_BASE = default_stripe_api_base()


class BillingSettings(ServiceSettings):
    service_name = "billing-service"
    env_prefix = "BILLING_"
    default_port = 8002
    default_database = "billing"
    secret_fields = ServiceSettings.secret_fields | {"stripe_api_key", "stripe_webhook_secret"}

    # STRIPE_* (the contract's names) or BILLING_STRIPE_*
    stripe_api_key: str = _shared("STRIPE_API_KEY", DEV_STRIPE_API_KEY)
    stripe_api_base: str | None = _shared("STRIPE_API_BASE", None)
    """Unset: stripe-mock in development and tests, api.stripe.com in production."""
    stripe_webhook_secret: str = _shared("STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET)
    stripe_webhook_tolerance_seconds: int = 300
    stripe_max_network_retries: int = 2
    webhook_worker_poll_seconds: float = 1.0
    """How often the worker looks for stored-but-unprocessed webhooks and pending intents."""
    renewal_window_days: int = 30
    renewal_grace_hours: int = 24
    """How long after a period starts Stripe's renewal invoice may take to appear."""
    renewal_claim_timeout_seconds: int = 600
    renewal_scan_interval_seconds: float = Field(default=300.0, gt=0)
    """How often the in-process scheduler's leader runs the renewal scan."""
    reconcile_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often the in-process scheduler's leader reconciles missed Stripe events."""
    """After this long a scan's claim on issuing a renewal invoice counts as left by a
    crashed scan and is taken over (same Stripe idempotency keys)."""

    @property
    def stripe_base(self) -> str | None:
        """Where the Stripe client points; ``None`` means Stripe itself."""
        if self.stripe_api_base:
            return self.stripe_api_base
        return None if not self.is_development else default_stripe_api_base()
