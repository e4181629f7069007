"""Support KPIs over a date range, overall and by queue."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.tickets import TicketPriority
from ticket_service.models import Account, CsatResponse, Escalation, Ticket, TimelineEntry
from ticket_service.sla.calendar import business_minutes_between
from ticket_service.sla.policy import PolicyBook

ACTIVE = ("new", "open", "pending", "on_hold")
MAX_TICKETS = 50_000


class Distribution(BaseModel):
    count: int
    median_minutes: float | None
    p90_minutes: float | None


class QueueMetrics(BaseModel):
    queue: str
    tickets: int
    first_response: Distribution
    """Business minutes (the ticket's SLA calendar) from creation to the first agent reply."""
    resolution: Distribution
    """Business minutes from creation to the (last) solve."""
    first_contact_resolution_rate: float | None
    csat_average: float | None
    csat_responses: int
    escalation_rate: float | None
    sla_first_response_attainment: float | None
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


async def support_metrics(
    session: AsyncSession, *, created_from: datetime, created_to: datetime, queue: str | None
) -> MetricsOut:
    stmt = select(Ticket).where(Ticket.created_at >= created_from, Ticket.created_at < created_to)
    if queue is not None:
        stmt = stmt.where(Ticket.queue == queue)
    tickets = list((await session.scalars(stmt.limit(MAX_TICKETS))).all())
    ids = [t.id for t in tickets]
    agent_replies: Counter[object] = Counter()
    escalated: set[object] = set()
    ratings: dict[object, list[int]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(TimelineEntry.ticket_id, func.count())
            .where(
                TimelineEntry.ticket_id.in_(ids),
                TimelineEntry.kind == "reply",
                TimelineEntry.author_type == "agent",
            )
            .group_by(TimelineEntry.ticket_id)
        )
        agent_replies.update({ticket_id: count for ticket_id, count in rows.all()})
        escalated = set(
            (
                await session.scalars(
                    select(Escalation.ticket_id).where(Escalation.ticket_id.in_(ids))
                )
            ).all()
        )
        for ticket_id, rating in (
            await session.execute(
                select(CsatResponse.ticket_id, CsatResponse.rating).where(
                    CsatResponse.ticket_id.in_(ids)
                )
            )
        ).all():
            ratings[ticket_id].append(rating)
    book = await PolicyBook.load(session)
    tenants = {t.tenant_id for t in tickets}
    tiers: dict[str, str | None] = {}
    if tenants:
        tiers = dict(
            (
                await session.execute(
                    select(Account.tenant_id, Account.plan_tier).where(
                        Account.tenant_id.in_(tenants)
                    )
                )
            )
            .tuples()
            .all()
        )
    backlog_stmt = select(Ticket.queue, Ticket.status, func.count()).where(
        Ticket.status.in_(ACTIVE)
    )
    if queue is not None:
        backlog_stmt = backlog_stmt.where(Ticket.queue == queue)
    backlog: dict[str, dict[str, int]] = defaultdict(dict)
    for q, status, count in (
        await session.execute(backlog_stmt.group_by(Ticket.queue, Ticket.status))
    ).all():
        backlog[q or "unrouted"][status] = count

    def compute(name: str, group: list[Ticket], backlog_of: dict[str, int]) -> QueueMetrics:
        first, resolution, within = [], [], 0
        solved = fcr = 0
        for t in group:
            calendar, target, _ = book.lookup(TicketPriority(t.priority), tiers.get(t.tenant_id))
            if t.first_response_at is not None:
                minutes = business_minutes_between(calendar, t.created_at, t.first_response_at)
                first.append(minutes)
                within += minutes <= target
            if t.solved_at is not None:
                resolution.append(business_minutes_between(calendar, t.created_at, t.solved_at))
                solved += 1
                fcr += agent_replies[t.id] == 1
        scores = [r for t in group for r in ratings.get(t.id, [])]
        return QueueMetrics(
            queue=name,
            tickets=len(group),
            first_response=_distribution(first),
            resolution=_distribution(resolution),
            first_contact_resolution_rate=_rate(fcr, solved),
            csat_average=round(statistics.fmean(scores), 2) if scores else None,
            csat_responses=len(scores),
            escalation_rate=_rate(sum(t.id in escalated for t in group), len(group)),
            sla_first_response_attainment=_rate(within, len(first)),
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
