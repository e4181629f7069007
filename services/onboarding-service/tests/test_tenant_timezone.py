"""The tenant's time zone (``configuration.timezone``): US Eastern unless set, validated
as an IANA name, and carried on every ``tenant.*`` event so the ticket service can put
the resolution clock on the tenant's business day."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
from alembic.migration import MigrationContext
from alembic.operations import Operations
from onboarding_fixtures import OPERATOR, tenant_body
from sqlalchemy import Connection

import onboarding_service
from servicekit.db import Database
from servicekit.testing import payload
from supportops_events import onboarding as ev

MIGRATIONS = Path(onboarding_service.__file__).parent / "migrations" / "versions"


async def test_a_tenant_without_a_zone_is_on_new_york_time(
    client: httpx.AsyncClient, published: Any
) -> None:
    response = await client.post(
        "/v1/tenants", json=tenant_body(configuration={"locale": "en-US"}), headers=OPERATOR
    )
    assert response.status_code == 201, response.text
    tenant = response.json()["tenant"]
    assert tenant["configuration"]["timezone"] == "America/New_York"

    events = await published(tenant["id"], "tenant.created")
    created = payload(next(e for e in events if e.type == "tenant.created"), ev.TenantCreated)
    assert created.timezone == "America/New_York"


async def test_the_zone_set_on_create_and_patch_travels_on_tenant_events(
    client: httpx.AsyncClient, published: Any
) -> None:
    body = tenant_body(configuration={"timezone": "Asia/Tokyo"})
    created = await client.post("/v1/tenants", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    tenant_id = created.json()["tenant"]["id"]
    url = f"/v1/tenants/{tenant_id}"

    unknown = await client.patch(
        url,
        json={"configuration": {"timezone": "Europe/Atlantis"}},
        headers={**OPERATOR, "If-Match": created.headers["ETag"]},
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in unknown.json()["errors"]] == ["configuration.timezone"]

    moved = await client.patch(
        url,
        json={"configuration": {"timezone": "Europe/Berlin"}},
        headers={**OPERATOR, "If-Match": created.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["configuration"]["timezone"] == "Europe/Berlin"
    activated = await client.post(f"{url}/status", json={"status": "active"}, headers=OPERATOR)
    assert activated.status_code == 200, activated.text

    events = await published(tenant_id, "tenant.created", "tenant.updated", "tenant.activated")
    zones = {e.type: e.data.timezone for e in events if isinstance(e.data, ev.TenantEvent)}
    assert zones["tenant.created"] == "Asia/Tokyo"
    # the PATCH itself is announced, so the ticket service need not wait for a status change
    assert zones["tenant.updated"] == "Europe/Berlin"
    assert zones["tenant.activated"] == "Europe/Berlin"
    updated = payload(next(e for e in events if e.type == "tenant.updated"), ev.TenantUpdated)
    assert updated.status == "pending"
    assert updated.changed == ["timezone"]


async def test_a_patch_that_changes_no_announced_setting_publishes_nothing(
    client: httpx.AsyncClient, published: Any
) -> None:
    created = await client.post("/v1/tenants", json=tenant_body(), headers=OPERATOR)
    tenant_id = created.json()["tenant"]["id"]
    url = f"/v1/tenants/{tenant_id}"
    etag = created.headers["ETag"]
    same = await client.patch(
        url, json={"configuration": {"locale": "de-DE"}}, headers={**OPERATOR, "If-Match": etag}
    )
    assert same.status_code == 200, same.text
    renamed = await client.patch(
        url,
        json={"company_name": "Initech"},
        headers={**OPERATOR, "If-Match": same.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.text

    events = await published(tenant_id, "tenant.updated")
    updates = [payload(e, ev.TenantUpdated) for e in events if e.type == "tenant.updated"]
    assert [(u.changed, u.company_name) for u in updates] == [(["company_name"], "Initech")]


async def test_migration_moves_the_old_utc_default_to_new_york(
    client: httpx.AsyncClient, onboarding_db_url: str
) -> None:
    ids = {}
    for zone in ("UTC", "Asia/Tokyo"):
        body = tenant_body(configuration={"timezone": zone})
        created = await client.post("/v1/tenants", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
        ids[zone] = created.json()["tenant"]["id"]

    db = Database(onboarding_db_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await db.dispose()

    async def zone_of(tenant_id: str) -> str:
        response = await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)
        zone: str = response.json()["configuration"]["timezone"]
        return zone

    # UTC was stored for every tenant that named no zone: it keeps its deadlines
    assert await zone_of(ids["UTC"]) == "America/New_York"
    assert await zone_of(ids["Asia/Tokyo"]) == "Asia/Tokyo"


def _upgrade(connection: Connection) -> None:
    path = MIGRATIONS / "20261206_tz_timezone_default.py"
    spec = importlib.util.spec_from_file_location("tz_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Operations.context(MigrationContext.configure(connection)):
        module.upgrade()
