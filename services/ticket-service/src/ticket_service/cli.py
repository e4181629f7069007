"""``ticket-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.cli import ServiceCli, in_unit_of_work
from servicekit.clock import Clock, SystemClock
from servicekit.settings import ServiceSettings
from ticket_service.config import TicketSettings
from ticket_service.main import PRODUCES, SERVICE_NAME, configure_sessions
from ticket_service.tickets.sla_alerts import scan
from ticket_service.tickets.status import auto_close
from ticket_service.triage.classifier import RefitResult, classifier_of, refit

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


async def _in_unit_of_work(
    settings: ServiceSettings, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    configure = (
        (lambda db: configure_sessions(db, settings))
        if isinstance(settings, TicketSettings)
        else None
    )
    return await in_unit_of_work(settings, SERVICE_NAME, work, configure=configure)


async def run_sla_scan(settings: ServiceSettings, *, clock: Clock | None = None) -> dict[str, int]:
    """One SLA scan (a CronJob's run): warnings and breaches, each emitted once."""
    now = (clock or SystemClock()).now()
    return await _in_unit_of_work(settings, lambda session: scan(session, now=now))


async def run_auto_close(settings: TicketSettings, *, clock: Clock | None = None) -> int:
    now = (clock or SystemClock()).now()
    before = now - timedelta(hours=settings.auto_close_after_hours)
    return await _in_unit_of_work(
        settings, lambda session: auto_close(session, now=now, solved_before=before)
    )


async def _sla_scan_command(settings: ServiceSettings, args: argparse.Namespace) -> int:
    counts = await run_sla_scan(settings)
    print(f"sla-scan: {counts['warning']} warnings, {counts['breached']} breaches emitted")
    return 0


async def _auto_close_command(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, TicketSettings)
    closed = await run_auto_close(settings)
    print(f"auto-close: {closed} tickets closed")
    return 0


async def run_triage_refit(settings: TicketSettings, *, clock: Clock | None = None) -> RefitResult:
    """Refit the triage classifier from the corpus and the agents' examples (a CronJob's
    run); running services pick the new version up within their poll period."""
    at = (clock or SystemClock()).now()

    async def work(session: AsyncSession) -> RefitResult:
        return await refit(session, classifier=classifier_of(session), at=at)

    return await _in_unit_of_work(settings, work)


async def _triage_refit_command(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, TicketSettings)
    result = await run_triage_refit(settings)
    state = "recorded" if result.created else "unchanged (same examples)"
    print(
        f"triage-refit: model {result.version} {state}; {result.corpus_examples} corpus + "
        f"{result.agent_examples} agent examples, fitted in {result.fit_seconds:.2f} s"
    )
    return 0


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=TicketSettings,
        app_import="ticket_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["billing.events", "onboarding.events", "escalation.events"],
        commands={
            "sla-scan": ("emit SLA warnings and breaches (once each)", _sla_scan_command),
            "auto-close": ("close tickets solved long enough ago", _auto_close_command),
            "triage-refit": (
                "refit the triage classifier from the corpus and agents' corrections",
                _triage_refit_command,
            ),
        },
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
