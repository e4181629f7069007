"""Port overrides (SUPPORTOPS_PG_PORT, SUPPORTOPS_KAFKA_PORT, SUPPORTOPS_STRIPE_MOCK_PORT)
reach every service's settings, its commands, the test helpers and print-urls.sh, and an
explicit address still wins."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import pytest
from throwaway_pg import ThrowawayPostgres

from billing_service.config import BillingSettings
from escalation_service.config import EscalationSettings
from onboarding_service.config import OnboardingSettings
from servicekit.localstack import effective_addresses
from servicekit.settings import ServiceSettings
from ticket_service.config import TicketSettings

ROOT = Path(__file__).resolve().parents[3]
SERVICES: list[tuple[type[ServiceSettings], str]] = [
    (TicketSettings, "tickets"),
    (BillingSettings, "billing"),
    (OnboardingSettings, "onboarding"),
    (EscalationSettings, "escalation"),
]
OVERRIDES = {
    "SUPPORTOPS_PG_PORT": "25432",
    "SUPPORTOPS_KAFKA_PORT": "29092",
    "SUPPORTOPS_STRIPE_MOCK_PORT": "22111",
    "SUPPORTOPS_MAILPIT_SMTP_PORT": "21025",
    "SUPPORTOPS_MAILPIT_UI_PORT": "28025",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any explicit address (the test run may set some)."""
    explicit = (
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "STRIPE_API_BASE",
        "SMTP_URL",
        "SUPPORTOPS_",
    )
    env = {k: v for k, v in os.environ.items() if not any(x in k for x in explicit)}
    env.update(extra)
    return env


@pytest.fixture
def overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if any(
            x in name
            for x in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "STRIPE_API_BASE", "SMTP_URL")
        ):
            monkeypatch.delenv(name)
    for name, value in OVERRIDES.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("overridden")
@pytest.mark.parametrize(("settings_class", "database"), SERVICES, ids=lambda v: str(v))
def test_every_service_follows_the_port_overrides(
    settings_class: type[ServiceSettings], database: str
) -> None:
    settings = settings_class(environment="development")
    assert settings.database_url == (
        f"postgresql+asyncpg://supportops:supportops@127.0.0.1:25432/{database}"
    )
    assert settings.kafka_bootstrap_servers == "127.0.0.1:29092"
    target = settings.smtp_target()  # mail goes to the Mailpit on the overridden port
    assert (target.hostname, target.port) == ("127.0.0.1", 21025)


@pytest.mark.usefixtures("overridden")
def test_billing_talks_to_stripe_mock_on_the_overridden_port() -> None:
    assert BillingSettings(environment="development").stripe_base == "http://127.0.0.1:22111"
    assert BillingSettings(environment="test").stripe_base == "http://127.0.0.1:22111"


@pytest.mark.usefixtures("overridden")
def test_explicit_addresses_still_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_DATABASE_URL", "postgresql+asyncpg://u:p@db.internal:6432/t")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9093")
    monkeypatch.setenv("STRIPE_API_BASE", "http://stripe.internal")
    ticket = TicketSettings()
    assert ticket.database_url == "postgresql+asyncpg://u:p@db.internal:6432/t"
    assert ticket.kafka_bootstrap_servers == "kafka.internal:9093"
    assert BillingSettings().stripe_base == "http://stripe.internal"
    assert BillingSettings().database_url.endswith(":25432/billing")
    assert effective_addresses()["TICKET_DATABASE_URL"].endswith("@db.internal:6432/t")


def test_print_urls_prints_what_the_services_use() -> None:
    out = subprocess.run(
        [str(ROOT / "scripts/print-urls.sh")],
        env=clean_env(**OVERRIDES, ONBOARDING_DATABASE_URL="postgresql://u:secret@elsewhere:7/o"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "127.0.0.1:29092" in out
    assert "http://127.0.0.1:22111" in out
    assert "127.0.0.1:25432/tickets" in out
    assert "elsewhere:7/o" in out and "secret" not in out
    assert "smtp://127.0.0.1:21025" in out and "http://127.0.0.1:28025" in out
    assert ":5432/" not in out and ":9092" not in out and ":12111" not in out
    assert ":1025" not in out and ":8025" not in out


@pytest.mark.infra
async def test_migrate_runs_against_the_cluster_on_the_overridden_port(
    throwaway_postgres: ThrowawayPostgres,
) -> None:
    """A second PostgreSQL beside the shared one: `migrate` lands in it, not in 5432."""
    await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / ".venv/bin/ticket-service"), "migrate"],
        env=clean_env(SUPPORTOPS_PG_PORT=str(throwaway_postgres.port)),
        check=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    conn = await asyncpg.connect(throwaway_postgres.url("tickets", driver="postgresql"))
    try:
        assert await conn.fetchval("SELECT to_regclass('tickets') IS NOT NULL")
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
    finally:
        await conn.close()
