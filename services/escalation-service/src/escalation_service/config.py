"""Settings of the escalation-service (environment prefix ``ESCALATION_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class EscalationSettings(ServiceSettings):
    service_name = "escalation-service"
    env_prefix = "ESCALATION_"
    default_port = 8004
    default_database = "escalation"
