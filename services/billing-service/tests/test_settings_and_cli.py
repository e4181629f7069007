"""Settings refuse placeholder Stripe secrets in production; the CronJob commands run."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from billing_fixtures import ADMIN, BillingApp, active_subscription, of_tenant

from billing_service.cli import build_cli, reconcile_stripe, renewal_scan, seed_plans
from billing_service.config import BillingSettings
from billing_service.plans.service import DEFAULT_PLANS
from servicekit.testing import read_topic


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


async def test_events_a_command_emits_name_the_billing_service_as_their_source(
    billing: BillingApp, plan: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The renewal-scan CronJob's events are the billing-service's (CloudEvents ``source``),
    as the same scan's are when run through the API."""
    sub, _, _ = await active_subscription(billing, plan, period_days=10)  # inside the window
    assert await renewal_scan(billing.settings, argparse.Namespace()) == 0
    assert json.loads(capsys.readouterr().out)["upcoming"] >= 1
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, sub["tenant_id"], "renewal.upcoming")),
    )
    (upcoming,) = of_tenant(envelopes, sub["tenant_id"], "renewal.upcoming")
    assert upcoming.source == "billing-service"
