"""Pure triage: which rule fires for a ticket, and why. No I/O."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from supportops_events.tickets import TicketPriority
from ticket_service.categories import Category
from ticket_service.models import TriageRule
from ticket_service.triage import regex
from ticket_service.triage.classifier import (
    REVIEW_QUEUE,
    REVIEW_TAG,
    ROUTING,
    TriageClassifier,
    split_label,
)
from ticket_service.triage.schemas import (
    RuleActions,
    RuleConditions,
    TriageEvidence,
    TriageOutcome,
)

# Matching is bounded: very long bodies are only searched in their first part.
MAX_SEARCHED_CHARS = 20_000
DEFAULT_QUEUE = "support"


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID | None
    name: str
    conditions: RuleConditions
    actions: RuleActions


def rules_of(rows: Iterable[TriageRule]) -> list[Rule]:
    """Stored rules as the engine applies them."""
    return [
        Rule(
            id=r.id,
            name=r.name,
            conditions=RuleConditions.model_validate(r.conditions),
            actions=RuleActions.model_validate(r.actions),
        )
        for r in rows
    ]


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


def triage(
    rules: list[Rule], facts: TicketFacts, classifier: TriageClassifier | None = None
) -> TriageOutcome:
    """The first rule (in order) whose conditions hold decides; none → the classifier
    (or ``other`` without one)."""
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
    if classifier is not None:
        return classify(classifier, facts)
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


def classify(classifier: TriageClassifier, facts: TicketFacts) -> TriageOutcome:
    """The classifier's judgment as routing; unsure → the review queue, the answer kept as
    a suggestion."""
    model = classifier.model
    prediction = model.predict(facts.subject, facts.body)
    category, subcategory = split_label(prediction.label)
    routing = ROUTING.get(prediction.label, ROUTING[Category.other.value])
    needs_review = prediction.confidence < classifier.review_below
    shown = ", ".join(e.feature for e in prediction.evidence) or "nothing specific"
    reasons = [
        f"classifier {model.version}: {prediction.label} with confidence "
        f"{prediction.confidence:.2f} (next: {prediction.runner_up} "
        f"{prediction.runner_up_confidence:.2f})",
        f"evidence: {shown}",
    ]
    if needs_review:
        reasons.append(f"confidence below {classifier.review_below:.2f}: queued for triage review")
    return TriageOutcome(
        rule_id=None,
        rule_name=None,
        reasons=reasons,
        category=category,
        subcategory=subcategory,
        priority=TicketPriority.normal if needs_review else routing.priority,
        queue=REVIEW_QUEUE if needs_review else routing.queue,
        tags=[REVIEW_TAG] if needs_review else list(routing.tags),
        confidence=prediction.confidence,
        model_version=model.version,
        evidence=[TriageEvidence(feature=e.feature, weight=e.weight) for e in prediction.evidence],
        needs_review=needs_review,
        runner_up=prediction.runner_up,
    )
