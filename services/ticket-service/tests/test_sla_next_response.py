"""The next-response clock, pauses, and the live SLA state of lists (with a moved clock).

Times are in January 2027 so that no ticket of another test module (created at the real
time, or in March 2026) is ever due at the moments these tests scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import (
    ADMIN,
    AGENT,
    Service,
    error_fields,
    open_ticket,
    patch_ticket,
    post_message,
    problem,
)

from servicekit.testing import TestClock, auth, eventually, payload, send_events
from supportops_events.samples import sample
from supportops_events.tickets import TicketSlaBreached, TicketSlaWarning
from ticket_service.cli import run_sla_scan

NY = ZoneInfo("America/New_York")

SLA_EVENTS: dict[str, type[TicketSlaWarning] | type[TicketSlaBreached]] = {
    "ticket.sla_warning": TicketSlaWarning,
    "ticket.sla_breached": TicketSlaBreached,
}


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=NY)


@pytest.fixture
def clock(svc: Service) -> Iterator[TestClock]:
    moving = TestClock(ny(4, 9))  # Monday 4 January 2027, 09:00 EST
    svc.app.state.clock = moving
    yield moving
    del svc.app.state.clock


async def _detail(svc: Service, ticket_id: str) -> dict[str, Any]:
    response = await svc.client.get(f"/v1/tickets/{ticket_id}", headers=AGENT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _listed(svc: Service, tenant_id: str, sla_state: str) -> list[dict[str, Any]]:
    response = await svc.client.get(
        "/v1/tickets", params={"tenant_id": tenant_id, "sla_state": sla_state}, headers=AGENT
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_next_response_cycles_warn_breach_pause_and_stop(
    svc: Service, clock: TestClock
) -> None:
    t = await svc.tenant()
    customer = auth("agent", tenant_id=t, subject="pat@example.com")
    ticket = await open_ticket(svc.client, t, headers=customer)
    tid = ticket["id"]
    await patch_ticket(svc.client, tid, {"priority": "urgent"})  # 60 business minutes each
    assert (await _detail(svc, tid))["sla"]["next_response"] is None

    clock.set(ny(4, 9, 30))
    await post_message(svc.client, tid, AGENT, "Could you send a screenshot?")
    clock.set(ny(4, 10))
    await post_message(svc.client, tid, customer, "Here it is.")
    sla = (await _detail(svc, tid))["sla"]
    assert sla["first_response"]["state"] == "met"
    assert sla["next_response"]["state"] == "running"
    assert sla["next_response"]["waiting_since"] == "2027-01-04T15:00:00Z"
    assert sla["next_response"]["due_at"] == "2027-01-04T16:00:00Z"  # 11:00 EST

    # live, without any scan: 10 minutes left is a warning, then a breach
    clock.set(ny(4, 10, 50))
    detail = await _detail(svc, tid)
    assert (detail["sla"]["state"], detail["sla_state"]) == ("warning", "warning")
    assert detail["sla"]["next_response"]["remaining_minutes"] == 10
    (warned,) = await _listed(svc, t, "warning")
    assert warned["id"] == tid and warned["sla_state"] == "warning"
    assert warned["sla_due_at"] == "2027-01-04T16:00:00Z"
    assert await _listed(svc, t, "breached") == []
    clock.set(ny(4, 11, 5))
    assert [i["id"] for i in await _listed(svc, t, "breached")] == [tid]
    assert await _listed(svc, t, "warning") == []

    await run_sla_scan(svc.settings, clock=clock)
    await run_sla_scan(svc.settings, clock=clock)  # nothing twice

    # the agent answers late: the wait is over (missed), the ticket is no longer breached
    clock.set(ny(4, 11, 10))
    await post_message(svc.client, tid, AGENT, "Thanks, we are on it.")
    sla = (await _detail(svc, tid))["sla"]
    assert sla["next_response"]["state"] == "missed"
    assert sla["next_response"]["answered_at"] == "2027-01-04T16:10:00Z"
    assert sla["state"] == "running"  # resolution still runs
    assert await _listed(svc, t, "breached") == []
    assert [i["sla_state"] for i in await _listed(svc, t, "running")] == ["running"]

    # a second wait; pending pauses it overnight
    clock.set(ny(4, 11, 20))
    await post_message(svc.client, tid, customer, "Any news?")
    clock.set(ny(4, 11, 30))
    await patch_ticket(svc.client, tid, {"status": "pending"})
    clock.set(ny(5, 9))
    sla = (await _detail(svc, tid))["sla"]
    assert sla["next_response"]["cycles"] == 2
    assert (sla["next_response"]["state"], sla["next_response"]["elapsed_minutes"]) == (
        "paused",
        10,
    )
    assert sla["next_response"]["due_at"] is None
    assert [i["id"] for i in await _listed(svc, t, "paused")] == [tid]
    await patch_ticket(svc.client, tid, {"status": "open"})
    sla = (await _detail(svc, tid))["sla"]
    assert sla["next_response"]["due_at"] == "2027-01-05T14:50:00Z"  # 50 minutes were left

    clock.set(ny(5, 9, 40))
    await run_sla_scan(svc.settings, clock=clock)
    clock.set(ny(5, 9, 45))
    await post_message(svc.client, tid, AGENT, "Fixed on our side.")
    sla = (await _detail(svc, tid))["sla"]
    assert sla["next_response"]["state"] == "met"
    # 09:00-11:30 Monday and 09:00-09:45 Tuesday; the pending night does not count
    assert sla["resolution"]["elapsed_minutes"] == 150 + 45

    events = await svc.events_of(
        "tickets.events",
        subject=tid,
        count=2,
        types={"ticket.sla_warning", "ticket.sla_breached"},
    )
    assert [(e.type, payload(e, SLA_EVENTS[e.type]).metric) for e in events] == [
        ("ticket.sla_breached", "next_response"),
        ("ticket.sla_warning", "next_response"),
    ]
    assert payload(events[0], TicketSlaBreached).due_at == datetime(2027, 1, 4, 16, 0, tzinfo=UTC)
    assert payload(events[1], TicketSlaWarning).due_at == datetime(2027, 1, 5, 14, 50, tzinfo=UTC)
    notes = [
        e
        for e in (await _detail(svc, tid))["timeline"]
        if e["action"] in ("sla_warning", "sla_breached")
    ]
    assert [(n["action"], n["data"]["metric"]) for n in notes] == [
        ("sla_breached", "next_response"),
        ("sla_warning", "next_response"),
    ]
    assert notes[0]["data"]["cycle"] != notes[1]["data"]["cycle"]  # one per wait


async def test_a_clock_stopped_after_its_due_time_publishes_its_breach_once(
    svc: Service, clock: TestClock
) -> None:
    ticket = await open_ticket(svc.client, await svc.tenant())
    tid = ticket["id"]
    await patch_ticket(svc.client, tid, {"priority": "urgent"})
    clock.set(ny(4, 10, 30))  # no scan ran; the first reply is 30 minutes late
    await post_message(svc.client, tid, AGENT, "Sorry for the wait.")
    assert (await _detail(svc, tid))["sla"]["first_response"]["state"] == "missed"
    await run_sla_scan(svc.settings, clock=clock)
    (breach,) = await svc.events_of(
        "tickets.events", subject=tid, count=1, types={"ticket.sla_breached"}
    )
    assert payload(breach, TicketSlaBreached).metric == "first_response"
    assert payload(breach, TicketSlaBreached).breached_at == datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
    timeline = (await _detail(svc, tid))["timeline"]
    assert [e["action"] for e in timeline].count("sla_breached") == 1


async def test_changed_targets_move_the_deadlines_of_open_tickets(
    svc: Service, clock: TestClock
) -> None:
    t = await svc.tenant()
    ticket = await open_ticket(svc.client, t)
    tid = ticket["id"]
    await patch_ticket(svc.client, tid, {"priority": "urgent"})
    clock.set(ny(4, 9, 10))
    await post_message(svc.client, tid, AGENT, "Hello!")
    customer = auth("agent", tenant_id=t, subject="pat@example.com")
    await post_message(svc.client, tid, customer, "Hi again")
    clock.set(ny(4, 9, 30))  # 20 minutes into a 60-minute wait
    assert [i["sla_state"] for i in await _listed(svc, t, "running")] == ["running"]

    policies = (await svc.client.get("/v1/sla-policies?limit=200", headers=AGENT)).json()
    urgent = next(
        p for p in policies["items"] if (p["plan_tier"], p["priority"]) == ("default", "urgent")
    )
    assert urgent["next_response_minutes"] == 60
    url = f"/v1/sla-policies/{urgent['id']}"
    bad = await svc.client.patch(
        url, json={"next_response_minutes": 0}, headers={**ADMIN, "If-Match": "*"}
    )
    assert "next_response_minutes" in error_fields(problem(bad, 422))
    changed = await svc.client.patch(
        url,
        json={"next_response_minutes": 15},
        headers={**ADMIN, "If-Match": f'"{urgent["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    try:
        # the stored deadlines moved with the policy: breached now, in the list too
        (item,) = await _listed(svc, t, "breached")
        assert item["id"] == tid and item["sla_due_at"] == "2027-01-04T14:25:00Z"
        nr = (await _detail(svc, tid))["sla"]["next_response"]
        assert (nr["target_minutes"], nr["state"]) == (15, "breached")
    finally:
        restored = await svc.client.patch(
            url,
            json={"next_response_minutes": 60},
            headers={**ADMIN, "If-Match": f'"{urgent["version"] + 1}"'},
        )
        assert restored.status_code == 200, restored.text
    assert [i["id"] for i in await _listed(svc, t, "running")] == [tid]


async def test_a_plan_tier_change_retargets_the_tenants_open_tickets(svc: Service) -> None:
    t = await svc.tenant()
    ticket = await open_ticket(svc.client, t)  # the real clock: consumers use it too
    tid = ticket["id"]
    await patch_ticket(svc.client, tid, {"priority": "urgent"})
    before = await _detail(svc, tid)
    assert before["sla"]["first_response"]["target_minutes"] == 60
    await send_events(
        [sample("subscription.updated", tenant_id=t, plan_tier="enterprise")], prefix=svc.prefix
    )

    async def retargeted() -> dict[str, Any]:
        listed = (await svc.client.get(f"/v1/tickets?tenant_id={t}", headers=AGENT)).json()
        (item,) = listed["items"]
        assert item["sla_due_at"] != before["sla_due_at"]
        return item

    item = await eventually(retargeted)
    after = (await _detail(svc, tid))["sla"]["first_response"]
    assert after["target_minutes"] == 30  # enterprise: half the default
    assert item["sla_due_at"] == after["due_at"]  # the stored deadline is the live one


async def test_bad_sla_state_filter_is_a_422(svc: Service) -> None:
    bad = await svc.client.get("/v1/tickets?sla_state=late", headers=AGENT)
    assert "sla_state" in error_fields(problem(bad, 422))
