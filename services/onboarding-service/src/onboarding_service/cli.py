"""``onboarding-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

from pathlib import Path

from onboarding_service.config import OnboardingSettings
from onboarding_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli

MIGRATIONS = Path(__file__).parent / "migrations"


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=OnboardingSettings,
        app_import="onboarding_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["billing.events", "onboarding.commands"],
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
