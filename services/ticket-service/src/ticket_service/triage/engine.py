"""Pure triage: which rule fires for a ticket, and why. No I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from supportops_events.tickets import TicketPriority
from ticket_service.categories import Category
from ticket_service.triage import regex
from ticket_service.triage.schemas import RuleActions, RuleConditions, TriageOutcome

# Matching is bounded: very long bodies are only searched in their first part.
MAX_SEARCHED_CHARS = 20_000
DEFAULT_QUEUE = "support"


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID | None
    name: str
    conditions: RuleConditions
    actions: RuleActions


@dataclass(frozen=True)
class TicketFacts:
    subject: str
    body: str
    channel: str
    requester_email: str | None
    plan_tier: str | None


@lru_cache(maxsize=1024)
def _keyword_re(keyword: str) -> re.Pattern[str]:
    """A keyword matches whole words only: ``plan`` is not found in ``explanation``."""
    return re.compile(r"(?<!\w)" + re.escape(keyword.lower()) + r"(?!\w)")


def _matches(conditions: RuleConditions, facts: TicketFacts) -> list[str] | None:
    """The reasons the conditions hold, or None when one fails."""
    reasons: list[str] = []
    text = f"{facts.subject}\n{facts.body}"[:MAX_SEARCHED_CHARS]
    lowered = text.lower()
    if conditions.channels:
        if facts.channel not in {c.value for c in conditions.channels}:
            return None
        reasons.append(f"channel is {facts.channel}")
    if conditions.keywords:
        hits = [k for k in conditions.keywords if _keyword_re(k).search(lowered)]
        if not hits:
            return None
        reasons.append("keywords matched: " + ", ".join(repr(h) for h in hits))
    if conditions.patterns:
        found = [p for p in conditions.patterns if regex.search(p, text)]
        if not found:
            return None
        reasons.append("patterns matched: " + ", ".join(repr(p) for p in found))
    if conditions.requester_domains:
        domain = (facts.requester_email or "").rsplit("@", 1)[-1].lower()
        if domain not in {d.lower() for d in conditions.requester_domains}:
            return None
        reasons.append(f"requester domain is {domain}")
    if conditions.plan_tiers:
        if facts.plan_tier not in {t.value for t in conditions.plan_tiers}:
            return None
        reasons.append(f"plan tier is {facts.plan_tier}")
    if not reasons:
        reasons.append("rule has no conditions (catch-all)")
    return reasons


def triage(rules: list[Rule], facts: TicketFacts) -> TriageOutcome:
    """The first rule (in order) whose conditions hold decides; none → ``other``."""
    for rule in rules:
        reasons = _matches(rule.conditions, facts)
        if reasons is None:
            continue
        actions = rule.actions
        return TriageOutcome(
            rule_id=rule.id,
            rule_name=rule.name,
            reasons=reasons,
            category=actions.category,
            subcategory=actions.subcategory,
            priority=actions.priority or TicketPriority.normal,
            queue=actions.queue,
            tags=list(actions.tags),
        )
    return TriageOutcome(
        rule_id=None,
        rule_name=None,
        reasons=["no rule matched"],
        category=Category.other,
        subcategory=None,
        priority=TicketPriority.normal,
        queue=DEFAULT_QUEUE,
        tags=[],
    )
