"""The tenant's time zone (from ``tenant.*`` events) moves the resolution deadline onto
the tenant's business day; the response clocks stay on support's (US Eastern) day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import AGENT, Service, open_ticket, patch_ticket, post_message

from servicekit.testing import TestClock, known_tenant

NY = ZoneInfo("America/New_York")


@pytest.fixture
def clock(svc: Service) -> Iterator[TestClock]:
    # Friday 27 March 2026 09:00 New York: the US is on summer time since 8 March,
    # Berlin moves on Sunday 29 March, so Berlin is 5 hours ahead today and 6 on Monday
    moving = TestClock(datetime(2026, 3, 27, 9, 0, tzinfo=NY))
    svc.app.state.clock = moving
    yield moving
    del svc.app.state.clock


async def _urgent_sla(svc: Service, tenant_id: str) -> dict[str, Any]:
    ticket = await open_ticket(svc.client, tenant_id)
    await patch_ticket(svc.client, ticket["id"], {"priority": "urgent"})
    response = await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)
    sla: dict[str, Any] = response.json()["sla"]
    return sla | {"ticket_id": ticket["id"]}


async def _listed_due(svc: Service, tenant_id: str) -> str:
    listed = await svc.client.get(f"/v1/tickets?tenant_id={tenant_id}", headers=AGENT)
    (item,) = listed.json()["items"]
    due: str = item["sla_due_at"]
    return due


async def test_resolution_due_follows_the_tenants_zone_across_dst(
    svc: Service, clock: TestClock
) -> None:
    new_york = await svc.tenant(timezone="America/New_York")
    berlin = await svc.tenant(timezone="Europe/Berlin")
    account = (await svc.client.get(f"/v1/accounts/{berlin}", headers=AGENT)).json()
    assert account["timezone"] == "Europe/Berlin"

    # urgent, default tier: first response 60, resolution 480 business minutes
    ny_sla, berlin_sla = await _urgent_sla(svc, new_york), await _urgent_sla(svc, berlin)

    # first response: support's day, whatever the tenant's zone (10:00 EDT)
    assert ny_sla["first_response"]["due_at"] == "2026-03-27T14:00:00Z"
    assert berlin_sla["first_response"]["due_at"] == "2026-03-27T14:00:00Z"
    # resolution in New York: the rest of Friday, 17:00 EDT
    assert ny_sla["resolution"]["due_at"] == "2026-03-27T21:00:00Z"
    # in Berlin: 14:00-17:00 CET Friday, then 5 hours from Monday 09:00 CEST = 14:00 CEST
    assert berlin_sla["resolution"]["due_at"] == "2026-03-30T12:00:00Z"
    # each clock names its zone and shows its deadline there for the tenant-facing view
    assert berlin_sla["resolution"]["timezone"] == "Europe/Berlin"
    assert berlin_sla["resolution"]["due_local"] == "2026-03-30T14:00:00+02:00"
    assert berlin_sla["first_response"]["timezone"] == "America/New_York"
    assert berlin_sla["first_response"]["due_local"] == "2026-03-27T10:00:00-04:00"

    # answered: the next deadline lists show is the resolution's, in Berlin
    await post_message(svc.client, berlin_sla["ticket_id"], AGENT, "Looking into it")
    assert await _listed_due(svc, berlin) == "2026-03-30T12:00:00Z"

    # a later tenant event with another zone moves the open ticket's deadline
    await known_tenant(svc.app, berlin, event_type="tenant.updated", timezone="Asia/Tokyo")
    url = f"/v1/tickets/{berlin_sla['ticket_id']}"
    moved = (await svc.client.get(url, headers=AGENT)).json()["sla"]
    # Friday 22:00 JST is after hours: 8 hours from Monday 09:00 JST = 17:00 JST
    assert moved["resolution"]["due_at"] == "2026-03-30T08:00:00Z"
    assert moved["first_response"]["state"] == "met"
    # and the stored deadline (lists, the SLA scan) moved with it
    assert await _listed_due(svc, berlin) == "2026-03-30T08:00:00Z"

    # an event without the zone (a producer before it was carried) keeps the one we hold
    await known_tenant(svc.app, berlin, timezone=None)
    account = (await svc.client.get(f"/v1/accounts/{berlin}", headers=AGENT)).json()
    assert account["timezone"] == "Asia/Tokyo"
