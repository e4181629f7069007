"""Triage rules: storage, ordering and dry runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound
from servicekit.merge_patch import apply_merge_patch
from servicekit.pagination import PageParams
from ticket_service.models import Ticket, TriageExample, TriageRule
from ticket_service.triage import repository
from ticket_service.triage.classifier import classifier_of, join_label, refit
from ticket_service.triage.engine import Rule, TicketFacts, rules_of, triage
from ticket_service.triage.schemas import (
    DryRunIn,
    RuleActions,
    RuleConditions,
    TriageModelOut,
    TriageOutcome,
    TriageRefitOut,
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


async def run_triage(
    session: AsyncSession, *, facts: TicketFacts, rules: Sequence[Rule] | None = None
) -> TriageOutcome:
    """Enabled rules first (explicit overrides), then the process's classifier (in
    memory: no SQL). ``rules``: the cached rules the caller already holds; without
    them the enabled rules are read (a dry run sees an edit of the same moment)."""
    return triage(
        list(rules) if rules is not None else rules_of(await repository.enabled_rules(session)),
        facts,
        classifier_of(session),
    )


async def record_example(
    session: AsyncSession,
    *,
    ticket: Ticket,
    previous: tuple[str | None, str | None],
    by: str | None,
    at: datetime,
) -> None:
    """Store the agent's label of this ticket as a training example (one per ticket: a
    later correction replaces it and moves it to the end of the sequence)."""
    label = join_label(ticket.category, ticket.subcategory)
    values = {
        "id": uuid.uuid4(),
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "body": ticket.body,
        "label": label,
        "predicted_label": join_label(*previous) if previous[0] else None,
        "model_version": ticket.triage_model_version,
        "labelled_by": by,
        "labelled_at": at,
    }
    await repository.upsert_example(session, values)


async def dry_run(session: AsyncSession, *, body: DryRunIn) -> TriageOutcome:
    facts = TicketFacts(
        subject=body.subject,
        body=body.body,
        channel=body.channel.value,
        requester_email=body.requester_email,
        plan_tier=body.plan_tier.value if body.plan_tier else None,
    )
    return await run_triage(session, facts=facts)


async def rules_page(
    session: AsyncSession, params: PageParams
) -> tuple[list[TriageRule], str | None]:
    return await repository.rules_page(session, params)


async def examples_page(
    session: AsyncSession, params: PageParams
) -> tuple[list[TriageExample], str | None]:
    return await repository.examples_page(session, params)


async def delete_rule(session: AsyncSession, rule: TriageRule) -> None:
    await repository.delete_rule(session, rule)


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> TriageRule:
    rule = await repository.get_rule(session, rule_id)
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
    await _flush_unique(session, rule)
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
    await _flush_unique(session, rule)
    return rule


async def _flush_unique(session: AsyncSession, rule: TriageRule) -> None:
    if not await repository.flush_rule(session, rule):
        raise Conflict("a triage rule with this name exists", code="rule-name-taken")


async def model_info(session: AsyncSession) -> TriageModelOut:
    classifier = classifier_of(session)
    model = classifier.model
    total = await repository.example_count(session)
    agent_examples = model.trained_on - len(classifier.corpus)
    return TriageModelOut(
        version=model.version,
        corpus_examples=len(classifier.corpus),
        agent_examples=agent_examples,
        pending_examples=max(0, total - agent_examples),
        review_below=classifier.review_below,
        fit_seconds=round(model.fit_seconds, 3),
        labels=model.labels,
    )


async def refit_now(session: AsyncSession, *, at: datetime) -> TriageRefitOut:
    result = await refit(session, classifier=classifier_of(session), at=at)
    return TriageRefitOut(
        version=result.version,
        created=result.created,
        corpus_examples=result.corpus_examples,
        agent_examples=result.agent_examples,
        fit_seconds=round(result.fit_seconds, 3),
    )
