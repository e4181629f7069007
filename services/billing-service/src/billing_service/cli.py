"""``billing-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

from billing_service.config import BillingSettings
from billing_service.main import PRODUCES, SERVICE_NAME, build_stripe
from billing_service.plans import service as plans
from billing_service.renewals import scan as renewals
from billing_service.webhooks.worker import StripeWorker, reconcile
from servicekit.cli import ServiceCli, command_database
from servicekit.clock import SystemClock
from servicekit.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def renewal_scan(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """For a Kubernetes CronJob: idempotent, safe to overlap with another run."""
    assert isinstance(settings, BillingSettings)
    async with command_database(settings, SERVICE_NAME) as db:
        report = await renewals.scan(
            db=db,
            stripe=build_stripe(settings),
            clock=SystemClock(),
            window_days=settings.renewal_window_days,
            grace_hours=settings.renewal_grace_hours,
            claim_timeout=timedelta(seconds=settings.renewal_claim_timeout_seconds),
        )
    print(json.dumps(report.__dict__))
    return 1 if report.errors else 0


async def reconcile_stripe(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Store and process the last 3 days of Stripe events that never arrived as webhooks,
    and re-drive intents left pending by a crash."""
    assert isinstance(settings, BillingSettings)
    stripe = build_stripe(settings)
    async with command_database(settings, SERVICE_NAME) as db:
        worker = StripeWorker(db=db, stripe=stripe, clock=SystemClock(), poll_seconds=1.0)
        listed, stored = await reconcile(
            db=db, stripe=stripe, worker=worker, since=SystemClock().now() - timedelta(days=3)
        )
    print(json.dumps({"listed": listed, "stored": stored}))
    return 0


async def seed_plans(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """The default plan set (one monthly and one yearly plan per tier), on Stripe too.
    Idempotent: run by ``make up`` on every start; plans that exist are left alone."""
    assert isinstance(settings, BillingSettings)
    async with command_database(settings, SERVICE_NAME) as db:
        report = await plans.seed_plans(db=db, stripe=build_stripe(settings))
    print(json.dumps(report.__dict__))
    return 0


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=BillingSettings,
        app_import="billing_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["onboarding.events"],
        commands={
            "renewal-scan": (
                "emit renewal events and issue missing renewal invoices",
                renewal_scan,
            ),
            "reconcile-stripe": ("process Stripe events that never arrived", reconcile_stripe),
            "seed-plans": (
                "create the default plans (and their Stripe products and prices) if missing",
                seed_plans,
            ),
        },
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
