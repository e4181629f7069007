"""SLA targets in business minutes, per priority and plan tier, and their calendar."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.tickets import SlaMetric, TicketPriority
from ticket_service.models import BusinessCalendarRow, SlaPolicy
from ticket_service.sla.calendar import DEFAULT_CALENDAR, BusinessCalendar

P = TicketPriority
DEFAULT_TIER = "default"

TARGET_MINUTES: dict[SlaMetric, dict[TicketPriority, int]] = {
    SlaMetric.first_response: {P.urgent: 60, P.high: 240, P.normal: 480, P.low: 960},
    SlaMetric.resolution: {P.urgent: 480, P.high: 1440, P.normal: 2400, P.low: 4800},
}
# Bigger plans are promised faster answers.
TIER_FACTOR: dict[str, float] = {"enterprise": 0.5, "business": 0.75, "team": 1.0, "starter": 1.0}


def target_minutes(metric: SlaMetric, priority: TicketPriority, plan_tier: str | None) -> int:
    base = TARGET_MINUTES[metric][priority]
    return max(1, round(base * TIER_FACTOR.get(plan_tier or "", 1.0)))


async def policy_for(
    session: AsyncSession, *, priority: TicketPriority, plan_tier: str | None
) -> tuple[BusinessCalendar, int, int]:
    """(calendar, first-response minutes, resolution minutes) for a ticket.

    The tier's own policy wins, then the ``default`` one; without either, the built-in
    targets on the default calendar.
    """
    rows = (
        await session.scalars(
            select(SlaPolicy).where(
                SlaPolicy.priority == priority.value,
                SlaPolicy.plan_tier.in_([plan_tier or DEFAULT_TIER, DEFAULT_TIER]),
            )
        )
    ).all()
    chosen = sorted(rows, key=lambda p: p.plan_tier == DEFAULT_TIER)
    if not chosen:
        return (
            DEFAULT_CALENDAR,
            target_minutes(SlaMetric.first_response, priority, plan_tier),
            target_minutes(SlaMetric.resolution, priority, plan_tier),
        )
    policy = chosen[0]
    row = await session.get(BusinessCalendarRow, policy.calendar_id)
    calendar = to_calendar(row) if row is not None else DEFAULT_CALENDAR
    return calendar, policy.first_response_minutes, policy.resolution_minutes


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

    def __init__(
        self,
        policies: dict[tuple[str, str], tuple[BusinessCalendar, int, int]],
    ) -> None:
        self._policies = policies

    @classmethod
    async def load(cls, session: AsyncSession) -> PolicyBook:
        calendars = {
            row.id: to_calendar(row) for row in (await session.scalars(select(BusinessCalendarRow)))
        }
        policies = {
            (p.plan_tier, p.priority): (
                calendars.get(p.calendar_id, DEFAULT_CALENDAR),
                p.first_response_minutes,
                p.resolution_minutes,
            )
            for p in (await session.scalars(select(SlaPolicy)))
        }
        return cls(policies)

    def lookup(
        self, priority: TicketPriority, plan_tier: str | None
    ) -> tuple[BusinessCalendar, int, int]:
        for tier in (plan_tier or DEFAULT_TIER, DEFAULT_TIER):
            found = self._policies.get((tier, priority.value))
            if found is not None:
                return found
        return (
            DEFAULT_CALENDAR,
            target_minutes(SlaMetric.first_response, priority, plan_tier),
            target_minutes(SlaMetric.resolution, priority, plan_tier),
        )
