"""Business-time arithmetic on the default calendar, across both DST changes of 2026;
clock readings, stored deadlines and next-response cycles (pure, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ticket_service.models import Ticket
from ticket_service.sla.business_hours import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    ClockPhase,
    Interval,
    SlaState,
    add_business_minutes,
    business_minutes_between,
    live_state,
    most_urgent,
    read_clock,
)
from ticket_service.sla.policy import Targets
from ticket_service.sla.ticket_clocks import HistoryEntry as SlaEntry
from ticket_service.sla.ticket_clocks import compute_clocks

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_a_working_day_has_480_minutes_and_weekends_none() -> None:
    assert business_minutes_between(DEFAULT_CALENDAR, ny(2026, 1, 5, 0), ny(2026, 1, 6, 0)) == 480
    assert business_minutes_between(DEFAULT_CALENDAR, ny(2026, 1, 10, 0), ny(2026, 1, 12, 0)) == 0
    # Friday 16:00 + 2h lands on Monday 10:00
    assert add_business_minutes(DEFAULT_CALENDAR, ny(2026, 1, 9, 16), 120) == ny(2026, 1, 12, 10)
    # before opening counts from opening; a target ending at close is that close
    assert add_business_minutes(DEFAULT_CALENDAR, ny(2026, 1, 5, 7), 480) == ny(2026, 1, 5, 17)


def test_spring_forward_keeps_nine_to_five_local() -> None:
    # DST starts Sunday 8 March 2026: Friday 17:00 EST = 22:00 UTC, Monday 09:00 EDT = 13:00 UTC
    friday_afternoon = ny(2026, 3, 6, 16)
    due = add_business_minutes(DEFAULT_CALENDAR, friday_afternoon, 120)
    assert due == ny(2026, 3, 9, 10)
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert business_minutes_between(DEFAULT_CALENDAR, friday_afternoon, due) == 120
    # 71 wall-clock hours passed but only 70 real hours: business time is unaffected
    assert (due - friday_afternoon).total_seconds() == 65 * 3600


def test_fall_back_keeps_nine_to_five_local() -> None:
    # DST ends Sunday 1 November 2026: Friday 17:00 EDT = 21:00 UTC, Monday 09:00 EST = 14:00 UTC
    friday_afternoon = ny(2026, 10, 30, 16)
    due = add_business_minutes(DEFAULT_CALENDAR, friday_afternoon, 120)
    assert due == ny(2026, 11, 2, 10)
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert business_minutes_between(DEFAULT_CALENDAR, friday_afternoon, due) == 120
    assert (due - friday_afternoon).total_seconds() == 67 * 3600


def test_holidays_are_skipped_and_naive_datetimes_refused() -> None:
    calendar = BusinessCalendar(holidays=frozenset({date(2026, 12, 25)}))
    # Thursday 24 Dec 16:00 + 2h: Friday 25 is a holiday → Monday 28 10:00
    assert add_business_minutes(calendar, ny(2026, 12, 24, 16), 120) == ny(2026, 12, 28, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_minutes_between(calendar, datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10))
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(BusinessCalendar(workdays=frozenset()), ny(2026, 1, 5), 1)


def test_clock_pauses_warns_breaches_and_stops() -> None:
    created = ny(2026, 1, 5, 9)
    # 240-minute target; ran 9:00-10:00, paused (pending) 10:00-15:00, running since 15:00
    running = [Interval(created, ny(2026, 1, 5, 10)), Interval(ny(2026, 1, 5, 15), None)]
    at_1530 = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 5, 15, 30),
    )
    assert at_1530.elapsed_seconds == 90 * 60
    assert at_1530.state is SlaState.running
    assert at_1530.due_at == ny(2026, 1, 6, 10)  # 150 left: 90 today, 60 more from 9:00

    paused = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=[Interval(created, ny(2026, 1, 5, 10))],
        stopped_at=None,
        now=ny(2026, 1, 9, 12),
    )
    assert (paused.state, paused.due_at, paused.elapsed_seconds) == (SlaState.paused, None, 3600)

    warning = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 6, 9, 15),
    )
    assert warning.state is SlaState.warning and warning.remaining_seconds == 45 * 60

    breached = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 6, 12),
    )
    assert breached.state is SlaState.breached
    assert breached.due_at == ny(2026, 1, 6, 10)

    met = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=ny(2026, 1, 5, 16),
        now=ny(2026, 1, 9),
    )
    assert met.state is SlaState.met and met.elapsed_seconds == 120 * 60


def test_stored_deadlines_give_the_same_state_as_reading_the_clock() -> None:
    """The list filters on (phase, due_at, warn_at) stored at the last change; at any later
    moment without a change that must say what reading the clock says."""
    created = ny(2026, 3, 5, 15)  # Thursday before the spring change, 120-minute target
    histories: list[tuple[list[Interval], datetime | None]] = [
        ([Interval(created, None)], None),  # running all along
        ([Interval(created, ny(2026, 3, 5, 16)), Interval(ny(2026, 3, 6, 16, 30), None)], None),
        ([Interval(created, ny(2026, 3, 5, 16, 45))], None),  # paused short of its target
        ([Interval(created, ny(2026, 3, 9, 11))], None),  # paused after its target
        ([Interval(created, None)], ny(2026, 3, 5, 16, 30)),  # stopped in time
        ([Interval(created, None)], ny(2026, 3, 9, 12)),  # stopped late
    ]
    for running, stopped_at in histories:
        last_change = max(
            [i.start for i in running] + [i.end for i in running if i.end] + [stopped_at or created]
        )
        stored = read_clock(
            DEFAULT_CALENDAR,
            target_minutes=120,
            running=running,
            stopped_at=stopped_at,
            now=last_change,
        )
        moment = last_change
        while moment < ny(2026, 3, 11):
            moment += timedelta(minutes=7)
            live = read_clock(
                DEFAULT_CALENDAR,
                target_minutes=120,
                running=running,
                stopped_at=stopped_at,
                now=moment,
            )
            from_deadlines = live_state(
                stored.phase, due_at=stored.due_at, warn_at=stored.warn_at, now=moment
            )
            assert from_deadlines is live.state, (running, stopped_at, moment)
            if live.running:
                assert live.due_at == stored.due_at  # deadlines do not move with the reader


def test_warning_starts_when_a_quarter_is_left() -> None:
    reading = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=[Interval(ny(2026, 1, 5, 15), None)],
        stopped_at=None,
        now=ny(2026, 1, 5, 15),
    )
    # 120 minutes Monday, 60 more Tuesday: 180 of 240 elapsed at Tuesday 10:00
    assert reading.warn_at == ny(2026, 1, 6, 10)
    assert reading.due_at == ny(2026, 1, 6, 11)
    assert reading.phase is ClockPhase.running
    assert most_urgent([SlaState.met, None, SlaState.paused, SlaState.warning]) is SlaState.warning
    assert most_urgent([None, None]) is None


def _ticket(created: datetime, *, status: str, first_response_at: datetime | None) -> Ticket:
    return Ticket(
        id=uuid.uuid4(),
        tenant_id="t",
        status=status,
        priority="urgent",
        created_at=created,
        first_response_at=first_response_at,
        solved_at=None,
    )


def _entry(
    at: datetime, *, author: str = "system", kind: str = "reply", current: str | None = None
) -> SlaEntry:
    action = "status_changed" if current else "replied"
    return SlaEntry(uuid.uuid4(), kind, author, action, current, at)


def test_next_response_cycles_from_the_history() -> None:
    created = ny(2026, 1, 5, 9)
    targets = Targets(DEFAULT_CALENDAR, first_response=60, next_response=30, resolution=480)
    history = [
        _entry(created, author="customer"),  # the opening message starts no cycle
        _entry(ny(2026, 1, 5, 9, 5), author="customer"),  # nor does a nudge before any answer
        _entry(ny(2026, 1, 5, 9, 20), author="agent"),
        _entry(ny(2026, 1, 5, 9, 20), author="agent", kind="system", current="open"),
        _entry(ny(2026, 1, 5, 10), author="customer"),  # cycle 1
        _entry(ny(2026, 1, 5, 10, 5), author="customer"),  # same wait
        _entry(ny(2026, 1, 5, 10, 20), author="agent"),  # answered in 20
        _entry(ny(2026, 1, 5, 11), author="customer"),  # cycle 2
        _entry(ny(2026, 1, 5, 11, 10), author="agent", kind="system", current="on_hold"),
        _entry(ny(2026, 1, 5, 14), author="agent", kind="system", current="open"),
    ]
    ticket = _ticket(created, status="open", first_response_at=ny(2026, 1, 5, 9, 20))
    clocks = compute_clocks(ticket, history, targets=targets, now=ny(2026, 1, 5, 14, 15))
    assert clocks.first_response.state is SlaState.met
    assert clocks.first_response.elapsed_seconds == 20 * 60
    first, second = clocks.next_response
    assert (first.started_at, first.stopped_at) == (ny(2026, 1, 5, 10), ny(2026, 1, 5, 10, 20))
    assert first.reading.state is SlaState.met
    # 10 minutes before the hold, 15 after it: on hold does not count
    assert (second.stopped_at, second.reading.elapsed_seconds) == (None, 25 * 60)
    assert second.reading.state is SlaState.warning
    assert second.reading.due_at == ny(2026, 1, 5, 14, 20)
    assert clocks.state is SlaState.warning
    assert clocks.resolution.elapsed_seconds == (130 + 15) * 60

    # solving ends the wait and stops every clock
    solved = [*history, _entry(ny(2026, 1, 5, 14, 30), kind="system", current="solved")]
    ticket.status, ticket.solved_at = "solved", ny(2026, 1, 5, 14, 30)
    clocks = compute_clocks(ticket, solved, targets=targets, now=ny(2026, 1, 6, 12))
    assert clocks.next_response[-1].stopped_at == ny(2026, 1, 5, 14, 30)
    assert clocks.next_response[-1].reading.state is SlaState.missed
    assert clocks.resolution.state is SlaState.met
    assert clocks.state is SlaState.missed


BERLIN = ZoneInfo("Europe/Berlin")


def test_resolution_runs_on_the_tenants_business_day_across_berlins_dst() -> None:
    # US clocks moved on 8 March 2026, Berlin's move on 29 March: on Friday 27 March
    # 09:00 New York is 14:00 Berlin (five hours apart, not six)
    created = ny(2026, 3, 27, 9)
    targets = Targets(DEFAULT_CALENDAR, first_response=60, next_response=60, resolution=480)
    ticket = _ticket(created, status="new", first_response_at=None)

    in_new_york = compute_clocks(ticket, [], targets=targets, now=created)
    in_berlin = compute_clocks(
        ticket, [], targets=targets, now=created, tenant_timezone="Europe/Berlin"
    )

    # support answers on its own (US Eastern) day whatever the tenant's zone
    assert in_new_york.first_response.due_at == in_berlin.first_response.due_at
    assert in_berlin.first_response.due_at == ny(2026, 3, 27, 10)
    # resolution: 8 hours of the tenant's working day; New York's is one Friday
    assert in_new_york.resolution.due_at == ny(2026, 3, 27, 17)
    # Berlin: 14:00-17:00 Friday (CET), then 5 hours from Monday 09:00 CEST
    due = in_berlin.resolution.due_at
    assert due == datetime(2026, 3, 30, 14, tzinfo=BERLIN)
    # Monday is already summer time: 12:00 UTC, not the 13:00 a fixed offset would give
    assert due is not None and due.astimezone(UTC) == datetime(2026, 3, 30, 12, tzinfo=UTC)
    # an unknown or absent zone falls back to the calendar's own
    for unknown in (None, "Mars/Olympus"):
        clocks = compute_clocks(ticket, [], targets=targets, now=created, tenant_timezone=unknown)
        assert clocks == in_new_york


def test_a_tokyo_tenants_resolution_day_is_tokyos() -> None:
    created = ny(2026, 1, 5, 9)  # Monday 09:00 New York = 23:00 Tokyo
    targets = Targets(DEFAULT_CALENDAR, first_response=60, next_response=60, resolution=60)
    clocks = compute_clocks(
        _ticket(created, status="new", first_response_at=None),
        [],
        targets=targets,
        now=created,
        tenant_timezone="Asia/Tokyo",
    )
    # Tokyo's next working hour starts Tuesday 09:00 JST (no DST there)
    assert clocks.resolution.due_at == datetime(2026, 1, 6, 10, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert clocks.first_response.due_at == ny(2026, 1, 5, 10)


def test_each_calendar_value_has_its_own_working_days() -> None:
    # a day's window is remembered per (calendar, day): a calendar that differs by one
    # holiday, its hours or its zone must not be given another calendar's windows
    friday = ny(2026, 1, 9, 16)
    assert add_business_minutes(DEFAULT_CALENDAR, friday, 120) == ny(2026, 1, 12, 10)
    monday_off = BusinessCalendar(holidays=frozenset({date(2026, 1, 12)}))
    assert add_business_minutes(monday_off, friday, 120) == ny(2026, 1, 13, 10)
    later = BusinessCalendar(opens=time(10, 0), closes=time(18, 0))
    # 17:00 is an hour before this calendar's close: one hour on Friday, one on Monday
    assert add_business_minutes(later, ny(2026, 1, 9, 17), 120) == ny(2026, 1, 12, 11)
    paris = BusinessCalendar(timezone="Europe/Paris")
    friday_paris = datetime(2026, 1, 9, 16, tzinfo=ZoneInfo("Europe/Paris"))
    assert add_business_minutes(paris, friday_paris, 120) == datetime(
        2026, 1, 12, 10, tzinfo=ZoneInfo("Europe/Paris")
    )
    # and the first calendar still reads as before
    assert add_business_minutes(DEFAULT_CALENDAR, friday, 120) == ny(2026, 1, 12, 10)
