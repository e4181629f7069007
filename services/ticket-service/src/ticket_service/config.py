"""Settings of the ticket-service (environment prefix ``TICKET_``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from servicekit.settings import ServiceSettings, _is_placeholder


class TicketSettings(ServiceSettings):
    service_name = "ticket-service"
    env_prefix = "TICKET_"
    default_port = 8001
    default_database = "tickets"

    auto_close_after_hours: int = 96
    """Solved tickets close after this long (``auto-close`` command)."""
    sla_scan_interval_seconds: float = Field(default=60.0, gt=0)
    """How often the in-process scheduler's leader runs the SLA scan."""
    auto_close_interval_seconds: float = Field(default=900.0, gt=0)
    """How often the in-process scheduler's leader closes tickets solved long enough ago."""
    holiday_refresh_interval_seconds: float = Field(default=86400.0, gt=0)
    """How often the leader adds the next year's public holidays to calendars that follow
    a country (it also runs at start-up, so a new year is never more than a day late)."""
    csat_secret: str | None = None
    """Signs CSAT survey links; defaults to a key derived from ``JWT_SECRET``. Required in
    production when ``JWT_SECRET`` is not a real secret (e.g. tokens verified by JWKS)."""
    csat_previous_secrets: list[str] = Field(default_factory=list, max_length=10)
    """Secrets rotated out (JSON list in ``TICKET_CSAT_PREVIOUS_SECRETS``): links signed with
    them keep working until they expire; drop one ``csat_survey_valid_days`` after the
    rotation. See docs/operations.md, "CSAT key rotation"."""
    csat_survey_url: str = Field(
        default="http://127.0.0.1:8001/v1/csat-surveys/{token}", min_length=8, max_length=500
    )
    """The link sent to the customer on solve; ``{token}`` is replaced by the signed token.
    Point it at the customer portal's survey page, which posts to
    ``/v1/csat-surveys/{token}``."""
    csat_survey_valid_days: int = Field(default=14, ge=1, le=365)
    """How long a survey link can be answered after the solve."""

    @field_validator("csat_survey_url")
    @classmethod
    def _has_token_placeholder(cls, value: str) -> str:
        if "{token}" not in value:
            raise ValueError("csat_survey_url must contain {token}")
        return value

    def extra_placeholder_secrets(self) -> list[str]:
        # the survey key must not be derivable from a development default
        if any(_is_placeholder(s) for s in self.csat_previous_secrets):
            return ["TICKET_CSAT_PREVIOUS_SECRETS"]
        if self.csat_secret is not None:
            return ["TICKET_CSAT_SECRET"] if _is_placeholder(self.csat_secret) else []
        return ["TICKET_CSAT_SECRET"] if _is_placeholder(self.jwt_secret) else []
