"""Production refuses every development default secret of the four services.

The secrets are enumerated from each settings class's ``secret_fields``, so a secret a
service declares tomorrow is covered without touching this file; a secret-looking setting
that is not declared cannot even be defined.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing_service.config import BillingSettings
from escalation_service.config import EscalationSettings
from onboarding_service.config import OnboardingSettings
from servicekit.settings import ServiceSettings
from ticket_service.config import TicketSettings

SERVICES: list[type[ServiceSettings]] = [
    TicketSettings,
    BillingSettings,
    OnboardingSettings,
    EscalationSettings,
]

REAL = "7c1f9a3e5b2d48c6a0e9f1b3d5c7a9e2"
REAL_DATABASE_URL = "postgresql+asyncpg://svc:7c1f9a3e5b2d48c6@db.internal:5432/svc"
SMTP_WITH_USER = "smtp://mailer@smtp.internal:587?starttls=true"
REAL_KAFKA = "kafka-0.kafka.internal:9093"
REAL_MAIL_FROM = "Example Support <support@example.com>"


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts: a developer's or CI's env must not fill a secret."""
    for cls in SERVICES:
        for name in cls.model_fields:
            monkeypatch.delenv(cls.env_name(name), raising=False)
            monkeypatch.delenv(f"{cls.env_prefix}{name.upper()}", raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)


def real_production(cls: type[ServiceSettings]) -> dict[str, object]:
    """A production configuration with every secret set and in use."""
    values: dict[str, object] = {
        "environment": "production",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",  # so the SASL password is in use
        "qa_tracker": "jira",  # escalation: so the Jira API token is in use
        "smtp_url": SMTP_WITH_USER,  # so the SMTP password is in use
        "kafka_bootstrap_servers": REAL_KAFKA,
        "mail_from": REAL_MAIL_FROM,
    }
    for name in cls.secret_fields:
        values[name] = REAL_DATABASE_URL if name == "database_url" else f"{name}-{REAL}"
    return values


def secret_cases() -> list[object]:
    cases = []
    for cls in SERVICES:
        for name in sorted(cls.secret_fields):
            cases.append(pytest.param(cls, name, id=f"{cls.service_name}-{name}"))
    return cases


def test_every_service_declares_its_secrets() -> None:
    declared = {cls.service_name: set(cls.secret_fields) for cls in SERVICES}
    shared = {"jwt_secret", "kafka_sasl_password", "database_url", "smtp_password"}
    assert declared == {
        "ticket-service": shared | {"csat_secret"},
        "billing-service": shared | {"stripe_api_key", "stripe_webhook_secret"},
        "onboarding-service": shared,
        "escalation-service": shared | {"jira_api_token", "jira_webhook_secret"},
    }


@pytest.mark.parametrize("cls", SERVICES, ids=[c.service_name for c in SERVICES])
def test_a_real_production_configuration_starts(cls: type[ServiceSettings]) -> None:
    settings = cls(**real_production(cls))
    assert settings.placeholder_secrets() == []
    assert settings.database_url == REAL_DATABASE_URL


@pytest.mark.parametrize(("cls", "name"), secret_cases())
def test_production_refuses_the_development_default_of(
    cls: type[ServiceSettings], name: str
) -> None:
    default = cls.model_fields[name].get_default(call_default_factory=True)
    refused = ["", "change-me"] + ([default] if default is not None else [])
    for value in refused:
        values = real_production(cls) | {name: value}
        with pytest.raises(ValidationError) as caught:
            cls(**values)
        message = str(caught.value)
        assert "refused in production" in message
        assert cls.env_name(name) in message, (name, value, message)
    # the same value is fine where it is meant to be: development
    development = real_production(cls) | {"environment": "development", name: default}
    assert cls(**development).is_development


@pytest.mark.parametrize("cls", SERVICES, ids=[c.service_name for c in SERVICES])
def test_every_offending_setting_is_named_at_once(cls: type[ServiceSettings]) -> None:
    values = {
        "environment": "production",
        "kafka_sasl_mechanism": "PLAIN",
        "qa_tracker": "jira",
        "smtp_url": SMTP_WITH_USER,
    }
    with pytest.raises(ValidationError) as caught:
        cls(**values)  # type: ignore[arg-type]
    message = str(caught.value)
    expected = {cls.env_name(name) for name in cls.secret_fields}
    if cls is TicketSettings:
        # unset, the survey key is derived from the (placeholder) JWT secret: refused too
        expected.add("TICKET_CSAT_SECRET")
    for env_name in expected:
        assert env_name in message, (env_name, message)


def test_the_jira_webhook_secret_default_is_refused() -> None:
    """The finding: only the Stripe secrets were refused; Jira's passed in production."""
    values = real_production(EscalationSettings)
    del values["jira_webhook_secret"]
    with pytest.raises(ValidationError, match="ESCALATION_JIRA_WEBHOOK_SECRET"):
        EscalationSettings(**values)  # type: ignore[arg-type]


def test_secrets_a_configuration_does_not_use_need_not_be_set() -> None:
    # the internal QA tracker never calls Jira, so no API token is needed
    values = real_production(EscalationSettings) | {"qa_tracker": "internal"}
    del values["jira_api_token"]
    assert EscalationSettings(**values).jira_api_token is None  # type: ignore[arg-type]
    # a Jira tracker without its token is refused
    with pytest.raises(ValidationError, match="ESCALATION_JIRA_API_TOKEN"):
        EscalationSettings(**(values | {"qa_tracker": "jira"}))  # type: ignore[arg-type]
    # tokens verified by JWKS: no shared JWT secret is used
    jwks = real_production(BillingSettings) | {"jwt_jwks_url": "https://idp.example/jwks"}
    del jwks["jwt_secret"]
    assert BillingSettings(**jwks).placeholder_secrets() == []  # type: ignore[arg-type]
    # no SASL: no Kafka password
    plain = real_production(OnboardingSettings) | {"kafka_sasl_mechanism": None}
    del plain["kafka_sasl_password"]
    assert OnboardingSettings(**plain).placeholder_secrets() == []  # type: ignore[arg-type]


def test_an_undeclared_secret_looking_setting_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="partner_webhook_secret"):

        class _Careless(ServiceSettings):
            env_prefix = "CARELESS_"
            partner_webhook_secret: str = "dev-partner-secret"

    class _Careful(ServiceSettings):
        env_prefix = "CAREFUL_"
        secret_fields = ServiceSettings.secret_fields | {"partner_webhook_secret"}
        not_secret_fields = frozenset({"token_lifetime_minutes"})
        partner_webhook_secret: str = "dev-partner-secret"
        token_lifetime_minutes: int = 15

    with pytest.raises(ValidationError, match="CAREFUL_PARTNER_WEBHOOK_SECRET"):
        _Careful(environment="production", jwt_secret=REAL, database_url=REAL_DATABASE_URL)  # type: ignore[arg-type]


def test_a_declared_secret_must_be_a_setting() -> None:
    with pytest.raises(TypeError, match="no_such_secret"):

        class _Typo(ServiceSettings):
            env_prefix = "TYPO_"
            secret_fields = ServiceSettings.secret_fields | {"no_such_secret"}


def test_an_smtp_relay_without_a_user_needs_no_password() -> None:
    values = real_production(OnboardingSettings) | {"smtp_url": "smtp://relay.internal:25"}
    del values["smtp_password"]
    assert OnboardingSettings(**values).smtp_password is None  # type: ignore[arg-type]
    # a relay that authenticates a user, without a real password, is refused
    with pytest.raises(ValidationError, match="SMTP_PASSWORD"):
        OnboardingSettings(**(values | {"smtp_url": SMTP_WITH_USER}))  # type: ignore[arg-type]


# Settings whose development default points at the local stack (Mailpit, the local
# broker) or at a development address: production must be told, never fall back.
NEEDED_IN_PRODUCTION = {
    "smtp_url": "SMTP_URL",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "mail_from": "MAIL_FROM",
}


@pytest.mark.parametrize("cls", SERVICES, ids=[c.service_name for c in SERVICES])
@pytest.mark.parametrize("name", sorted(NEEDED_IN_PRODUCTION))
def test_production_refuses_an_unset_connection_or_sender(
    cls: type[ServiceSettings], name: str
) -> None:
    """The finding: an unset SMTP_URL in production silently became the local Mailpit
    (smtp://127.0.0.1:1025), an unset KAFKA_BOOTSTRAP_SERVERS the local broker, and mail
    went out From support@supportops.localhost."""
    values = real_production(cls)
    del values[name]
    with pytest.raises(ValidationError) as caught:
        cls(**values)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "refused in production" in message
    assert NEEDED_IN_PRODUCTION[name] in message, message
    # set to empty or to the development default: refused the same way
    default = cls.model_fields[name].get_default()
    for value in {"", default}:
        with pytest.raises(ValidationError, match=NEEDED_IN_PRODUCTION[name]):
            cls(**(real_production(cls) | {name: value}))  # type: ignore[arg-type]
    # development (and tests) keep the local fallback
    development = values | {"environment": "development"}
    settings = cls(**development)  # type: ignore[arg-type]
    if name == "smtp_url":
        assert settings.smtp_url.startswith("smtp://127.0.0.1:")
    if name == "kafka_bootstrap_servers":
        assert settings.kafka_bootstrap_servers.startswith("127.0.0.1:")


def test_production_names_every_missing_setting_at_once() -> None:
    values = real_production(TicketSettings)
    for name in NEEDED_IN_PRODUCTION:
        del values[name]
    del values["jwt_secret"]
    with pytest.raises(ValidationError) as caught:
        TicketSettings(**values)  # type: ignore[arg-type]
    message = str(caught.value)
    for env_name in [*NEEDED_IN_PRODUCTION.values(), "JWT_SECRET"]:
        assert env_name in message, (env_name, message)


def test_the_production_settings_are_read_from_the_shared_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator sets the bare names once for all four services (the k8s ConfigMap)."""
    values = real_production(OnboardingSettings)
    for name in NEEDED_IN_PRODUCTION:
        del values[name]
    monkeypatch.setenv("SMTP_URL", "smtp://relay.internal:25")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", REAL_KAFKA)
    monkeypatch.setenv("MAIL_FROM", REAL_MAIL_FROM)
    values["smtp_password"] = None
    settings = OnboardingSettings(**values)  # type: ignore[arg-type]
    assert settings.smtp_target().hostname == "relay.internal"
    assert settings.mail_from == REAL_MAIL_FROM
