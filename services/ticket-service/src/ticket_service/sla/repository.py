"""Queries of the SLA feature: policies and calendars, the clocks' history of tickets,
the active tickets a refresh or scan walks, and the once-only claim of a notification."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageParams, paginate
from supportops_events.tickets import SlaMetric
from ticket_service.models import (
    Account,
    BusinessCalendarRow,
    SlaNotification,
    SlaPolicy,
    Ticket,
    TimelineEntry,
)
from ticket_service.sla.business_hours import STATE_URGENCY, SlaState

ACTIVE_STATUSES = ("new", "open", "pending", "on_hold")

# Each clock's stored phase and deadlines on the ticket (see ``service.store_deadlines``).
DEADLINE_COLUMNS = {
    SlaMetric.first_response: (
        Ticket.sla_first_response_phase,
        Ticket.sla_first_response_due_at,
        Ticket.sla_first_response_warn_at,
    ),
    SlaMetric.next_response: (
        Ticket.sla_next_response_phase,
        Ticket.sla_next_response_due_at,
        Ticket.sla_next_response_warn_at,
    ),
    SlaMetric.resolution: (
        Ticket.sla_resolution_phase,
        Ticket.sla_resolution_due_at,
        Ticket.sla_resolution_warn_at,
    ),
}

HistoryRow = tuple[uuid.UUID, uuid.UUID, str, str, str | None, str | None, datetime]


async def calendars(session: AsyncSession) -> Sequence[BusinessCalendarRow]:
    return (await session.scalars(select(BusinessCalendarRow))).all()


async def policies(session: AsyncSession) -> Sequence[SlaPolicy]:
    return (await session.scalars(select(SlaPolicy))).all()


async def plan_tiers(
    session: AsyncSession, tenant_ids: Sequence[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Each known tenant's plan tier (the SLA targets) and time zone (the resolution
    clock's business day)."""
    rows = await session.execute(
        select(Account.tenant_id, Account.plan_tier, Account.timezone).where(
            Account.tenant_id.in_(tenant_ids)
        )
    )
    return {tenant_id: (tier, zone) for tenant_id, tier, zone in rows.tuples().all()}


async def history(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> Sequence[HistoryRow]:
    """The entries the clocks read (status changes, public replies of agents and
    customers) of these tickets, by ticket, oldest first."""
    rows = await session.execute(
        select(
            TimelineEntry.ticket_id,
            TimelineEntry.id,
            TimelineEntry.kind,
            TimelineEntry.author_type,
            TimelineEntry.action,
            TimelineEntry.data["current"].astext,
            TimelineEntry.created_at,
        )
        .where(
            TimelineEntry.ticket_id.in_(ticket_ids),
            or_(
                TimelineEntry.action == "status_changed",
                and_(
                    TimelineEntry.kind == "reply",
                    TimelineEntry.author_type.in_(("agent", "customer")),
                ),
            ),
        )
        .order_by(TimelineEntry.ticket_id, TimelineEntry.created_at, TimelineEntry.seq)
    )
    return rows.tuples().all()


async def lock_tickets_page(
    session: AsyncSession,
    *,
    where: Iterable[ColumnElement[bool]],
    after: uuid.UUID | None,
    limit: int,
) -> Sequence[Ticket]:
    """One page of the tickets matching ``where`` by id, locked (rows another
    transaction holds are skipped: it rewrites them itself)."""
    stmt: Select[tuple[Ticket]] = (
        select(Ticket).where(*where).order_by(Ticket.id).with_for_update(skip_locked=True)
    )
    if after is not None:
        stmt = stmt.where(Ticket.id > after)
    return (await session.scalars(stmt.limit(limit))).all()


def active() -> ColumnElement[bool]:
    return Ticket.status.in_(ACTIVE_STATUSES)


def active_or_never_computed() -> ColumnElement[bool]:
    return or_(Ticket.status.in_(ACTIVE_STATUSES), Ticket.sla_refreshed_at.is_(None))


async def claim_notification(
    session: AsyncSession, *, ticket_id: uuid.UUID, metric: str, kind: str, cycle: str, at: datetime
) -> bool:
    """Claim the one publication of this warning or breach; False if already claimed."""
    inserted = await session.execute(
        insert(SlaNotification)
        .values(ticket_id=ticket_id, metric=metric, kind=kind, cycle=cycle, emitted_at=at)
        .on_conflict_do_nothing()
        .returning(SlaNotification.ticket_id)
    )
    return inserted.first() is not None


async def lock_calendars_with_country(session: AsyncSession) -> Sequence[BusinessCalendarRow]:
    """The calendars that follow a country's public holidays, locked, by id."""
    return (
        await session.scalars(
            select(BusinessCalendarRow)
            .where(BusinessCalendarRow.holiday_country.is_not(None))
            .order_by(BusinessCalendarRow.id)
            .with_for_update()
        )
    ).all()


# --- the live SLA state in SQL ---------------------------------------------------------

_UNKNOWN_RANK = len(STATE_URGENCY)


def _rank_sql(metric: SlaMetric, now: datetime) -> ColumnElement[int]:
    phase, due, warn = DEADLINE_COLUMNS[metric]
    rank = {state.value: n for n, state in enumerate(STATE_URGENCY)}
    return case(
        (and_(phase == "running", due <= now), rank["breached"]),
        (and_(phase == "running", warn <= now), rank["warning"]),
        *((phase == value, n) for value, n in rank.items()),
        else_=_UNKNOWN_RANK,
    )


def sla_state_is(state: SlaState, *, now: datetime) -> ColumnElement[bool]:
    """SQL: the ticket's live SLA state (its most urgent clock) is ``state``."""
    least = func.least(*(_rank_sql(metric, now) for metric in DEADLINE_COLUMNS))
    return least == STATE_URGENCY.index(state)


# --- calendars and policies (admin) ------------------------------------------------------


async def get_calendar(session: AsyncSession, calendar_id: str) -> BusinessCalendarRow | None:
    return await session.get(BusinessCalendarRow, calendar_id)


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> SlaPolicy | None:
    return await session.get(SlaPolicy, policy_id)


async def calendars_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    return await paginate(
        session, select(BusinessCalendarRow), keys=[BusinessCalendarRow.id], params=params
    )


async def policies_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    return await paginate(
        session,
        select(SlaPolicy),
        keys=[SlaPolicy.plan_tier, SlaPolicy.priority, SlaPolicy.id],
        params=params,
    )


async def insert_unique(session: AsyncSession, row: BusinessCalendarRow | SlaPolicy) -> bool:
    """Insert ``row``; False if its unique key is taken (the savepoint keeps the
    transaction usable)."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    return True
