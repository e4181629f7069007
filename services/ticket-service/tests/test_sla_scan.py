"""SLA clocks on tickets, the ``sla-scan`` and ``auto-close`` commands, with a moved clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import ADMIN, AGENT, Service, error_fields, open_ticket, problem

from servicekit.testing import TestClock, payload
from supportops_events.tickets import TicketSlaBreached
from ticket_service.cli import run_auto_close, run_sla_scan

NY = ZoneInfo("America/New_York")


@pytest.fixture
def clock(svc: Service) -> Iterator[TestClock]:
    moving = TestClock(datetime(2026, 3, 6, 9, 0, tzinfo=NY))  # Friday before spring DST
    svc.app.state.clock = moving
    yield moving
    del svc.app.state.clock


async def test_sla_scan_warns_then_breaches_once_each_across_dst(
    svc: Service, clock: TestClock
) -> None:
    # high priority, no plan tier: first response within 240 business minutes
    ticket = await open_ticket(
        svc.client, await svc.tenant(), subject="Login", body="password rejected"
    )
    assert ticket["priority"] == "high"
    url = f"/v1/tickets/{ticket['id']}"

    clock.set(datetime(2026, 3, 6, 12, 30, tzinfo=NY))  # 210 minutes in: 30 left
    sla = (await svc.client.get(url, headers=AGENT)).json()["sla"]
    assert sla["first_response"]["state"] == "warning"
    assert sla["first_response"]["remaining_minutes"] == 30
    assert sla["first_response"]["due_at"] == "2026-03-06T18:00:00Z"  # 13:00 EST

    assert await run_sla_scan(svc.settings, clock=clock) == {"warning": 1, "breached": 0}
    assert await run_sla_scan(svc.settings, clock=clock) == {"warning": 0, "breached": 0}
    warned = await svc.client.get(
        f"/v1/tickets?tenant_id={ticket['tenant_id']}&sla_state=warning", headers=AGENT
    )
    assert [t["id"] for t in warned.json()["items"]] == [ticket["id"]]

    # put on pending over the weekend; the clock pauses
    etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
    clock.set(datetime(2026, 3, 6, 12, 45, tzinfo=NY))
    await svc.client.patch(url, json={"status": "pending"}, headers={**AGENT, "If-Match": etag})
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=NY))  # Monday, now EDT
    paused = (await svc.client.get(url, headers=AGENT)).json()["sla"]["first_response"]
    assert (paused["state"], paused["elapsed_minutes"]) == ("paused", 225)
    etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
    await svc.client.patch(url, json={"status": "open"}, headers={**AGENT, "If-Match": etag})
    resumed = (await svc.client.get(url, headers=AGENT)).json()["sla"]["first_response"]
    assert resumed["due_at"] == "2026-03-09T13:15:00Z"  # 09:15 EDT: 15 minutes were left

    clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=NY))
    assert await run_sla_scan(svc.settings, clock=clock) == {"warning": 0, "breached": 1}
    assert await run_sla_scan(svc.settings, clock=clock) == {"warning": 0, "breached": 0}
    for state, expected in (("warning", []), ("breached", [ticket["id"]])):
        listed = await svc.client.get(
            f"/v1/tickets?tenant_id={ticket['tenant_id']}&sla_state={state}", headers=AGENT
        )
        assert [t["id"] for t in listed.json()["items"]] == expected
    events = await svc.events_of(
        "tickets.events",
        subject=ticket["id"],
        count=2,
        types={"ticket.sla_warning", "ticket.sla_breached"},
    )
    assert [e.type for e in events] == ["ticket.sla_warning", "ticket.sla_breached"]
    assert payload(events[1], TicketSlaBreached).due_at == datetime(2026, 3, 9, 13, 15, tzinfo=UTC)
    detail = (await svc.client.get(url, headers=AGENT)).json()
    assert [e["action"] for e in detail["timeline"] if e["action"].startswith("sla_")] == [
        "sla_warning",
        "sla_breached",
    ]


async def test_auto_close_closes_tickets_solved_long_ago(svc: Service, clock: TestClock) -> None:
    ticket = await open_ticket(svc.client, await svc.tenant())
    url = f"/v1/tickets/{ticket['id']}"
    etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
    await svc.client.patch(url, json={"status": "solved"}, headers={**AGENT, "If-Match": etag})
    clock.set(datetime(2026, 3, 8, 9, 0, tzinfo=NY))  # two days later: not yet
    await run_auto_close(svc.settings, clock=clock)
    assert (await svc.client.get(url, headers=AGENT)).json()["status"] == "solved"
    clock.set(datetime(2026, 3, 11, 9, 0, tzinfo=NY))  # five days later
    assert await run_auto_close(svc.settings, clock=clock) >= 1
    assert (await svc.client.get(url, headers=AGENT)).json()["status"] == "closed"


async def test_calendars_and_policies_drive_the_clock(svc: Service, clock: TestClock) -> None:
    t = await svc.tenant()
    calendar = {
        "id": f"cal-{t}",
        "name": "Berlin",
        "timezone": "Europe/Berlin",
        "workdays": [0, 1, 2, 3, 4],
        "opens": "08:00",
        "closes": "16:00",
        "holidays": ["2026-03-06"],
    }
    bad_zone = {**calendar, "timezone": "Mars/Olympus"}
    assert "timezone" in error_fields(
        problem(await svc.client.post("/v1/business-calendars", json=bad_zone, headers=ADMIN), 422)
    )
    backwards = {**calendar, "opens": "17:00"}
    problem(await svc.client.post("/v1/business-calendars", json=backwards, headers=ADMIN), 422)
    created = await svc.client.post("/v1/business-calendars", json=calendar, headers=ADMIN)
    assert created.status_code == 201, created.text

    policies = (await svc.client.get("/v1/sla-policies?limit=200", headers=AGENT)).json()
    urgent = next(
        p for p in policies["items"] if (p["plan_tier"], p["priority"]) == ("default", "urgent")
    )
    assert urgent["first_response_minutes"] == 60
    policy_url = f"/v1/sla-policies/{urgent['id']}"
    stale = await svc.client.patch(
        policy_url, json={"calendar_id": calendar["id"]}, headers={**ADMIN, "If-Match": '"99"'}
    )
    problem(stale, 412)
    moved = await svc.client.patch(
        policy_url,
        json={"calendar_id": calendar["id"], "first_response_minutes": 90},
        headers={**ADMIN, "If-Match": f'"{urgent["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    try:
        # an urgent ticket at Friday 09:00 New York = 15:00 Berlin, a Berlin holiday
        ticket = await open_ticket(svc.client, t)
        url = f"/v1/tickets/{ticket['id']}"
        etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
        await svc.client.patch(
            url, json={"priority": "urgent"}, headers={**AGENT, "If-Match": etag}
        )
        sla = (await svc.client.get(url, headers=AGENT)).json()["sla"]["first_response"]
        assert sla["target_minutes"] == 90
        assert sla["due_at"] == "2026-03-09T08:30:00Z"  # Monday 09:30 Berlin (CET)
    finally:
        await svc.client.patch(
            policy_url,
            json={"calendar_id": "default", "first_response_minutes": 60},
            headers={**ADMIN, "If-Match": f'"{urgent["version"] + 1}"'},
        )
