"""The scan commands as the CronJobs run them, with an injected clock."""

from __future__ import annotations

import argparse
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from onboarding_fixtures import IDENTITY, OPERATOR

from onboarding_service.cli import build_cli, inactive_user_scan, scheduled_suspensions
from onboarding_service.config import OnboardingSettings
from onboarding_service.models import Tenant
from servicekit.db import Database
from servicekit.testing import TestClock


async def test_commands_are_registered_under_their_cronjob_names() -> None:
    assert {"scheduled-suspensions", "inactive-user-scan"} <= set(build_cli().commands)


async def test_scheduled_suspensions_command_applies_due_suspensions(
    client: httpx.AsyncClient,
    new_tenant: Any,
    db: Database,
    onboarding_settings: OnboardingSettings,
    clock: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    ends_at = clock.now() + timedelta(days=5)
    async with db.unit_of_work() as session:
        tenant = await session.get(Tenant, uuid.UUID(tenant_id))
        assert tenant is not None
        tenant.scheduled_suspension_at = ends_at

    code = await scheduled_suspensions(
        onboarding_settings, argparse.Namespace(), clock=TestClock(ends_at + timedelta(hours=1))
    )

    assert code == 0
    assert "1 scheduled suspension(s) applied" in capsys.readouterr().out
    tenant_out = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant_out["status"] == "suspended"
    assert tenant_out["suspension_reason"] == "subscription_canceled"


async def test_inactive_user_scan_command_uses_the_configured_days(
    client: httpx.AsyncClient,
    new_tenant: Any,
    onboarding_settings: OnboardingSettings,
    clock: Any,
) -> None:
    admin = (await new_tenant())["admin_invitation"]
    await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )
    settings = onboarding_settings.model_copy(update={"inactive_after_days": 30})
    later = TestClock(clock.now() + timedelta(days=31))

    assert await inactive_user_scan(settings, argparse.Namespace(), clock=later) == 0

    user = (await client.get(f"/v1/users/{admin['user']['id']}", headers=OPERATOR)).json()
    assert user["status"] == "inactive"
