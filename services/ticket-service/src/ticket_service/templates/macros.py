"""Macros: a template reply plus status, priority and tag changes, applied atomically.

Everything a macro does happens in the request's one transaction: if any part fails
(a missing variable, a forbidden transition), none of it is kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.pagination import PageParams
from ticket_service.models import Macro, Ticket
from ticket_service.templates import repository
from ticket_service.templates.schemas import MacroIn
from ticket_service.templates.service import latest, reply_with_template
from ticket_service.tickets.service import merged_ticket, update_ticket
from ticket_service.tickets.timeline import Actor


async def create_macro(session: AsyncSession, *, body: MacroIn, at: datetime) -> Macro:
    if body.template_key is not None:
        await latest(session, body.template_key)  # 404 when unknown
    macro = Macro(
        id=uuid.uuid4(),
        name=body.name,
        template_key=body.template_key,
        status=body.status.value if body.status else None,
        priority=body.priority.value if body.priority else None,
        add_tags=sorted(set(body.add_tags)),
        remove_tags=sorted(set(body.remove_tags)),
        created_at=at,
    )
    if not await repository.insert_unique(session, macro, refresh=False):
        raise Conflict("a macro with this name exists", code="macro-exists")
    return macro


async def macros_page(session: AsyncSession, params: PageParams) -> tuple[list[Macro], str | None]:
    return await repository.macros_page(session, params)


async def get_macro(session: AsyncSession, macro_id: uuid.UUID) -> Macro:
    macro = await repository.get_macro(session, macro_id)
    if macro is None:
        raise NotFound("macro not found")
    return macro


async def apply_macro(
    session: AsyncSession,
    *,
    ticket: Ticket,
    macro: Macro,
    variables: dict[str, str],
    actor: Actor,
    at: datetime,
) -> None:
    if macro.template_key is not None:
        await reply_with_template(
            session, ticket=ticket, key=macro.template_key, variables=variables, actor=actor, at=at
        )
    tags = (set(ticket.tags or []) | set(macro.add_tags)) - set(macro.remove_tags)
    # a merge patch: what the macro leaves unset is left out, so it stays as it is
    patch: dict[str, Any] = {"tags": sorted(tags), "reason": f"macro {macro.name!r}"}
    if macro.status is not None:
        patch["status"] = macro.status
    if macro.priority is not None:
        patch["priority"] = macro.priority
    merged = merged_ticket(ticket, patch)
    await update_ticket(session, ticket=ticket, merged=merged, actor=actor, at=at)
