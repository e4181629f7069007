"""Queries of the account context: rows locked for an event's update, corrections
recorded once, and the one statement of an account's view."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    Select,
    String,
    all_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from ticket_service.models import (
    Account,
    AccountCorrection,
    AccountDispute,
    AccountInvoice,
    AccountUser,
    Base,
    Bug,
    Ticket,
    TicketBug,
)

CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed")
RECENT_CORRECTIONS = 10
# A bug is open until it is fixed (resolved, then verified) or given up (won't fix, closed).
CLOSED_BUG_STATUSES = ("resolved", "verified", "wont_fix", "closed")

M = TypeVar("M", bound=Base)


async def lock(session: AsyncSession, model: type[M], key: str) -> M | None:
    """The row of ``model`` with primary key ``key``, locked for this event's update."""
    return await session.get(model, key, with_for_update=True)


def add(session: AsyncSession, row: Base) -> None:
    session.add(row)


async def add_correction_once(
    session: AsyncSession,
    *,
    id: str,
    tenant_id: str,
    kind: str,
    invoice_id: str | None,
    currency: str,
    amount: int,
    reason: str | None,
    issued_at: datetime,
) -> None:
    """A refund or credit note; a redelivered one is ignored (same id)."""
    await session.execute(
        insert(AccountCorrection)
        .values(
            id=id,
            tenant_id=tenant_id,
            kind=kind,
            invoice_id=invoice_id,
            currency=currency,
            amount=amount,
            reason=reason,
            issued_at=issued_at,
        )
        .on_conflict_do_nothing()
    )


def _rows_json(stmt: Select[Any], *order: str, correlate: Any = None) -> ScalarSelect[Any]:
    """``stmt``'s rows as one JSON array (``to_jsonb`` of each row), in ``order``
    (SQL on the rows, aliased ``r``). ``correlate``: the enclosing statement's entity
    ``stmt`` refers to (a subquery in a FROM clause is only correlated when told)."""
    if correlate is not None:
        stmt = stmt.correlate(correlate)
    rows = stmt.subquery("r")
    ordered: list[ColumnElement[Any]] = [literal_column(o) for o in order]
    return (
        select(
            func.coalesce(
                func.jsonb_agg(aggregate_order_by(func.to_jsonb(rows.table_valued()), *ordered)),
                func.jsonb_build_array(),
            )
        )
        .select_from(rows)
        .scalar_subquery()
    )


def account_context_columns(
    tenant_id: ColumnElement[Any] | InstrumentedAttribute[Any], *, correlate: Any = None
) -> tuple[ScalarSelect[Any], ...]:
    """The account context's JSON arrays of the tenant ``tenant_id`` names (a bound
    parameter, or a column of ``correlate``, the enclosing statement's entity, e.g. a
    ticket's in the ticket's own statement): users, open invoices, open bugs, open
    disputes, recent corrections.

    "Not closed" is ``<> ALL (ARRAY[…])``, what PostgreSQL makes of ``NOT IN (…)``
    anyway: SQLAlchemy renders a ``NOT IN`` list again on every execution ("post
    compile", a regular-expression pass over the whole ticket-page statement)."""
    # its own alias of tickets: inside a ticket's statement (``account_context_columns(
    # Ticket.tenant_id)``) a bare ``Ticket`` here would be correlated to the outer ticket
    linked_ticket = aliased(Ticket)
    linked = select(TicketBug.bug_id).join(linked_ticket, linked_ticket.id == TicketBug.ticket_id)
    if correlate is not None:
        linked = linked.correlate(correlate)
    users = _rows_json(
        select(AccountUser).where(AccountUser.tenant_id == tenant_id),
        "r.email",
        correlate=correlate,
    )
    invoices = _rows_json(
        select(AccountInvoice).where(
            AccountInvoice.tenant_id == tenant_id, AccountInvoice.status == "open"
        ),
        "r.due_date ASC NULLS LAST",
        "r.invoice_id",
        correlate=correlate,
    )
    bugs = _rows_json(
        select(Bug).where(
            or_(
                Bug.tenant_id == tenant_id,
                Bug.bug_id.in_(linked.where(linked_ticket.tenant_id == tenant_id)),
            ),
            Bug.status != all_(array(CLOSED_BUG_STATUSES)),
        ),
        "r.key",
        correlate=correlate,
    )
    disputes = _rows_json(
        select(AccountDispute).where(
            AccountDispute.tenant_id == tenant_id,
            AccountDispute.status != all_(array(CLOSED_DISPUTE_STATUSES)),
        ),
        "r.state_at DESC",
        "r.dispute_id",
        correlate=correlate,
    )
    corrections = _rows_json(
        select(AccountCorrection)
        .where(AccountCorrection.tenant_id == tenant_id)
        .order_by(AccountCorrection.issued_at.desc(), AccountCorrection.id)
        .limit(RECENT_CORRECTIONS),
        "r.issued_at DESC",
        "r.id",
        correlate=correlate,
    )
    return users, invoices, bugs, disputes, corrections


@functools.cache
def _account_view_statement() -> Select[Any]:
    """Built once: constructing this statement (and its cache key) on every request cost
    more CPU than running it."""
    tenant_id = bindparam("tenant_id", type_=String())
    return select(Account, *account_context_columns(tenant_id)).where(
        Account.tenant_id == tenant_id
    )


async def account_view_row(session: AsyncSession, tenant_id: str) -> Row[Any] | None:
    """The account row with its users, open invoices, open bugs, open disputes and recent
    corrections as JSON arrays, in one statement."""
    return (await session.execute(_account_view_statement(), {"tenant_id": tenant_id})).first()
