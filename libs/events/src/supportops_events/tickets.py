"""Events of ticket-service: ticket lifecycle, SLA clocks, bug escalations, access requests."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from supportops_events.base import Event, Payload
from supportops_events.escalation import BugSeverity, Environment
from supportops_events.onboarding import AccessAction
from supportops_events.topics import ONBOARDING_COMMANDS, TICKETS_EVENTS

# --- value sets -----------------------------------------------------------------------


class TicketStatus(StrEnum):
    """Where a ticket is in its lifecycle."""

    new = "new"
    open = "open"
    pending = "pending"
    """Waiting for the customer."""
    on_hold = "on_hold"
    """Waiting for a third party, e.g. a linked bug."""
    solved = "solved"
    closed = "closed"


class TicketPriority(StrEnum):
    """How fast a ticket must be answered; drives the SLA clocks."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketChannel(StrEnum):
    """How a ticket came in."""

    email = "email"
    web = "web"
    api = "api"
    chat = "chat"
    phone = "phone"
    social = "social"
    proactive = "proactive"
    """Opened by the system, e.g. for a billing follow-up."""


class ReplyVisibility(StrEnum):
    """Who sees a reply."""

    public = "public"
    """Sent to the customer."""
    internal = "internal"
    """An internal note, seen by agents only."""


class ReplyAuthor(StrEnum):
    """Who wrote a reply."""

    agent = "agent"
    customer = "customer"
    system = "system"


class SlaMetric(StrEnum):
    """Which SLA clock."""

    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


# --- values ---------------------------------------------------------------------------


class Requester(Payload):
    """The customer person who asked for help."""

    user_id: str | None = None
    """The user's id in onboarding-service, when the requester is a known user."""
    email: str
    name: str | None = None


# --- bases ----------------------------------------------------------------------------


class TicketEvent(Event):
    """What every ``ticket.*`` event carries."""

    topic: ClassVar[str] = TICKETS_EVENTS
    producer: ClassVar[str] = "ticket-service"
    subject_field: ClassVar[str | None] = "ticket_id"

    ticket_id: str
    status: TicketStatus
    """The ticket's status after the change."""


# --- lifecycle ------------------------------------------------------------------------


class TicketCreated(TicketEvent):
    """A ticket was opened, by a customer, an agent or the system."""

    event_type: ClassVar[str] = "ticket.created"

    subject: str
    requester: Requester
    channel: TicketChannel
    priority: TicketPriority
    category: str | None = None
    """The triage category, when known at creation (proactive tickets)."""
    queue: str | None = None
    tags: list[str] = Field(default_factory=list)
    followup_key: str | None = None
    """The ``billing.followup_required`` problem this proactive ticket is about."""
    created_at: AwareDatetime


class TicketTriaged(TicketEvent):
    """The ticket was classified and routed."""

    event_type: ClassVar[str] = "ticket.triaged"

    category: str
    """The triage category, e.g. ``access/mfa``, ``billing/payment``, ``potential_bug``."""
    queue: str
    """The queue it was routed to, e.g. ``support``, ``billing``."""
    priority: TicketPriority
    tags: list[str] = Field(default_factory=list)
    automatic: bool
    """Whether rules triaged it (true) or an agent did (false)."""
    triaged_by: str | None = None
    """The agent who triaged it, when not automatic."""
    previous_category: str | None = None


class TicketAssigned(TicketEvent):
    """The ticket got an assignee (or a new one)."""

    event_type: ClassVar[str] = "ticket.assigned"

    assignee_id: str
    queue: str | None = None
    previous_assignee_id: str | None = None
    assigned_by: str | None = None
    """Who assigned it; none for automatic assignment."""


class TicketUnassigned(TicketEvent):
    """The ticket was taken off its agent (a merge patch ``{"assignee_id": null}``): back
    to its queue, for the next assignment."""

    event_type: ClassVar[str] = "ticket.unassigned"

    previous_assignee_id: str
    queue: str | None = None
    unassigned_by: str | None = None


class TicketReplied(TicketEvent):
    """A reply or an internal note was added to the ticket."""

    event_type: ClassVar[str] = "ticket.replied"

    reply_id: str
    author: ReplyAuthor
    author_id: str | None = None
    visibility: ReplyVisibility
    template_key: str | None = None
    """The approved reply template used, if any."""
    is_first_response: bool = False
    """Whether this is the first public agent reply (stops the first-response clock)."""
    replied_at: AwareDatetime


class TicketStatusChanged(TicketEvent):
    """The ticket's status changed (every change, including to solved and reopened)."""

    event_type: ClassVar[str] = "ticket.status_changed"

    previous_status: TicketStatus
    changed_by: str | None = None
    """Who changed it; none for automation."""
    reason: str | None = None
    changed_at: AwareDatetime


class TicketSolved(TicketEvent):
    """The ticket was solved."""

    event_type: ClassVar[str] = "ticket.solved"

    solved_by: str | None = None
    """The agent who solved it; none when solved automatically."""
    automatic: bool = False
    """Whether the system solved it, e.g. a billing follow-up whose invoice got paid."""
    resolution: str | None = None
    linked_bug_ids: list[str] = Field(default_factory=list)
    solved_at: AwareDatetime


class TicketReopened(TicketEvent):
    """A solved ticket was reopened."""

    event_type: ClassVar[str] = "ticket.reopened"

    previous_status: TicketStatus
    reopened_by: str | None = None
    reason: str | None = None
    reopened_at: AwareDatetime


# --- SLA clocks -----------------------------------------------------------------------


class TicketSlaWarning(TicketEvent):
    """An SLA target is close."""

    event_type: ClassVar[str] = "ticket.sla_warning"

    metric: SlaMetric
    priority: TicketPriority
    due_at: AwareDatetime
    remaining_seconds: int = Field(ge=0)
    assignee_id: str | None = None
    queue: str | None = None


class TicketSlaBreached(TicketEvent):
    """An SLA target was missed."""

    event_type: ClassVar[str] = "ticket.sla_breached"

    metric: SlaMetric
    priority: TicketPriority
    due_at: AwareDatetime
    breached_at: AwareDatetime
    assignee_id: str | None = None
    queue: str | None = None


# --- escalation -----------------------------------------------------------------------


class TicketEscalated(TicketEvent):
    """An agent escalated a potential bug; escalation-service files it or links a duplicate."""

    event_type: ClassVar[str] = "ticket.escalated"

    title: str
    description: str | None = None
    steps: list[str] = Field(min_length=1)
    """Steps to reproduce, in order."""
    expected: str
    actual: str
    environment: Environment
    severity: BugSeverity
    requester: Requester
    tenant_name: str | None = None
    priority: TicketPriority
    escalated_by: str
    """The agent who escalated."""
    escalated_at: AwareDatetime


# --- commands -------------------------------------------------------------------------


class AccessActionRequested(Event):
    """Command: onboarding-service, please perform this access action on a user.

    Sent only after the ticket service's verification gate passed. Answered by
    ``access.action_completed`` or ``access.action_rejected`` with the same
    ``request_id``.
    """

    event_type: ClassVar[str] = "access.action_requested"
    topic: ClassVar[str] = ONBOARDING_COMMANDS
    producer: ClassVar[str] = "ticket-service"
    subject_field: ClassVar[str | None] = "request_id"

    request_id: str
    """Unique per request; onboarding-service performs each request at most once."""
    action: AccessAction
    user_id: str
    user_email: str
    ticket_id: str
    requested_by: str
    """The agent who asked."""
    reason: str | None = None
    requested_at: AwareDatetime


class AccessConfirmationSubmitted(Event):
    """Command: onboarding-service, here is the one-time code the user read back for a
    pending access request; perform the action only if it matches.

    Answered by ``access.action_completed``, ``access.confirmation_failed`` (attempts
    left) or ``access.action_rejected`` with the same ``request_id``.
    """

    event_type: ClassVar[str] = "access.confirmation_submitted"
    topic: ClassVar[str] = ONBOARDING_COMMANDS
    producer: ClassVar[str] = "ticket-service"
    subject_field: ClassVar[str | None] = "request_id"

    request_id: str
    submission_id: str
    """Unique per submission: each one counts as one attempt, at most once."""
    ticket_id: str
    user_id: str
    code: str = Field(min_length=1, max_length=32)
    """The code as the user read it back. Commands are internal (``onboarding.commands``);
    the code is single-use, short-lived and attempt-limited."""
    submitted_by: str
    """The agent who entered it."""
    submitted_at: AwareDatetime


EVENTS: tuple[type[Event], ...] = (
    TicketCreated,
    TicketTriaged,
    TicketAssigned,
    TicketUnassigned,
    TicketReplied,
    TicketStatusChanged,
    TicketSolved,
    TicketReopened,
    TicketSlaWarning,
    TicketSlaBreached,
    TicketEscalated,
    AccessActionRequested,
    AccessConfirmationSubmitted,
)
"""Every event ticket-service publishes, in catalog order."""
