"""API shapes of tickets and their timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from supportops_events.tickets import TicketPriority, TicketStatus
from ticket_service.accounts.schemas import AccountOut
from ticket_service.categories import AccessSubcategory, Category, Channel
from ticket_service.sla.business_hours import SlaState
from ticket_service.sla.schemas import TicketSlaOut
from ticket_service.triage.schemas import TriageEvidence

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class MessageKind(StrEnum):
    reply = "reply"
    note = "note"


class RequesterIn(BaseModel):
    email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, min_length=1, max_length=64)


class TicketIn(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64)
    requester: RequesterIn
    channel: Channel
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=50_000)


class TicketSettable(BaseModel):
    """What a PATCH of a ticket merge-patches (RFC 7396). ``null`` removes the queue,
    the category (back to untriaged, "other") or the assignee (unassigned); status and
    priority cannot be removed (422 naming the field). Naming another category without a
    subcategory drops the old subcategory."""

    status: TicketStatus
    priority: TicketPriority
    queue: str | None = Field(default=None, min_length=1, max_length=64)
    category: Category | None = None
    subcategory: AccessSubcategory | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    assignee_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=1000)
    """Not stored as a field: why this change was made (on the timeline)."""


class MessageIn(BaseModel):
    kind: MessageKind
    body: str = Field(min_length=1, max_length=50_000)


class RequesterOut(BaseModel):
    email: str
    name: str | None
    user_id: str | None


class TriageJudgment(BaseModel):
    """How the classifier judged the ticket (absent when a rule or the system routed it)."""

    confidence: float
    model_version: str
    evidence: list[TriageEvidence]


class TicketOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    requester: RequesterOut
    channel: str
    subject: str
    body: str
    status: TicketStatus
    priority: TicketPriority
    category: str | None
    subcategory: str | None
    queue: str | None
    tags: list[str]
    assignee_id: str | None
    followup_key: str | None
    version: int
    first_response_at: datetime | None
    solved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sla_state: SlaState | None
    """The most urgent state of the ticket's SLA clocks now: breached, warning, running,
    paused, missed or met."""
    sla_due_at: datetime | None
    """The earliest deadline of a running SLA clock (in the past when breached)."""
    triage: TriageJudgment | None = None


class TimelineEntryOut(BaseModel):
    """One timeline entry, from its entity or from the JSON a ticket page reads it as."""

    id: uuid.UUID
    kind: str
    author_type: str
    author_id: str | None
    action: str | None
    body: str
    reason: str | None
    data: dict[str, Any]
    template_key: str | None
    template_version: int | None
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # JSON read from PostgreSQL carries the session's offset; entities' times are UTC
        return value.astimezone(UTC)


class BugLinkOut(BaseModel):
    bug_id: str
    key: str
    title: str
    status: str


class TicketDetail(TicketOut):
    timeline: list[TimelineEntryOut]
    sla: TicketSlaOut
    account: AccountOut | None
    linked_bugs: list[BugLinkOut]
