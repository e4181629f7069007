"""Settings of the ticket-service (environment prefix ``TICKET_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class TicketSettings(ServiceSettings):
    service_name = "ticket-service"
    env_prefix = "TICKET_"
    default_port = 8001
    default_database = "tickets"

    auto_close_after_hours: int = 96
    """Solved tickets close after this long (``auto-close`` command)."""
    csat_secret: str | None = None
    """Signs CSAT survey tokens; defaults to a key derived from ``JWT_SECRET``."""
