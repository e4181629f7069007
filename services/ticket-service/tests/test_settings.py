"""Settings: the survey signing key must not be a development default in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from servicekit.settings import DEV_JWT_SECRET
from ticket_service.config import TicketSettings

REAL_SECRET = "4f9c2b7e1d8a6035c9e2f7b14a6d8c03"
DATABASE_URL = "postgresql+asyncpg://tickets:" + REAL_SECRET + "@db/tickets"


# production also needs its broker, relay and sender (tests/settings covers those)
PRODUCTION_CONNECTIONS = {
    "kafka_bootstrap_servers": "kafka.internal:9093",
    "smtp_url": "smtp://relay.internal:25",
    "mail_from": "Support <support@example.com>",
}


def test_production_refuses_a_survey_key_derived_from_a_placeholder() -> None:
    with pytest.raises(ValidationError, match="TICKET_CSAT_SECRET"):
        TicketSettings(
            environment="production",
            jwt_jwks_url="https://idp.example/jwks",
            jwt_secret=DEV_JWT_SECRET,  # unused for tokens, but the survey key would be it
        )
    with pytest.raises(ValidationError, match="TICKET_CSAT_SECRET"):
        TicketSettings(environment="production", jwt_secret=REAL_SECRET, csat_secret="change-me")
    own_key = TicketSettings(
        environment="production",
        jwt_jwks_url="https://idp.example/jwks",
        csat_secret="b" + REAL_SECRET,
        database_url=DATABASE_URL,
        **PRODUCTION_CONNECTIONS,
    )
    assert own_key.placeholder_secrets() == []
    derived = TicketSettings(
        environment="production",
        jwt_secret=REAL_SECRET,
        database_url=DATABASE_URL,
        **PRODUCTION_CONNECTIONS,
    )
    assert derived.placeholder_secrets() == []


def test_the_survey_url_must_have_a_token_placeholder() -> None:
    with pytest.raises(ValidationError, match=r"\{token\}"):
        TicketSettings(csat_survey_url="https://portal.example/survey")
    settings = TicketSettings(csat_survey_url="https://portal.example/survey?t={token}")
    assert settings.csat_survey_valid_days == 14
