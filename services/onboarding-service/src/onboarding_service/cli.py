"""``onboarding-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

import argparse
from pathlib import Path

from onboarding_service.billing.service import churn_delay
from onboarding_service.config import OnboardingSettings
from onboarding_service.consumers import CONSUMES
from onboarding_service.main import PRODUCES, SERVICE_NAME
from onboarding_service.scans.service import apply_scheduled_suspensions, run_inactive_user_scan
from servicekit.cli import ServiceCli, command_database
from servicekit.clock import Clock, SystemClock
from servicekit.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def scheduled_suspensions(
    settings: ServiceSettings, args: argparse.Namespace, *, clock: Clock | None = None
) -> int:
    assert isinstance(settings, OnboardingSettings)
    async with command_database(settings, SERVICE_NAME) as db:
        result = await apply_scheduled_suspensions(
            db, now=(clock or SystemClock()).now(), churn_after=churn_delay(settings)
        )
    print(
        f"{SERVICE_NAME}: {result.suspended} scheduled suspension(s) applied, "
        f"{result.churned} tenant(s) churned"
    )
    return 0


async def inactive_user_scan(
    settings: ServiceSettings, args: argparse.Namespace, *, clock: Clock | None = None
) -> int:
    assert isinstance(settings, OnboardingSettings)
    async with command_database(settings, SERVICE_NAME) as db:
        marked = await run_inactive_user_scan(
            db, now=(clock or SystemClock()).now(), after_days=settings.inactive_after_days
        )
    print(f"{SERVICE_NAME}: {len(marked)} user(s) marked inactive")
    return 0


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=OnboardingSettings,
        app_import="onboarding_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=CONSUMES,
        commands={
            "scheduled-suspensions": (
                "suspend tenants whose canceled subscription ended, and churn those whose "
                "ONBOARDING_CHURN_AFTER_CANCELLATION_DAYS since then are over",
                scheduled_suspensions,
            ),
            "inactive-user-scan": (
                "mark users inactive after ONBOARDING_INACTIVE_AFTER_DAYS without a sign-in",
                inactive_user_scan,
            ),
        },
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
