"""``escalation-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

from pathlib import Path

from escalation_service.config import EscalationSettings
from escalation_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli

MIGRATIONS = Path(__file__).parent / "migrations"


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=EscalationSettings,
        app_import="escalation_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["tickets.events", "billing.events"],
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
