"""API shapes of SLA clocks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, model_validator

from servicekit.fields import IsoDate, LocalTime
from supportops_events.tickets import SlaMetric, TicketPriority
from ticket_service.sla.business_hours import SlaState
from ticket_service.sla.holidays import supported_countries


class SlaClockOut(BaseModel):
    metric: SlaMetric
    target_minutes: int
    elapsed_minutes: int
    remaining_minutes: int
    due_at: datetime | None
    state: SlaState
    timezone: str
    """The IANA zone of the business day this clock counts: support's calendar for the
    response clocks, the tenant's for ``resolution`` (docs/operations.md)."""
    due_local: datetime | None
    """``due_at`` in ``timezone``, with its offset: what a tenant-facing view shows."""


class NextResponseOut(SlaClockOut):
    """The latest next-response cycle: the customer wrote after the first response."""

    waiting_since: datetime
    """The customer's public reply that started the wait."""
    answered_at: datetime | None
    """The agent's public reply (or the solve) that ended it; None while waiting."""
    cycles: int
    """How many next-response cycles the ticket had so far."""


class TicketSlaOut(BaseModel):
    state: SlaState | None
    """The most urgent state of the clocks below (breached, warning, running, paused,
    missed, met): what the ``sla_state`` list filter matches."""
    first_response: SlaClockOut
    next_response: NextResponseOut | None
    """None until a customer writes again after the first response."""
    resolution: SlaClockOut


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


ZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


def _known_country(code: str) -> str:
    if code not in supported_countries():
        raise ValueError(f"no public-holiday data for country {code!r} (ISO 3166 alpha-2, e.g. US)")
    return code


HolidayCountry = Annotated[
    str, Field(min_length=2, max_length=3, pattern=r"^[A-Z]{2,3}$"), AfterValidator(_known_country)
]
Weekday = Annotated[int, Field(ge=0, le=6)]


class BusinessCalendarSettable(BaseModel):
    """A calendar's settable document: what a create sets and a PATCH merge-patches."""

    name: str = Field(min_length=1, max_length=200)
    timezone: ZoneName
    workdays: list[Weekday] = Field(min_length=1, max_length=7)
    """Monday = 0."""
    opens: LocalTime
    closes: LocalTime
    holidays: list[IsoDate] = Field(default_factory=list, max_length=400)
    holiday_country: HolidayCountry | None = None
    """Follow this country's public holidays (current and next year, kept by the
    scheduler) on top of ``holidays``."""

    @model_validator(mode="after")
    def _opens_before_closing(self) -> BusinessCalendarSettable:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opens and closes are wall-clock times in the calendar's zone")
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


class BusinessCalendarIn(BusinessCalendarSettable):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")


class BusinessCalendarOut(BaseModel):
    id: str
    name: str
    timezone: str
    workdays: list[int]
    opens: time
    closes: time
    holidays: list[date]
    holiday_country: str | None
    holidays_refreshed_at: datetime | None
    """When the scheduler last added the country's holidays (None: never yet)."""
    version: int


class IcalImportIn(BaseModel):
    ical: str = Field(min_length=15, max_length=1_000_000)
    """An iCalendar (RFC 5545) text, e.g. a published holiday feed: every day one of its
    events covers becomes a holiday of the calendar."""


Minutes = Annotated[int, Field(ge=1, le=525_600)]


class SlaPolicyIn(BaseModel):
    plan_tier: Literal["default", "starter", "team", "business", "enterprise"]
    priority: TicketPriority
    first_response_minutes: Minutes
    next_response_minutes: Minutes | None = None
    """Defaults to the first-response target."""
    resolution_minutes: Minutes
    calendar_id: str = Field(default="default", min_length=1, max_length=64)


class SlaPolicySettable(BaseModel):
    """What a PATCH of a policy merge-patches (tier and priority are its identity)."""

    first_response_minutes: Minutes
    next_response_minutes: Minutes | None = None
    """``null``: the first-response target."""
    resolution_minutes: Minutes
    calendar_id: str = Field(default="default", min_length=1, max_length=64)


class SlaPolicyOut(BaseModel):
    id: uuid.UUID
    plan_tier: str
    priority: TicketPriority
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int
    calendar_id: str
    version: int
