"""API shapes of triage rules and dry runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from servicekit.fields import StrictBool
from supportops_events.billing import PlanTier
from supportops_events.tickets import TicketPriority
from ticket_service.categories import AccessSubcategory, Category, Channel
from ticket_service.triage.regex import compile_pattern

MAX_PATTERN_LENGTH = 200


Keyword = Annotated[str, Field(min_length=1, max_length=100)]
Domain = Annotated[str, Field(min_length=1, max_length=255)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


def check_pattern(pattern: str) -> str:
    """Refuse what RE2 cannot compile; the 422 names the pattern (see ``triage.regex``)."""
    compile_pattern(pattern)  # raises PatternRefused, a ValueError pydantic reports
    return pattern


Pattern = Annotated[
    str, Field(min_length=1, max_length=MAX_PATTERN_LENGTH), AfterValidator(check_pattern)
]


class TriageEvidence(BaseModel):
    """A phrase of the ticket that pushed the classifier towards its answer. ``…ssw…``
    marks a character n-gram (robust to typos); plain text is a word or two-word phrase."""

    feature: str
    weight: float


class RuleConditions(BaseModel):
    """Every condition given must hold; within one condition any listed value suffices."""

    channels: list[Channel] = Field(default_factory=list, max_length=10)
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    """Case-insensitive words or phrases looked for in subject and body."""
    patterns: list[Pattern] = Field(default_factory=list, max_length=20)
    """Regular expressions (case-insensitive) searched in subject and body."""
    requester_domains: list[Domain] = Field(default_factory=list, max_length=50)
    plan_tiers: list[PlanTier] = Field(default_factory=list, max_length=4)


class RuleActions(BaseModel):
    category: Category
    subcategory: AccessSubcategory | None = None
    priority: TicketPriority | None = None
    queue: str = Field(default="support", min_length=1, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _subcategory_fits(self) -> RuleActions:
        if self.subcategory is not None and self.category is not Category.access:
            raise ValueError("subcategory is only defined for the access category")
        return self


class TriageRuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    position: int = Field(ge=0, le=1_000_000)
    enabled: StrictBool = True
    conditions: RuleConditions
    actions: RuleActions


class TriageRuleOut(BaseModel):
    id: uuid.UUID
    name: str
    position: int
    enabled: bool
    conditions: RuleConditions
    actions: RuleActions
    version: int
    created_at: datetime
    updated_at: datetime


class DryRunIn(BaseModel):
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=50_000)
    channel: Channel = Channel.email
    requester_email: str | None = Field(default=None, max_length=320)
    plan_tier: PlanTier | None = None


class TriageOutcome(BaseModel):
    rule_id: uuid.UUID | None
    rule_name: str | None
    """The rule that decided, when one did; rules are evaluated before the classifier."""
    reasons: list[str]
    category: Category
    subcategory: AccessSubcategory | None
    priority: TicketPriority
    queue: str
    tags: list[str]
    confidence: float | None = None
    """The classifier's probability of its answer (None when a rule decided)."""
    model_version: str | None = None
    """The fitted model that classified (None when a rule decided)."""
    evidence: list[TriageEvidence] = Field(default_factory=list)
    needs_review: bool = False
    """Below the configured confidence: the category is only a suggestion and the ticket
    waits in the ``triage_review`` queue for an agent."""
    runner_up: str | None = None
    """The classifier's second choice (``category`` or ``access/<subcategory>``)."""


class TriageModelOut(BaseModel):
    version: str
    """Recorded on every ticket it triages (``triage.model_version``)."""
    corpus_examples: int
    agent_examples: int
    """Agents' labelled examples this model was fitted with."""
    pending_examples: int
    """Examples recorded since: the next refit learns from them."""
    review_below: float
    fit_seconds: float
    labels: list[str]


class TriageExampleOut(BaseModel):
    ticket_id: uuid.UUID
    subject: str
    label: str
    predicted_label: str | None
    model_version: str | None
    labelled_by: str | None
    labelled_at: datetime


class TriageRefitOut(BaseModel):
    version: str
    created: bool
    """False when the same examples were fitted before (the version exists)."""
    corpus_examples: int
    agent_examples: int
    fit_seconds: float
