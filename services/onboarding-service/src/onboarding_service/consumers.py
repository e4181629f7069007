"""The onboarding-service's event router: what it consumes, and each feature's handlers
(``billing/consumers.py``, ``access/consumers.py``)."""

from __future__ import annotations

from onboarding_service.access import consumers as access
from onboarding_service.access.confirmation import CodeGenerator, random_code
from onboarding_service.billing import consumers as billing
from onboarding_service.config import OnboardingSettings
from servicekit.consumer import EventRouter

CONSUMES = ["billing.events", "onboarding.commands"]


def build_events(
    *, settings: OnboardingSettings, codes: CodeGenerator = random_code
) -> EventRouter:
    """Handlers read the time from ``received.clock`` (the app's clock)."""
    events = EventRouter()
    billing.register(events, settings=settings)
    access.register(events, settings=settings, codes=codes)
    return events
