"""SLA warnings and breaches with nobody running anything: the service's own scheduler
scans on an interval (short here) at the injected clock, and the events reach Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import AGENT, Service, open_ticket

from servicekit.testing import TestClock, app_client, payload, topic_prefix
from supportops_events.tickets import TicketSlaWarning
from ticket_service.config import TicketSettings
from ticket_service.main import create_app

NY = ZoneInfo("America/New_York")


@pytest.fixture
async def scheduled(ticket_db_url: str) -> AsyncIterator[tuple[Service, TestClock]]:
    settings = TicketSettings(
        database_url=ticket_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        run_scheduler=True,
        sla_scan_interval_seconds=0.1,
    )
    app = create_app(settings)
    clock = TestClock(datetime(2026, 3, 4, 9, 0, tzinfo=NY))  # a Wednesday
    app.state.clock = clock
    async with app_client(app) as client:
        yield (
            Service(client=client, app=app, prefix=settings.kafka_topic_prefix, settings=settings),
            clock,
        )


async def test_the_scheduler_emits_sla_warning_then_breach_on_its_own(
    scheduled: tuple[Service, TestClock],
) -> None:
    svc, clock = scheduled
    ticket = await open_ticket(
        svc.client, await svc.tenant(), subject="Login", body="password rejected"
    )
    assert ticket["priority"] == "high"  # first response within 240 business minutes
    url = f"/v1/tickets/{ticket['id']}"

    clock.set(datetime(2026, 3, 4, 12, 30, tzinfo=NY))  # 30 minutes left: a warning

    # the warning is on the topic (not just computed on read): a scan ran at 12:30
    (warning,) = await svc.events_of(
        "tickets.events", subject=ticket["id"], count=1, types={"ticket.sla_warning"}
    )
    assert payload(warning, TicketSlaWarning).metric == "first_response"
    clock.set(datetime(2026, 3, 4, 13, 5, tzinfo=NY))  # due at 13:00: breached
    events = await svc.events_of(
        "tickets.events",
        subject=ticket["id"],
        count=2,
        types={"ticket.sla_warning", "ticket.sla_breached"},
    )
    assert [e.type for e in events] == ["ticket.sla_warning", "ticket.sla_breached"]
    sla = (await svc.client.get(url, headers=AGENT)).json()["sla"]["first_response"]
    assert sla["state"] == "breached"
    assert svc.app.state.scheduler.leading == {"sla-scan", "auto-close", "holiday-refresh"}
