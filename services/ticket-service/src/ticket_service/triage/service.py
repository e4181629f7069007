"""Triage rules: storage, ordering and dry runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from ticket_service.models import TriageRule
from ticket_service.triage.engine import Rule, TicketFacts, triage
from ticket_service.triage.schemas import (
    DryRunIn,
    RuleActions,
    RuleConditions,
    TriageOutcome,
    TriageRuleIn,
    TriageRuleOut,
    TriageRulePatch,
)


def to_out(row: TriageRule) -> TriageRuleOut:
    return TriageRuleOut(
        id=row.id,
        name=row.name,
        position=row.position,
        enabled=row.enabled,
        conditions=RuleConditions.model_validate(row.conditions),
        actions=RuleActions.model_validate(row.actions),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_rules(session: AsyncSession) -> list[Rule]:
    """The enabled rules in order, from the database (``active_rules`` is cached)."""
    rows = (
        await session.scalars(
            select(TriageRule)
            .where(TriageRule.enabled.is_(True))
            .order_by(TriageRule.position, TriageRule.name)
        )
    ).all()
    return [
        Rule(
            id=r.id,
            name=r.name,
            conditions=RuleConditions.model_validate(r.conditions),
            actions=RuleActions.model_validate(r.actions),
        )
        for r in rows
    ]


async def active_rules(session: AsyncSession) -> Sequence[Rule]:
    """The enabled rules, from the process's configuration cache."""
    from ticket_service.config_cache import configuration

    return (await configuration(session)).rules


async def run_triage(
    session: AsyncSession, *, facts: TicketFacts, rules: Sequence[Rule] | None = None
) -> TriageOutcome:
    return triage(list(rules if rules is not None else await active_rules(session)), facts)


async def dry_run(session: AsyncSession, *, body: DryRunIn) -> TriageOutcome:
    facts = TicketFacts(
        subject=body.subject,
        body=body.body,
        channel=body.channel.value,
        requester_email=body.requester_email,
        plan_tier=body.plan_tier.value if body.plan_tier else None,
    )
    return await run_triage(session, facts=facts)


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> TriageRule:
    rule = await session.get(TriageRule, rule_id)
    if rule is None:
        raise NotFound("triage rule not found")
    return rule


async def create_rule(session: AsyncSession, *, body: TriageRuleIn, at: datetime) -> TriageRule:
    rule = TriageRule(
        name=body.name,
        position=body.position,
        enabled=body.enabled,
        conditions=body.conditions.model_dump(mode="json"),
        actions=body.actions.model_dump(mode="json"),
        version=1,
        created_at=at,
        updated_at=at,
    )
    session.add(rule)
    await _flush_unique(session)
    return rule


async def update_rule(
    session: AsyncSession, *, rule: TriageRule, patch: TriageRulePatch, at: datetime
) -> TriageRule:
    if patch.name is not None:
        rule.name = patch.name
    if patch.position is not None:
        rule.position = patch.position
    if patch.enabled is not None:
        rule.enabled = patch.enabled
    if patch.conditions is not None:
        rule.conditions = patch.conditions.model_dump(mode="json")
    if patch.actions is not None:
        rule.actions = patch.actions.model_dump(mode="json")
    rule.version += 1
    rule.updated_at = at
    await _flush_unique(session)
    return rule


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a triage rule with this name exists", code="rule-name-taken") from exc
