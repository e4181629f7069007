"""Settings of the billing-service (environment prefix ``BILLING_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name = "billing-service"
    env_prefix = "BILLING_"
    default_port = 8002
    default_database = "billing"
