"""Triage rules: storage, ordering and dry runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.merge_patch import apply_merge_patch
from ticket_service.models import TriageRule
from ticket_service.triage.engine import Rule, TicketFacts, triage
from ticket_service.triage.schemas import (
    DryRunIn,
    RuleActions,
    RuleConditions,
    TriageOutcome,
    TriageRuleIn,
    TriageRuleOut,
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


async def active_rules(session: AsyncSession) -> list[Rule]:
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


async def run_triage(session: AsyncSession, *, facts: TicketFacts) -> TriageOutcome:
    return triage(await active_rules(session), facts)


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


def settable_of(rule: TriageRule) -> dict[str, Any]:
    """The rule as the document a PATCH merge-patches (everything but its identity)."""
    return {
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "conditions": dict(rule.conditions),
        "actions": dict(rule.actions),
    }


def merged_rule(rule: TriageRule, patch: dict[str, Any]) -> TriageRuleIn:
    """The rule with an RFC 7396 merge patch applied: ``{"conditions": {"keywords": [...]}}``
    keeps the other conditions and the actions; validated as a new rule would be."""
    return apply_merge_patch(TriageRuleIn, document=settable_of(rule), patch=patch)


async def update_rule(
    session: AsyncSession, *, rule: TriageRule, merged: TriageRuleIn, at: datetime
) -> TriageRule:
    rule.name = merged.name
    rule.position = merged.position
    rule.enabled = merged.enabled
    rule.conditions = merged.conditions.model_dump(mode="json")
    rule.actions = merged.actions.model_dump(mode="json")
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
