"""Settings of the ticket-service (environment prefix ``TICKET_``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from servicekit.settings import ServiceSettings, _is_placeholder


class TicketSettings(ServiceSettings):
    service_name = "ticket-service"
    env_prefix = "TICKET_"
    default_port = 8001
    default_database = "tickets"
    secret_fields = ServiceSettings.secret_fields | {"csat_secret"}
    # A list of rotated-out keys, empty by default: checked key by key in
    # placeholder_secrets below rather than against a single default.
    not_secret_fields = ServiceSettings.not_secret_fields | {"csat_previous_secrets"}

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

    triage_review_below: float = Field(default=0.25, ge=0.0, le=1.0)
    """A ticket the classifier is less sure of than this goes to the ``triage_review``
    queue with the category as a suggestion (see docs/triage.md for the measured
    trade-off between coverage and accuracy). 0.25: the lowest floor at which the
    cross-validated accuracy of the auto-triaged training tickets reaches 93 % (83 %
    triaged automatically); ``python -m benchmarks.triage_cv`` prints the 90 % floor."""
    triage_model_poll_seconds: float = Field(default=60.0, ge=1.0, le=86_400.0)
    """How often a running service looks for a newer refitted triage model."""

    inbound_email_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    """A raw inbound mail (``message/rfc822``) larger than this is refused with a 413,
    nothing of it stored."""

    @field_validator("csat_survey_url")
    @classmethod
    def _has_token_placeholder(cls, value: str) -> str:
        if "{token}" not in value:
            raise ValueError("csat_survey_url must contain {token}")
        return value

    def secret_unused(self, name: str) -> bool:
        # Unset, the survey key is derived from JWT_SECRET: fine only if that one is real.
        if name == "csat_secret" and self.csat_secret is None:
            return not _is_placeholder(self.jwt_secret)
        return super().secret_unused(name)

    def placeholder_secrets(self) -> list[str]:
        found = super().placeholder_secrets()
        # each rotated-out key must have been a real one too
        name = self.env_name("csat_previous_secrets")
        if name not in found and any(_is_placeholder(s) for s in self.csat_previous_secrets):
            found = sorted([*found, name])
        return found
