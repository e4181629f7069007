"""Queries of the ticket create, get and list paths, each shaped to be one statement."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter
from sqlalchemy import Select, String, Uuid, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import custom_plans
from servicekit.pagination import PageParams, paginate
from supportops_events.tickets import TicketPriority, TicketStatus
from ticket_service.accounts.repository import account_context_columns
from ticket_service.config_cache import version_column
from ticket_service.models import (
    Account,
    AccountUser,
    Agent,
    Bug,
    Ticket,
    TicketBug,
    TimelineEntry,
)
from ticket_service.sla.business_hours import SlaState
from ticket_service.sla.repository import sla_state_is
from ticket_service.tickets.schemas import TimelineEntryOut


@dataclass(frozen=True)
class IntakeContext:
    plan_tier: str | None
    config_version: int | None
    tenant_known: bool
    """A ``tenant.*`` event of onboarding made the account (its status is set)."""
    timezone: str | None = None
    """The tenant's time zone (the resolution clock's business day), if onboarding said."""


# What the ownership check of a request (``ticket_service.ownership``) read with the
# statement the endpoint needs anyway, kept in the request's session for the endpoint:
# the object-level check then costs no statement of its own on the hot paths.
_INTAKE_KEY = "ticket_service.prefetched_intake"
_TICKET_KEY = "ticket_service.prefetched_ticket"


# The statements of the hot paths are built once, with bound parameters: building a
# statement and its cache key on every request cost as much CPU as running it.


@functools.cache
def _intake_statement() -> Select[Any]:
    return select(
        select(Account.plan_tier)
        .where(Account.tenant_id == bindparam("tenant_id", type_=String()))
        .scalar_subquery()
        .label("plan_tier"),
        version_column().label("config_version"),
        select(Account.tenant_status)
        .where(Account.tenant_id == bindparam("tenant_id", type_=String()))
        .scalar_subquery()
        .label("tenant_status"),
        select(Account.timezone)
        .where(Account.tenant_id == bindparam("tenant_id", type_=String()))
        .scalar_subquery()
        .label("timezone"),
    )


async def intake_context(
    session: AsyncSession, *, tenant_id: str, keep: bool = False
) -> IntakeContext:
    """What a new ticket needs from the database before its insert, in one statement:
    the tenant's plan tier (triage conditions, SLA targets), the config version and
    whether the tenant is known. ``keep``: the tenant ownership check keeps it for the
    create in the same request, which then reads it without a statement."""
    kept: dict[str, IntakeContext] = session.info.get(_INTAKE_KEY) or {}
    if not keep and (found := kept.pop(tenant_id, None)) is not None:
        return found
    row = (await session.execute(_intake_statement(), {"tenant_id": tenant_id})).one()
    intake = IntakeContext(
        plan_tier=row.plan_tier,
        config_version=row.config_version,
        tenant_known=row.tenant_status is not None,
        timezone=row.timezone,
    )
    if keep:
        session.info.setdefault(_INTAKE_KEY, {})[tenant_id] = intake
    return intake


async def least_loaded(session: AsyncSession, *, candidates: Sequence[str]) -> str | None:
    """The candidate with the fewest active tickets (ties: by id): the load is the
    agents' trigger-kept counter, so this reads one row per candidate, not their tickets."""
    if not candidates:
        return None
    found: str | None = await session.scalar(
        _least_loaded_statement(), {"candidates": list(candidates)}
    )
    return found


@functools.cache
def _least_loaded_statement() -> Select[Any]:
    return (
        select(Agent.id)
        # one array parameter: an expanding IN list is rendered again on every execution
        # and is another statement (prepared anew) for every number of candidates
        .where(
            Agent.id == any_(bindparam("candidates", type_=ARRAY(String()))),
            Agent.available.is_(True),
        )
        .order_by(Agent.active_tickets, Agent.id)
        .limit(1)
    )


# the page's timeline is built as the JSON of the response's entries, by their field names
_TIMELINE_FIELDS = tuple(TimelineEntryOut.model_fields)
# the whole timeline validated in one call (pydantic's loop), not one call per entry
_TIMELINE = TypeAdapter(list[TimelineEntryOut])


def _timeline_json() -> Any:
    """The ticket's whole timeline, oldest first, as one JSON array of its entries."""
    entries = TimelineEntry.__table__
    fields = [part for name in _TIMELINE_FIELDS for part in (name, entries.c[name])]
    return (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(*fields), entries.c.created_at, entries.c.seq
                    )
                ),
                func.jsonb_build_array(),
            )
        )
        .where(entries.c.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    plan_tier: str | None
    config_version: int | None
    linked_bugs: list[dict[str, Any]]
    timezone: str | None = None
    """The tenant's time zone (the resolution clock's business day)."""
    account: Account | None = None
    account_context: tuple[list[dict[str, Any]], ...] = ()
    """The account context's JSON arrays (``accounts.repository.account_context_columns``)."""
    timeline: list[TimelineEntryOut] = field(default_factory=list)
    """The whole timeline, oldest first (also the history the SLA clocks read)."""


@functools.cache
def _ticket_statement() -> Select[Any]:
    bugs = (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(
                            "bug_id",
                            Bug.bug_id,
                            "key",
                            Bug.key,
                            "title",
                            Bug.title,
                            "status",
                            Bug.status,
                        ),
                        Bug.key,
                    )
                ),
                func.jsonb_build_array(),
            )
        )
        .join(TicketBug, TicketBug.bug_id == Bug.bug_id)
        .where(TicketBug.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )
    return (
        select(
            Ticket,
            select(Account.plan_tier)
            .where(Account.tenant_id == Ticket.tenant_id)
            .correlate(Ticket)
            .scalar_subquery(),
            version_column(),
            bugs,
            select(Account.timezone)
            .where(Account.tenant_id == Ticket.tenant_id)
            .correlate(Ticket)
            .scalar_subquery(),
            # the account context staff see on the page, in the same statement (one round
            # trip fewer; a customer's page does not show it)
            Account,
            *account_context_columns(Ticket.tenant_id, correlate=Ticket),
            # and the timeline: the whole page is this one statement
            _timeline_json(),
        )
        .outerjoin(Account, Account.tenant_id == Ticket.tenant_id)
        .where(Ticket.id == bindparam("ticket_id", type_=Uuid()))
    )


async def ticket_with_context(
    session: AsyncSession, ticket_id: uuid.UUID, *, keep: bool = False
) -> TicketRow | None:
    """A ticket with everything its detail needs, in one statement: the tenant's plan
    tier, the config version, its linked bugs, the account context and the timeline.
    ``keep``: the ownership check of a ticket's detail keeps it for the endpoint of the
    same request."""
    kept: dict[uuid.UUID, TicketRow] = session.info.get(_TICKET_KEY) or {}
    if not keep and (found := kept.pop(ticket_id, None)) is not None:
        return found
    row = (await session.execute(_ticket_statement(), {"ticket_id": ticket_id})).first()
    if row is None:
        return None
    ticket_row = TicketRow(
        ticket=row[0],
        plan_tier=row[1],
        config_version=row[2],
        linked_bugs=list(row[3] or []),
        timezone=row[4],
        account=row[5],
        account_context=tuple(row[6:11]),
        timeline=_TIMELINE.validate_python(row[11]),
    )
    if keep:
        session.info.setdefault(_TICKET_KEY, {})[ticket_id] = ticket_row
    return ticket_row


async def get_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False
) -> Ticket | None:
    return await session.get(Ticket, ticket_id, with_for_update=for_update)


async def linked_bug_ids(session: AsyncSession, ticket_id: uuid.UUID) -> list[str]:
    found = await session.scalars(select(TicketBug.bug_id).where(TicketBug.ticket_id == ticket_id))
    return list(found.all())


async def lock_solved_before(session: AsyncSession, solved_before: datetime) -> Sequence[Ticket]:
    """The solved tickets solved before ``solved_before``, locked (others skipped)."""
    return (
        await session.scalars(
            select(Ticket)
            .where(Ticket.status == "solved", Ticket.solved_at < solved_before)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def agent_exists(session: AsyncSession, agent_id: str) -> bool:
    return await session.get(Agent, agent_id) is not None


# --- the ticket list ---------------------------------------------------------------------

CLOCK_STATES_OF_ACTIVE_TICKETS = frozenset(
    {SlaState.running, SlaState.paused, SlaState.warning, SlaState.breached}
)
ACTIVE_TICKET = text("tickets.status IN ('new', 'open', 'pending', 'on_hold')")


@dataclass(frozen=True)
class TicketFilters:
    """What a ticket list is filtered by (None: not filtered); each has an index."""

    tenant_id: str | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    queue: str | None = None
    category: str | None = None
    """``category`` or ``category/subcategory``."""
    assignee: str | None = None
    tag: str | None = None
    q: str | None = None
    """Full-text search (websearch syntax)."""
    sla_state: SlaState | None = None


async def search_page(
    session: AsyncSession,
    filters: TicketFilters,
    *,
    params: PageParams,
    now: datetime,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[Any], str | None]:
    """One page of the tickets matching ``filters``, newest first by default (keyset on
    ``(created_at, id)``, the order every list index ends with)."""
    stmt = select(Ticket)
    if filters.tenant_id is not None:
        stmt = stmt.where(Ticket.tenant_id == filters.tenant_id)
    if filters.status is not None:
        stmt = stmt.where(Ticket.status == filters.status.value)
    if filters.priority is not None:
        stmt = stmt.where(Ticket.priority == filters.priority.value)
    if filters.queue is not None:
        stmt = stmt.where(Ticket.queue == filters.queue)
    if filters.category is not None:
        main, _, sub = filters.category.partition("/")
        stmt = stmt.where(Ticket.category == main)
        if sub:
            stmt = stmt.where(Ticket.subcategory == sub)
    if filters.assignee is not None:
        stmt = stmt.where(Ticket.assignee_id == filters.assignee)
    if filters.tag is not None:
        stmt = stmt.where(Ticket.tags.contains([filters.tag]))
    if filters.q is not None:
        stmt = stmt.where(Ticket.search.op("@@")(func.websearch_to_tsquery("english", filters.q)))
    if filters.sla_state is not None:
        stmt = stmt.where(sla_state_is(filters.sla_state, now=now))
        if filters.sla_state in CLOCK_STATES_OF_ACTIVE_TICKETS:
            # implied by the state; spelled out (as a constant) so the planner walks the
            # partial index of active tickets instead of every ticket ever solved
            stmt = stmt.where(ACTIVE_TICKET)
    if filters.q is not None or filters.sla_state is not None:
        # The plan of these depends on the values (a common word or a rare one, the time
        # now): a cached generic plan for the prepared statement was 3x slower at 1M
        # tickets, so plan each execution for its values.
        async with custom_plans(session):
            return await paginate(
                session,
                stmt,
                keys=[Ticket.created_at, Ticket.id],
                params=params,
                direction=direction,
            )
    return await paginate(
        session, stmt, keys=[Ticket.created_at, Ticket.id], params=params, direction=direction
    )


async def get_account_user(session: AsyncSession, user_id: str) -> AccountUser | None:
    return await session.get(AccountUser, user_id)
