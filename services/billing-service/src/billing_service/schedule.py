"""The billing-service's periodic jobs for the in-process scheduler: the renewal scan
and the Stripe reconciliation (the ``renewal-scan`` / ``reconcile-stripe`` commands, run
in every replica's process with one leader each)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from billing_service.config import BillingSettings
from billing_service.renewals import scan as renewals
from billing_service.webhooks.worker import reconcile
from servicekit.clock import StateClock
from servicekit.scheduler import Job


class RenewalScanErrors(RuntimeError):
    """Some renewals could not be handled this run (counted as a failed run; the next
    run retries them, the scan being idempotent)."""


def build_jobs(app: FastAPI, settings: BillingSettings) -> list[Job]:
    async def renewal_scan() -> None:
        report = await renewals.scan(
            db=app.state.db,
            stripe=app.state.stripe,
            clock=StateClock(app.state),
            window_days=settings.renewal_window_days,
            grace_hours=settings.renewal_grace_hours,
            claim_timeout=timedelta(seconds=settings.renewal_claim_timeout_seconds),
        )
        if report.errors:
            raise RenewalScanErrors(f"renewal scan: {report.errors}")

    async def reconcile_stripe() -> None:
        since = StateClock(app.state).now() - timedelta(days=3)
        await reconcile(
            db=app.state.db, stripe=app.state.stripe, worker=app.state.stripe_worker, since=since
        )

    return [
        Job("renewal-scan", settings.renewal_scan_interval_seconds, renewal_scan),
        Job("reconcile-stripe", settings.reconcile_interval_seconds, reconcile_stripe),
    ]
