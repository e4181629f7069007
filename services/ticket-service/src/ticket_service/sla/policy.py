"""SLA targets in business minutes, per priority and plan tier, and their calendar."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.tickets import SlaMetric, TicketPriority
from ticket_service.models import BusinessCalendarRow
from ticket_service.sla import repository
from ticket_service.sla.business_hours import DEFAULT_CALENDAR, BusinessCalendar

P = TicketPriority
DEFAULT_TIER = "default"

TARGET_MINUTES: dict[SlaMetric, dict[TicketPriority, int]] = {
    SlaMetric.first_response: {P.urgent: 60, P.high: 240, P.normal: 480, P.low: 960},
    # a customer waiting for the next answer is promised what the first answer promised
    SlaMetric.next_response: {P.urgent: 60, P.high: 240, P.normal: 480, P.low: 960},
    SlaMetric.resolution: {P.urgent: 480, P.high: 1440, P.normal: 2400, P.low: 4800},
}
# Bigger plans are promised faster answers.
TIER_FACTOR: dict[str, float] = {"enterprise": 0.5, "business": 0.75, "team": 1.0, "starter": 1.0}


def target_minutes(metric: SlaMetric, priority: TicketPriority, plan_tier: str | None) -> int:
    base = TARGET_MINUTES[metric][priority]
    return max(1, round(base * TIER_FACTOR.get(plan_tier or "", 1.0)))


@dataclass(frozen=True)
class Targets:
    """The calendar and the target of each clock (business minutes) for one ticket."""

    calendar: BusinessCalendar
    first_response: int
    next_response: int
    resolution: int

    def minutes(self, metric: SlaMetric) -> int:
        match metric:
            case SlaMetric.first_response:
                return self.first_response
            case SlaMetric.next_response:
                return self.next_response
            case SlaMetric.resolution:
                return self.resolution


def built_in_targets(priority: TicketPriority, plan_tier: str | None) -> Targets:
    return Targets(
        calendar=DEFAULT_CALENDAR,
        first_response=target_minutes(SlaMetric.first_response, priority, plan_tier),
        next_response=target_minutes(SlaMetric.next_response, priority, plan_tier),
        resolution=target_minutes(SlaMetric.resolution, priority, plan_tier),
    )


async def policy_for(
    session: AsyncSession, *, priority: TicketPriority, plan_tier: str | None
) -> Targets:
    """The targets of a ticket: the tier's own policy wins, then the ``default`` one;
    without either, the built-in targets on the default calendar."""
    book = await PolicyBook.load(session)
    return book.lookup(priority, plan_tier)


def to_calendar(row: BusinessCalendarRow) -> BusinessCalendar:
    return BusinessCalendar(
        timezone=row.timezone,
        workdays=frozenset(row.workdays),
        opens=row.opens,
        closes=row.closes,
        holidays=frozenset(row.holidays or []),
    )


class PolicyBook:
    """Every policy and calendar, loaded once: for computations over many tickets."""

    def __init__(self, policies: dict[tuple[str, str], Targets]) -> None:
        self._policies = policies

    @classmethod
    async def load(cls, session: AsyncSession) -> PolicyBook:
        calendars = {row.id: to_calendar(row) for row in await repository.calendars(session)}
        policies = {
            (p.plan_tier, p.priority): Targets(
                calendar=calendars.get(p.calendar_id, DEFAULT_CALENDAR),
                first_response=p.first_response_minutes,
                next_response=p.next_response_minutes,
                resolution=p.resolution_minutes,
            )
            for p in await repository.policies(session)
        }
        return cls(policies)

    def lookup(self, priority: TicketPriority, plan_tier: str | None) -> Targets:
        for tier in (plan_tier or DEFAULT_TIER, DEFAULT_TIER):
            found = self._policies.get((tier, priority.value))
            if found is not None:
                return found
        return built_in_targets(priority, plan_tier)
