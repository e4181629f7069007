"""``billing-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

from pathlib import Path

from billing_service.config import BillingSettings
from billing_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli

MIGRATIONS = Path(__file__).parent / "migrations"


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=BillingSettings,
        app_import="billing_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["onboarding.events"],
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
