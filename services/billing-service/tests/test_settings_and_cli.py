"""Settings refuse placeholder Stripe secrets in production; the CronJob commands run."""

from __future__ import annotations

import argparse
import json

import pytest
from billing_fixtures import BillingApp

from billing_service.cli import reconcile_stripe, renewal_scan
from billing_service.config import BillingSettings


def test_production_refuses_placeholder_stripe_secrets() -> None:
    with pytest.raises(ValueError, match=r"STRIPE_API_KEY.*STRIPE_WEBHOOK_SECRET"):
        BillingSettings(environment="production", jwt_secret="x" * 40)
    real = BillingSettings(
        environment="production",
        jwt_secret="x" * 40,
        stripe_api_key="sk_live_" + "a" * 24,
        stripe_webhook_secret="whsec_" + "b" * 32,
    )
    assert real.stripe_base is None  # the real api.stripe.com
    assert BillingSettings(environment="test").stripe_base == "http://127.0.0.1:12111"


async def test_cron_commands_run_against_the_database(
    billing: BillingApp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await renewal_scan(billing.settings, argparse.Namespace()) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"upcoming", "invoiced", "at_risk", "overdue", "errors"}
    assert await reconcile_stripe(billing.settings, argparse.Namespace()) == 0
    assert json.loads(capsys.readouterr().out)["listed"] >= 1
