"""Settings refuse placeholder Stripe secrets in production; the CronJob commands run."""

from __future__ import annotations

import argparse
import json

import pytest
from billing_fixtures import ADMIN, BillingApp

from billing_service.cli import build_cli, reconcile_stripe, renewal_scan, seed_plans
from billing_service.config import BillingSettings
from billing_service.plans.service import DEFAULT_PLANS


def test_production_refuses_placeholder_stripe_secrets() -> None:
    with pytest.raises(ValueError, match=r"STRIPE_API_KEY.*STRIPE_WEBHOOK_SECRET"):
        BillingSettings(environment="production", jwt_secret="x" * 40)
    real = BillingSettings(
        environment="production",
        jwt_secret="x" * 40,
        stripe_api_key="sk_live_" + "a" * 24,
        stripe_webhook_secret="whsec_" + "b" * 32,
        database_url="postgresql+asyncpg://billing:" + "c" * 24 + "@db/billing",
        kafka_bootstrap_servers="kafka.internal:9093",
        smtp_url="smtp://relay.internal:25",
        mail_from="Billing <billing@example.com>",
    )
    assert real.stripe_base is None  # the real api.stripe.com
    assert BillingSettings(environment="test").stripe_base == "http://127.0.0.1:12111"


async def test_cron_commands_run_against_the_database(
    billing: BillingApp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await renewal_scan(billing.settings, argparse.Namespace()) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "upcoming",
        "invoiced",
        "at_risk",
        "overdue",
        "payment_methods_checked",
        "errors",
    }
    assert await reconcile_stripe(billing.settings, argparse.Namespace()) == 0
    assert json.loads(capsys.readouterr().out)["listed"] >= 1


async def test_seed_plans_command_seeds_every_default_plan_idempotently(
    billing: BillingApp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "seed-plans" in build_cli().commands
    for _ in range(2):
        assert await seed_plans(billing.settings, argparse.Namespace()) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    codes = sorted(p.code for p in DEFAULT_PLANS)
    assert sorted(first["created"] + first["existing"]) == codes
    assert (second["created"], sorted(second["existing"]), second["on_stripe"]) == ([], codes, [])
    listed = await billing.client.get("/v1/plans?archived=false&limit=200", headers=ADMIN)
    seeded = {p["code"]: p for p in listed.json()["items"] if p["code"] in codes}
    assert set(seeded) == set(codes)
    assert all(p["stripe_price_id"].startswith("price_") for p in seeded.values())
