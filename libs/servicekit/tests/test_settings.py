"""Settings: prefixed and shared env names; placeholder secrets refused in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from servicekit.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    service_name = "demo"
    env_prefix = "DEMO_"
    default_port = 8123
    default_database = "demo"


def test_defaults_and_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SUPPORTOPS_KAFKA_PORT", raising=False)  # a second stack's run
    monkeypatch.setenv("DEMO_PORT", "9000")
    s = DemoSettings()
    assert s.port == 9000
    assert s.database_url.endswith("/demo")
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"


def test_shared_names_with_prefixed_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    assert DemoSettings().kafka_bootstrap_servers == "shared:9092"
    monkeypatch.setenv("DEMO_KAFKA_BOOTSTRAP_SERVERS", "mine:9092")
    assert DemoSettings().kafka_bootstrap_servers == "mine:9092"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    # production also needs its broker, relay and sender (tests/settings covers those)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9093")
    monkeypatch.setenv("SMTP_URL", "smtp://relay.internal:25")
    monkeypatch.setenv("MAIL_FROM", "Support <support@example.com>")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        DemoSettings()
    monkeypatch.setenv("JWT_SECRET", "change-me-please-0123456789")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        DemoSettings()
    monkeypatch.setenv("JWT_SECRET", "a7f3c9e1b5d84f2a9c6e0b3d7f1a5c8e")
    # unset, the database URL would be the development one, password included
    monkeypatch.delenv("DEMO_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DEMO_DATABASE_URL"):
        DemoSettings()
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql+asyncpg://demo:s3cr3t-0123456789@db/demo")
    assert DemoSettings().environment == "production"


def test_development_accepts_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    assert DemoSettings().is_development
