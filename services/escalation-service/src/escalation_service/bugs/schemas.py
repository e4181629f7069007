"""Request and response models of bug reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from escalation_service.impact.schemas import Impact
from servicekit.fields import StrictBool
from supportops_events.escalation import BugResolution, BugSeverity

Short = Annotated[str, Field(min_length=1, max_length=200)]
Step = Annotated[str, Field(min_length=1, max_length=2000)]
Text = Annotated[str, Field(max_length=10_000)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Input(BaseModel):
    """Base of request bodies: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class BugState(StrEnum):
    """Where a bug is in the QA workflow (finer than the event's ``BugStatus``)."""

    reported = "reported"
    reproducing = "reproducing"
    reproduced = "reproduced"
    cannot_reproduce = "cannot_reproduce"
    needs_info = "needs_info"
    escalated = "escalated"
    in_progress = "in_progress"
    fixed = "fixed"
    verified = "verified"
    closed = "closed"
    wont_fix = "wont_fix"
    reopened = "reopened"


class ReproductionOutcome(StrEnum):
    reproduced = "reproduced"
    not_reproduced = "not_reproduced"
    inconclusive = "inconclusive"


class EnvironmentIn(Input):
    app_version: str | None = Field(default=None, max_length=64)
    browser: str | None = Field(default=None, max_length=120)
    os: str | None = Field(default=None, max_length=120)
    tenant_configuration: dict[Short, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50
    )


class Attachment(Input):
    kind: Literal["link", "log_excerpt"]
    name: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    content: str | None = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _has_payload(self) -> Attachment:
        if self.kind == "link" and not self.url:
            raise ValueError("a link attachment needs a url")
        if self.kind == "log_excerpt" and not self.content:
            raise ValueError("a log excerpt needs content")
        return self


class TicketRef(Input):
    ticket_id: Ident
    tenant_id: Ident


class BugCreate(Input):
    tenant_id: Ident
    """The tenant the report comes from."""
    title: Short
    summary: Text = ""
    steps: list[Step] = Field(default_factory=list, max_length=50)
    expected: Text = ""
    actual: Text = ""
    environment: EnvironmentIn = Field(default_factory=EnvironmentIn)
    severity: BugSeverity = BugSeverity.medium
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    linked_tickets: list[TicketRef] = Field(default_factory=list, max_length=50)
    affected_tenants: list[Ident] = Field(default_factory=list, max_length=200)
    force_new: StrictBool = False
    """File a new bug even when a duplicate is found."""

    @model_validator(mode="after")
    def _distinct_tickets(self) -> BugCreate:
        ids = [t.ticket_id for t in self.linked_tickets]
        if len(ids) != len(set(ids)):
            raise ValueError("linked_tickets lists a ticket twice")
        return self


class BugSettable(Input):
    """The report as a PATCH merge-patches it (RFC 7396): ``environment`` merges key by
    key; lists (steps, attachments, affected tenants) are replaced whole."""

    title: Short
    summary: Text = ""
    steps: list[Step] = Field(default_factory=list, max_length=50)
    expected: Text = ""
    actual: Text = ""
    environment: EnvironmentIn = Field(default_factory=EnvironmentIn)
    severity: BugSeverity = BugSeverity.medium
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    affected_tenants: list[Ident] = Field(default_factory=list, max_length=200)
    """As the editor sees them: a tenant-scoped editor's list keeps the tenants it
    cannot see."""


class TransitionIn(Input):
    to: BugState
    note: str | None = Field(default=None, max_length=5000)
    question: str | None = Field(default=None, max_length=5000)
    """Required when moving to ``needs_info``."""
    escalated_to: str = Field(default="engineering", min_length=1, max_length=100)
    fixed_in_version: str | None = Field(default=None, max_length=64)


class ReproductionIn(Input):
    environment: EnvironmentIn = Field(default_factory=EnvironmentIn)
    steps_followed: list[Step] = Field(default_factory=list, max_length=50)
    outcome: ReproductionOutcome
    evidence: list[Attachment] = Field(default_factory=list, max_length=50)


class ReproductionOut(BaseModel):
    id: uuid.UUID
    bug_id: uuid.UUID
    environment: EnvironmentIn
    steps_followed: list[str]
    outcome: ReproductionOutcome
    evidence: list[Attachment]
    recorded_by: str | None
    recorded_at: datetime


class LinkIn(TicketRef):
    pass


class MergeIn(Input):
    into_bug_id: uuid.UUID


class Completeness(BaseModel):
    score: int = Field(ge=0, le=100)
    missing: list[str]


class LinkedTicket(BaseModel):
    ticket_id: str
    tenant_id: str
    is_duplicate: bool
    linked_at: datetime
    linked_by_model: str | None = None
    """The duplicate model (``GET /v1/duplicate-model``'s version, or ``shipped``) that
    linked the ticket automatically; null for a link made by hand or by a merge."""
    ticket_status: str | None = None
    sla_state: str | None = None


class HistoryEntry(BaseModel):
    from_status: str | None
    to_status: str
    note: str | None
    actor_id: str | None
    origin_bug_key: str | None
    at: datetime


class BugOut(BaseModel):
    id: uuid.UUID
    key: str
    tenant_id: str | None
    """The tenant the bug was first reported from; null for a tenant-scoped caller of
    another tenant."""
    title: str
    summary: str
    steps: list[str]
    expected: str
    actual: str
    environment: EnvironmentIn
    severity: BugSeverity
    attachments: list[Attachment]
    status: BugState
    resolution: BugResolution | None
    fixed_in_version: str | None
    duplicate_of_id: uuid.UUID | None
    external_issue_key: str | None
    completeness: Completeness
    linked_tickets: list[LinkedTicket]
    affected_tenants: list[str]
    impact: Impact
    version: int
    created_at: datetime
    updated_at: datetime


class BugDetail(BugOut):
    history: list[HistoryEntry]


class DuplicateCandidate(BaseModel):
    bug_id: uuid.UUID
    key: str
    title: str
    status: BugState
    score: float
    """Probability-like score (0-1) that the report describes this bug; linked
    automatically only at or above the service's ``duplicate_threshold``."""
    reasons: list[str] = Field(default_factory=list)
    """What the two share, strongest first (error fingerprint, words, title, rank)."""


class SimilarIn(Input):
    """A report an agent is about to file."""

    title: Short
    description: Text = ""
    actual: Text = ""
    steps: list[Step] = Field(default_factory=list, max_length=50)
    environment: EnvironmentIn = Field(default_factory=EnvironmentIn)
    limit: int = Field(default=5, ge=1, le=20)


class SimilarBug(BaseModel):
    bug_id: uuid.UUID
    key: str
    title: str
    status: BugState
    score: float
    reasons: list[str]


class SimilarOut(BaseModel):
    items: list[SimilarBug]
    auto_link_threshold: float
    """A report scoring this much against an item would be linked to it when filed."""
    model_version: str = "shipped"
    """The duplicate model that scored the items (``GET /v1/duplicate-model``)."""


class BugCreateResult(BaseModel):
    outcome: Literal["created", "linked_to_duplicate"]
    bug: BugOut
    candidates: list[DuplicateCandidate]


class Verdict(StrEnum):
    duplicate = "duplicate"
    different = "different"


class DuplicateVerdictIn(Input):
    """An agent's judgement of a listed candidate: ``duplicate`` records it (a merge
    folds the bugs; it records ``duplicate`` too), ``different`` says the two are separate
    defects. The refit learns from both (decision 0053)."""

    other_bug_id: uuid.UUID
    verdict: Verdict


class DuplicateVerdictOut(BaseModel):
    bug_ids: list[uuid.UUID]
    """The pair, the older report (the one filing compared against) first."""
    verdict: Verdict
    signals: dict[str, float]
    """The pair's signals when the verdict was given: what a refit is fitted on."""
    score: float
    """The pair's score by the model in use when the verdict was given."""
    model_version: str
    encoder: str
    """The encoder of the embeddings behind ``signals``' semantic (a refit recomputes it
    from the bugs' current embeddings when the encoder has changed since)."""
    source: Literal["merge", "verdict"]
    judged_by: str | None
    judged_at: datetime
    waiting_for_refit: bool
    """Not yet seen by the newest refit (accepted or rejected)."""


class DuplicateModelOut(BaseModel):
    version: str
    """The model that scores duplicates now: ``shipped`` (the constants of
    ``bugs.similarity``) until a refit is accepted."""
    threshold: float
    """Its auto-link threshold (``ESCALATION_DUPLICATE_THRESHOLD`` for the shipped model)."""
    weights: dict[str, float]
    intercept: float
    in_sample_precision: float | None
    """Precision and recall on the pairs it was fitted on, at its threshold (null for the
    shipped model: `python -m benchmarks.quality --fit` prints them, 0.946 / 0.477)."""
    in_sample_recall: float | None
    corpus_pairs: int | None
    verdicts_seen: int
    """The verdicts the model in use was fitted on."""
    verdicts_waiting: int
    """Verdicts given or changed since the newest refit: the next refit fits them."""
    verdicts_total: int
    encoder: str
    """The sentence encoder of the semantic signal (``bugs.embedding_model``): only refits
    fitted with it are served."""
    created_at: datetime | None
    latest_refit: DuplicateRefitOut | None = None
    """The newest refit, accepted or not (a rejected one is never used)."""


class DuplicateRefitOut(BaseModel):
    version: str
    created: bool
    """False: this data was fitted before (the same version, nothing recorded)."""
    accepted: bool
    rejection: str | None
    threshold: float | None
    weights: dict[str, float]
    intercept: float
    in_sample_precision: float
    in_sample_recall: float
    corpus_pairs: int
    verdicts: int
    fit_seconds: float
    encoder: str
    """The encoder whose semantic signal it was fitted on: served only with that encoder."""
    created_at: datetime


DuplicateModelOut.model_rebuild()
