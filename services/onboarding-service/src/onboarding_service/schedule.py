"""The onboarding-service's periodic jobs for the in-process scheduler: scheduled
suspensions (and churns) and the inactive-user scan (the ``scheduled-suspensions`` /
``inactive-user-scan`` commands, run in every replica's process with one leader each)."""

from __future__ import annotations

from fastapi import FastAPI

from onboarding_service.billing.service import churn_delay
from onboarding_service.clock import Clock
from onboarding_service.config import OnboardingSettings
from onboarding_service.scans import apply_scheduled_suspensions, run_inactive_user_scan
from servicekit.scheduler import Job


def build_jobs(app: FastAPI, settings: OnboardingSettings) -> list[Job]:
    def clock() -> Clock:
        # read at each run: a test may replace app.state.clock
        current: Clock = app.state.clock
        return current

    async def scheduled_suspensions() -> None:
        await apply_scheduled_suspensions(
            app.state.db, now=clock().now(), churn_after=churn_delay(settings)
        )

    async def inactive_users() -> None:
        await run_inactive_user_scan(
            app.state.db, now=clock().now(), after_days=settings.inactive_after_days
        )

    return [
        Job(
            "scheduled-suspensions",
            settings.scheduled_suspensions_interval_seconds,
            scheduled_suspensions,
        ),
        Job("inactive-user-scan", settings.inactive_user_scan_interval_seconds, inactive_users),
    ]
