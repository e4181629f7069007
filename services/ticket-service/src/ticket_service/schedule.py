"""The ticket-service's periodic jobs for the in-process scheduler: the SLA scan and
auto-close (the ``sla-scan`` / ``auto-close`` commands, run in every replica's process,
one leader each), and the yearly refresh of the default calendar's holidays."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from servicekit.clock import StateClock
from servicekit.scheduler import Job
from ticket_service.config import TicketSettings
from ticket_service.sla.service import refresh_country_holidays
from ticket_service.tickets.sla_alerts import scan
from ticket_service.tickets.status import auto_close


def build_jobs(app: FastAPI, settings: TicketSettings) -> list[Job]:
    # read at each run: a test moves time by setting app.state.clock
    clock = StateClock(app.state)

    async def sla_scan() -> None:
        at = clock.now()
        async with app.state.db.unit_of_work() as session:
            await scan(session, now=at)

    async def close_solved() -> None:
        at = clock.now()
        before = at - timedelta(hours=settings.auto_close_after_hours)
        async with app.state.db.unit_of_work() as session:
            await auto_close(session, now=at, solved_before=before)

    async def refresh_holidays() -> None:
        at = clock.now()
        async with app.state.db.unit_of_work() as session:
            await refresh_country_holidays(session, now=at)

    return [
        Job("sla-scan", settings.sla_scan_interval_seconds, sla_scan),
        Job("auto-close", settings.auto_close_interval_seconds, close_solved),
        Job("holiday-refresh", settings.holiday_refresh_interval_seconds, refresh_holidays),
    ]
