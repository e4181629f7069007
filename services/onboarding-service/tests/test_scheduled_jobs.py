"""The onboarding-service's own scheduler applies a scheduled suspension when its date
comes, with nobody running the ``scheduled-suspensions`` command."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from onboarding_fixtures import OPERATOR
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from onboarding_service.checklist.repository import stuck_onboardings
from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app
from onboarding_service.models import Tenant
from onboarding_service.schedule import build_jobs
from servicekit.db import Database
from servicekit.testing import TestClock, app_client, eventually


async def test_a_due_scheduled_suspension_is_applied_by_the_scheduler(
    client: httpx.AsyncClient,
    new_tenant: Any,
    db: Database,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    later = TestClock(datetime.now(UTC))
    async with db.unit_of_work() as session:
        tenant = await session.get(Tenant, uuid.UUID(tenant_id))
        assert tenant is not None
        tenant.scheduled_suspension_at = later.now() + timedelta(days=5)
    later.advance(days=5, hours=1)  # the replica's clock is past the date

    settings = onboarding_settings.model_copy(
        update={"run_scheduler": True, "scheduled_suspensions_interval_seconds": 0.1}
    )
    async with app_client(create_app(settings, clock=later)) as replica:

        async def suspended() -> None:
            tenant_out = (await replica.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
            assert tenant_out["status"] == "suspended"
            assert tenant_out["suspension_reason"] == "subscription_canceled"

        await eventually(suspended, timeout=15)


async def test_the_stuck_onboarding_scan_counts_overdue_checklists(
    new_tenant: Any, db: Database, onboarding_settings: OnboardingSettings
) -> None:
    await new_tenant()  # its checklist steps are due within weeks, none done
    much_later = TestClock(datetime.now(UTC) + timedelta(days=400))
    replica = SimpleNamespace(state=SimpleNamespace(db=db, clock=much_later))
    jobs = {job.name: job for job in build_jobs(replica, onboarding_settings)}

    await jobs["stuck-onboarding-scan"].run()

    stuck = REGISTRY.get_sample_value("onboarding_stuck_tenants", {"service": "onboarding-service"})
    assert stuck is not None and stuck >= 1
    now = TestClock(datetime.now(UTC))  # fewer are overdue today: the tenant created now is not
    async with db.unit_of_work() as session:
        later_count = await session.scalar(
            select(func.count()).select_from(stuck_onboardings(much_later.now()).subquery())
        )
        today_count = await session.scalar(
            select(func.count()).select_from(stuck_onboardings(now.now()).subquery())
        )
    assert later_count == stuck
    assert today_count is not None and today_count < later_count
