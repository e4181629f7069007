"""``ticket-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

from pathlib import Path

from servicekit.cli import ServiceCli
from ticket_service.config import TicketSettings
from ticket_service.main import PRODUCES, SERVICE_NAME

MIGRATIONS = Path(__file__).parent / "migrations"


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=TicketSettings,
        app_import="ticket_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["billing.events", "onboarding.events", "escalation.events"],
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
