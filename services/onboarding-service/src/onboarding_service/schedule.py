"""The onboarding-service's periodic jobs for the in-process scheduler: scheduled
suspensions (and churns) and the inactive-user scan (the ``scheduled-suspensions`` /
``inactive-user-scan`` commands, run in every replica's process with one leader each)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from prometheus_client import Gauge

from onboarding_service.billing.service import churn_delay
from onboarding_service.checklist.service import count_stuck
from onboarding_service.config import OnboardingSettings
from onboarding_service.scans.service import apply_scheduled_suspensions, run_inactive_user_scan
from servicekit.clock import StateClock
from servicekit.scheduler import Job

logger = logging.getLogger("onboarding_service.schedule")
STUCK_ONBOARDINGS = Gauge(
    "onboarding_stuck_tenants",
    "Tenants whose onboarding has an overdue checklist step (last stuck-onboarding scan)",
    ["service"],
)


def build_jobs(app: FastAPI, settings: OnboardingSettings) -> list[Job]:
    clock = StateClock(app.state)  # read at each run: a test may replace app.state.clock

    async def scheduled_suspensions() -> None:
        await apply_scheduled_suspensions(
            app.state.db, now=clock.now(), churn_after=churn_delay(settings)
        )

    async def inactive_users() -> None:
        await run_inactive_user_scan(
            app.state.db, now=clock.now(), after_days=settings.inactive_after_days
        )

    async def stuck_onboarding_scan() -> None:
        # the checklist's own "stuck" query, as a number to alert on and a log line
        async with app.state.db.unit_of_work() as session:
            count = await count_stuck(session, clock.now())
        STUCK_ONBOARDINGS.labels("onboarding-service").set(count)
        if count:
            logger.warning("%d onboarding(s) have an overdue step: GET /v1/onboarding/stuck", count)

    return [
        Job(
            "stuck-onboarding-scan",
            settings.stuck_onboarding_scan_interval_seconds,
            stuck_onboarding_scan,
        ),
        Job(
            "scheduled-suspensions",
            settings.scheduled_suspensions_interval_seconds,
            scheduled_suspensions,
        ),
        Job("inactive-user-scan", settings.inactive_user_scan_interval_seconds, inactive_users),
    ]
