"""Queries of triage: the rules (the enabled ones in order are what the configuration
cache keeps) and the agents' labelled examples."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sa_text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageParams, paginate
from ticket_service.models import TriageExample, TriageModelVersion, TriageRule


async def enabled_rules(session: AsyncSession) -> Sequence[TriageRule]:
    """The enabled rules in order (``config_cache`` keeps them per process)."""
    return (
        await session.scalars(
            select(TriageRule)
            .where(TriageRule.enabled.is_(True))
            .order_by(TriageRule.position, TriageRule.name)
        )
    ).all()


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> TriageRule | None:
    return await session.get(TriageRule, rule_id)


async def flush_rule(session: AsyncSession, rule: TriageRule) -> bool:
    """Insert or update ``rule``; False if its name is taken (the savepoint keeps the
    transaction usable)."""
    session.add(rule)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    return True


async def upsert_example(session: AsyncSession, values: dict[str, Any]) -> None:
    """Store a ticket's labelled example; a later label of the same ticket replaces it
    and moves it to the end of the sequence."""
    stmt = insert(TriageExample).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TriageExample.ticket_id],
            set_={
                "label": values["label"],
                "labelled_by": values["labelled_by"],
                "labelled_at": values["labelled_at"],
                # a new position: refits up to an older sequence number do not include it
                "seq": sa_text("nextval(pg_get_serial_sequence('triage_examples', 'seq'))"),
            },
        )
    )


async def example_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(TriageExample)) or 0)


async def latest_model_version(session: AsyncSession) -> TriageModelVersion | None:
    found: TriageModelVersion | None = await session.scalar(
        select(TriageModelVersion).order_by(TriageModelVersion.id.desc()).limit(1)
    )
    return found


async def model_version(session: AsyncSession, version: str) -> TriageModelVersion | None:
    found: TriageModelVersion | None = await session.scalar(
        select(TriageModelVersion).where(TriageModelVersion.version == version)
    )
    return found


async def add_model_version(session: AsyncSession, row: TriageModelVersion) -> None:
    session.add(row)
    await session.flush()


async def last_example_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(TriageExample.seq), 0))) or 0)


async def examples(session: AsyncSession, *, through: int | None) -> Sequence[TriageExample]:
    """The agents' examples in sequence order, up to ``through`` if given."""
    stmt = select(TriageExample).order_by(TriageExample.seq)
    if through is not None:
        stmt = stmt.where(TriageExample.seq <= through)
    return (await session.scalars(stmt)).all()


async def rules_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    """One page of the rules in evaluation order."""
    return await paginate(
        session, select(TriageRule), keys=[TriageRule.position, TriageRule.id], params=params
    )


async def examples_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    """One page of the labelled examples, in sequence order."""
    return await paginate(
        session, select(TriageExample), keys=[TriageExample.seq, TriageExample.id], params=params
    )


async def delete_rule(session: AsyncSession, rule: TriageRule) -> None:
    await session.delete(rule)
    await session.flush()
