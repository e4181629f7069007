"""Settings of the onboarding-service (environment prefix ``ONBOARDING_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class OnboardingSettings(ServiceSettings):
    service_name = "onboarding-service"
    env_prefix = "ONBOARDING_"
    default_port = 8003
    default_database = "onboarding"
