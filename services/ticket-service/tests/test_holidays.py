"""Holidays as data: US federal holidays from the ``holidays`` library in the default
calendar (added by the scheduler's refresh), iCal imports, and the arithmetic around
them in the calendar's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import (
    ADMIN,
    AGENT,
    Service,
    error_fields,
    open_ticket,
    problem,
    tenant,
)

from servicekit.testing import TestClock
from ticket_service.sla.business_hours import BusinessCalendar, add_business_minutes
from ticket_service.sla.holidays import InvalidCalendarFeed, country_holidays, dates_from_ical
from ticket_service.sla.service import refresh_country_holidays

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CLOSURES = (Path(__file__).parent / "data" / "company-closures.ics").read_text()


def test_us_federal_holidays_include_observed_days() -> None:
    days = country_holidays("US", [2026, 2027])
    assert {
        date(2026, 1, 1),
        date(2026, 1, 19),  # Martin Luther King Jr. Day
        date(2026, 7, 3),  # Independence Day (a Saturday) observed on the Friday
        date(2026, 11, 26),  # Thanksgiving
        date(2026, 12, 25),
        date(2027, 12, 24),  # Christmas 2027 (a Saturday) observed on the Friday
    } <= days
    assert date(2026, 12, 24) not in days


def test_christmas_and_the_weekend_are_skipped_by_the_sla_arithmetic() -> None:
    calendar = BusinessCalendar(holidays=frozenset(country_holidays("US", [2026])))
    # Thursday 24 December 16:00 New York: one hour that day, then Monday
    due = add_business_minutes(calendar, datetime(2026, 12, 24, 16, tzinfo=NY), 240)
    assert due == datetime(2026, 12, 28, 12, tzinfo=NY)
    assert due.astimezone(UTC) == datetime(2026, 12, 28, 17, tzinfo=UTC)


def test_holidays_are_local_dates_of_the_calendars_zone() -> None:
    # New Year's Day in Tokyo starts at 15:00 UTC on 31 December
    calendar = BusinessCalendar(timezone="Asia/Tokyo", holidays=frozenset({date(2027, 1, 1)}))
    start = datetime(2026, 12, 31, 8, 30, tzinfo=UTC)  # 17:30 Tokyo: after closing
    due = add_business_minutes(calendar, start, 60)
    assert due == datetime(2027, 1, 4, 10, tzinfo=TOKYO)  # not Friday the 1st


def test_ical_all_day_and_timed_events_become_local_dates() -> None:
    assert dates_from_ical(CLOSURES, timezone="America/New_York") == {
        date(2026, 3, 11),
        date(2026, 3, 12),  # DTEND of an all-day event is exclusive
        date(2026, 12, 31),  # 18:30 in New York
    }
    assert date(2027, 1, 1) in dates_from_ical(CLOSURES, timezone="Asia/Tokyo")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "BEGIN:VEVENT\nEND:VEVENT",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:xyz\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=TIME:120000\nEND:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:00010101T000000\nDTEND:00010101T000000\n"
        "END:VEVENT\nEND:VCALENDAR",
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n"
        "DTEND;VALUE=DATE:20270101\nEND:VEVENT\nEND:VCALENDAR",
    ],
)
def test_unreadable_feeds_are_refused_not_crashed_on(text: str) -> None:
    with pytest.raises(InvalidCalendarFeed):
        dates_from_ical(text, timezone="Asia/Tokyo")


async def test_the_refresh_gives_the_default_calendar_this_and_next_years_holidays(
    svc: Service,
) -> None:
    async with svc.app.state.db.unit_of_work() as session:
        await refresh_country_holidays(session, now=datetime(2026, 12, 6, 12, tzinfo=UTC))
    body = (await svc.client.get("/v1/business-calendars/default", headers=AGENT)).json()
    assert body["holiday_country"] == "US"
    assert {"2026-12-25", "2027-01-01", "2027-12-24"} <= set(body["holidays"])
    assert body["holidays_refreshed_at"] is not None
    version = body["version"]

    async with svc.app.state.db.unit_of_work() as session:  # nothing new: no new version
        assert await refresh_country_holidays(session, now=datetime(2026, 12, 7, tzinfo=UTC)) == 0
    again = (await svc.client.get("/v1/business-calendars/default", headers=AGENT)).json()
    assert again["version"] == version

    # a high-priority ticket opened on Christmas Eve afternoon is due on Monday
    clock = TestClock(datetime(2026, 12, 24, 16, tzinfo=NY))
    svc.app.state.clock = clock
    try:
        ticket = await open_ticket(
            svc.client, await svc.tenant(), subject="Login", body="password rejected"
        )
        assert ticket["priority"] == "high"
        sla = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()["sla"]
        assert sla["first_response"]["due_at"] == "2026-12-28T17:00:00Z"  # 12:00 EST
    finally:
        del svc.app.state.clock


async def test_an_ical_feed_adds_its_days_to_a_calendar(svc: Service) -> None:
    calendar_id = f"closures-{tenant()}"
    created = await svc.client.post(
        "/v1/business-calendars",
        json={
            "id": calendar_id,
            "name": "Berlin office",
            "timezone": "Europe/Berlin",
            "workdays": [0, 1, 2, 3, 4],
            "opens": "09:00:00",
            "closes": "17:00:00",
            "holiday_country": "DE",
        },
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    assert created.json()["holiday_country"] == "DE"
    url = f"/v1/business-calendars/{calendar_id}/holiday-imports"

    stale = await svc.client.post(
        url, json={"ical": CLOSURES}, headers={**ADMIN, "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    imported = await svc.client.post(
        url, json={"ical": CLOSURES}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert imported.status_code == 200, imported.text
    assert imported.headers["ETag"] == '"2"'
    assert {"2026-03-11", "2026-03-12", "2027-01-01"} <= set(imported.json()["holidays"])

    garbage = await svc.client.post(
        url, json={"ical": "BEGIN:VCALENDAR\nthis is not ical"}, headers={**ADMIN, "If-Match": "*"}
    )
    assert "ical" in error_fields(problem(garbage, 422))
    unknown = await svc.client.patch(
        f"/v1/business-calendars/{calendar_id}",
        json={"holiday_country": "XX"},
        headers={**ADMIN, "If-Match": "*"},
    )
    assert "holiday_country" in error_fields(problem(unknown, 422))
    agent = await svc.client.post(url, json={"ical": CLOSURES}, headers={**AGENT, "If-Match": "*"})
    assert agent.status_code == 403
