"""API shapes of SLA clocks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, model_validator

from supportops_events.tickets import SlaMetric, TicketPriority
from ticket_service.sla.clock import SlaState


class SlaClockOut(BaseModel):
    metric: SlaMetric
    target_minutes: int
    elapsed_minutes: int
    remaining_minutes: int
    due_at: datetime | None
    state: SlaState


class TicketSlaOut(BaseModel):
    first_response: SlaClockOut
    resolution: SlaClockOut


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


ZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]
Weekday = Annotated[int, Field(ge=0, le=6)]


class BusinessCalendarIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    timezone: ZoneName
    workdays: list[Weekday] = Field(min_length=1, max_length=7)
    """Monday = 0."""
    opens: time
    closes: time
    holidays: list[date] = Field(default_factory=list, max_length=400)

    @model_validator(mode="after")
    def _opens_before_closing(self) -> BusinessCalendarIn:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opens and closes are wall-clock times in the calendar's zone")
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


class BusinessCalendarPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: ZoneName | None = None
    workdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    opens: time | None = None
    closes: time | None = None
    holidays: list[date] | None = Field(default=None, max_length=400)

    @model_validator(mode="after")
    def _wall_clock(self) -> BusinessCalendarPatch:
        if any(t is not None and t.tzinfo is not None for t in (self.opens, self.closes)):
            raise ValueError("opens and closes are wall-clock times in the calendar's zone")
        return self


class BusinessCalendarOut(BaseModel):
    id: str
    name: str
    timezone: str
    workdays: list[int]
    opens: time
    closes: time
    holidays: list[date]
    version: int


Minutes = Annotated[int, Field(ge=1, le=525_600)]


class SlaPolicyIn(BaseModel):
    plan_tier: Literal["default", "starter", "team", "business", "enterprise"]
    priority: TicketPriority
    first_response_minutes: Minutes
    resolution_minutes: Minutes
    calendar_id: str = Field(default="default", min_length=1, max_length=64)


class SlaPolicyPatch(BaseModel):
    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    calendar_id: str | None = Field(default=None, min_length=1, max_length=64)


class SlaPolicyOut(BaseModel):
    id: uuid.UUID
    plan_tier: str
    priority: TicketPriority
    first_response_minutes: int
    resolution_minutes: int
    calendar_id: str
    version: int
