"""Support KPIs over a date range, overall and by queue."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.metrics import repository
from ticket_service.models import Ticket
from ticket_service.sla.business_hours import ClockReading, SlaState
from ticket_service.sla.ticket_clocks import TicketClocks, clocks_of

MAX_TICKETS = 50_000


class Distribution(BaseModel):
    count: int
    median_minutes: float | None
    p90_minutes: float | None


class SlaAttainment(BaseModel):
    """Share of clocks that met their target, of those met, missed or breached (clocks
    still running short of their target are not counted yet)."""

    first_response: float | None
    next_response: float | None
    resolution: float | None


class QueueMetrics(BaseModel):
    queue: str
    tickets: int
    first_response: Distribution
    """Business minutes (the ticket's SLA calendar) from creation to the first public
    agent reply, time in pending/on_hold not counted."""
    next_response: Distribution
    """Business minutes from a customer's reply to the agent's next public reply, per
    answered wait, time in pending/on_hold not counted."""
    resolution: Distribution
    """Business minutes from creation to the (last) solve, time in pending/on_hold not
    counted."""
    first_contact_resolution_rate: float | None
    """Solved tickets answered with exactly one public agent reply, of all solved."""
    csat_average: float | None
    csat_responses: int
    escalation_rate: float | None
    sla_attainment: SlaAttainment
    sla_first_response_attainment: float | None
    """Same as ``sla_attainment.first_response`` (kept for existing clients)."""
    backlog_by_status: dict[str, int]
    """Current open work of the queue (not limited to the range)."""


class MetricsOut(BaseModel):
    created_from: datetime
    created_to: datetime
    overall: QueueMetrics
    by_queue: list[QueueMetrics]


def _distribution(values: list[int]) -> Distribution:
    if not values:
        return Distribution(count=0, median_minutes=None, p90_minutes=None)
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]
    return Distribution(
        count=len(ordered), median_minutes=float(statistics.median(ordered)), p90_minutes=float(p90)
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _attainment(readings: list[ClockReading]) -> float | None:
    met = sum(r.state is SlaState.met for r in readings)
    failed = sum(r.state in (SlaState.missed, SlaState.breached) for r in readings)
    return _rate(met, met + failed)


async def support_metrics(
    session: AsyncSession,
    *,
    created_from: datetime,
    created_to: datetime,
    queue: str | None,
    now: datetime,
) -> MetricsOut:
    period = await repository.period_tickets(
        session, created_from=created_from, created_to=created_to, queue=queue, limit=MAX_TICKETS
    )
    tickets = period.tickets
    agent_replies, escalated, ratings = period.agent_replies, period.escalated, period.ratings
    clocks = await clocks_of(session, tickets, now=now)
    backlog = await repository.backlog(session, queue=queue)

    def compute(name: str, group: list[Ticket], backlog_of: dict[str, int]) -> QueueMetrics:
        first: list[int] = []
        following: list[int] = []
        resolution: list[int] = []
        outcomes: dict[str, list[ClockReading]] = defaultdict(list)
        solved = fcr = 0
        for t in group:
            c: TicketClocks = clocks[t.id]
            if t.first_response_at is not None:
                first.append(c.first_response.elapsed_seconds // 60)
            following += [
                cycle.reading.elapsed_seconds // 60
                for cycle in c.next_response
                if cycle.stopped_at is not None
            ]
            outcomes["first_response"].append(c.first_response)
            outcomes["next_response"] += [cycle.reading for cycle in c.next_response]
            outcomes["resolution"].append(c.resolution)
            if t.solved_at is not None and t.status in ("solved", "closed"):
                resolution.append(c.resolution.elapsed_seconds // 60)
                solved += 1
                fcr += agent_replies[t.id] == 1
        scores = [r for t in group for r in ratings.get(t.id, [])]
        attainment = {metric: _attainment(readings) for metric, readings in outcomes.items()}
        return QueueMetrics(
            queue=name,
            tickets=len(group),
            first_response=_distribution(first),
            next_response=_distribution(following),
            resolution=_distribution(resolution),
            first_contact_resolution_rate=_rate(fcr, solved),
            csat_average=round(statistics.fmean(scores), 2) if scores else None,
            csat_responses=len(scores),
            escalation_rate=_rate(sum(t.id in escalated for t in group), len(group)),
            sla_attainment=SlaAttainment(
                first_response=attainment.get("first_response"),
                next_response=attainment.get("next_response"),
                resolution=attainment.get("resolution"),
            ),
            sla_first_response_attainment=attainment.get("first_response"),
            backlog_by_status=backlog_of,
        )

    by_queue: dict[str, list[Ticket]] = defaultdict(list)
    for t in tickets:
        by_queue[t.queue or "unrouted"].append(t)
    total_backlog: Counter[str] = Counter()
    for statuses in backlog.values():
        total_backlog.update(statuses)
    names = sorted(set(by_queue) | set(backlog))
    return MetricsOut(
        created_from=created_from,
        created_to=created_to,
        overall=compute(queue or "all", tickets, dict(total_backlog)),
        by_queue=[compute(n, by_queue.get(n, []), backlog.get(n, {})) for n in names],
    )
