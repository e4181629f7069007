"""Settings of the ticket-service (environment prefix ``TICKET_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class TicketSettings(ServiceSettings):
    service_name = "ticket-service"
    env_prefix = "TICKET_"
    default_port = 8001
    default_database = "tickets"
