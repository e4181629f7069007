"""The onboarding checklist: its steps, in order, and how long each may take."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Step(StrEnum):
    company_created = "company_created"
    admin_invited = "admin_invited"
    subscription_attached = "subscription_attached"
    payment_confirmed = "payment_confirmed"
    configuration_applied = "configuration_applied"
    admin_activated = "admin_activated"
    welcome_sent = "welcome_sent"


DUE_AFTER: dict[Step, timedelta] = {
    Step.company_created: timedelta(0),
    Step.admin_invited: timedelta(days=1),
    Step.subscription_attached: timedelta(days=1),
    Step.payment_confirmed: timedelta(days=14),
    Step.configuration_applied: timedelta(days=7),
    Step.admin_activated: timedelta(days=7),
    Step.welcome_sent: timedelta(days=10),
}
"""Since the onboarding started; a step still open after this is overdue (stuck)."""
