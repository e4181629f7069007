"""``POST /v1/scans/scheduled-suspensions``: the CronJob's scan through REST."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from onboarding_fixtures import OPERATOR

from onboarding_service.models import Tenant
from servicekit.db import Database
from servicekit.testing import auth, payload
from supportops_events import onboarding as ev


async def _schedule(db: Database, tenant_id: str, at: datetime) -> None:
    async with db.unit_of_work() as session:
        tenant = await session.get(Tenant, uuid.UUID(tenant_id))
        assert tenant is not None
        tenant.scheduled_suspension_at = at


async def test_scan_suspends_only_tenants_whose_date_came(
    client: httpx.AsyncClient, new_tenant: Any, db: Database, clock: Any, published: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    await _schedule(db, tenant_id, clock.now() + timedelta(days=1))

    early = await client.post("/v1/scans/scheduled-suspensions", headers=OPERATOR)
    assert early.status_code == 200, early.text
    assert set(early.json()) == {"scanned_at", "suspended", "churned"}
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "active" and tenant["scheduled_suspension_at"] is not None

    await _schedule(db, tenant_id, clock.now() - timedelta(minutes=1))
    due = await client.post("/v1/scans/scheduled-suspensions", headers=OPERATOR)
    assert due.status_code == 200, due.text
    assert due.json()["suspended"] >= 1
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "suspended", tenant
    assert tenant["suspension_reason"] == "subscription_canceled"
    assert tenant["scheduled_suspension_at"] is None
    (suspended,) = [
        e for e in await published(tenant_id, "tenant.suspended") if e.type == "tenant.suspended"
    ]
    assert payload(suspended, ev.TenantSuspended).reason.value == "subscription_canceled"


async def test_scan_is_for_unscoped_operators_only(client: httpx.AsyncClient) -> None:
    scoped = await client.post(
        "/v1/scans/scheduled-suspensions",
        headers=auth("onboarding", tenant_id=str(uuid.uuid4())),
    )
    assert scoped.status_code == 403
    assert scoped.headers["content-type"].startswith("application/problem+json")
    agent = await client.post("/v1/scans/scheduled-suspensions", headers=auth("agent"))
    assert agent.status_code == 403
    anonymous = await client.post("/v1/scans/scheduled-suspensions")
    assert anonymous.status_code == 401
