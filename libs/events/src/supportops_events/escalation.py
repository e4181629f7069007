"""Events of escalation-service: bugs filed from tickets and their way through QA."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from supportops_events.base import Event, Payload
from supportops_events.topics import ESCALATION_EVENTS

# --- value sets -----------------------------------------------------------------------


class BugSeverity(StrEnum):
    """How badly a bug hurts the customer."""

    critical = "critical"
    """The product or a core workflow is unusable, no workaround."""
    high = "high"
    medium = "medium"
    low = "low"


class BugStatus(StrEnum):
    """Where a bug is in the QA workflow."""

    reported = "reported"
    reproducing = "reproducing"
    needs_info = "needs_info"
    reproduced = "reproduced"
    cannot_reproduce = "cannot_reproduce"
    escalated = "escalated"
    in_progress = "in_progress"
    resolved = "resolved"
    """Fixed (or otherwise resolved), not verified yet."""
    verified = "verified"
    """QA confirmed the fix in the released version."""
    wont_fix = "wont_fix"
    reopened = "reopened"
    closed = "closed"


class BugResolution(StrEnum):
    """How a bug ended."""

    fixed = "fixed"
    duplicate = "duplicate"
    cannot_reproduce = "cannot_reproduce"
    wont_fix = "wont_fix"
    not_a_bug = "not_a_bug"


# --- values ---------------------------------------------------------------------------


class Environment(Payload):
    """Where the customer saw the problem."""

    app_version: str | None = None
    browser: str | None = None
    os: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    """Anything else that matters, e.g. ``{"locale": "de-DE"}``."""


# --- bases ----------------------------------------------------------------------------


class BugEvent(Event):
    """The state of a bug, carried by every ``bug.*`` event.

    ``linked_ticket_ids`` always lists every ticket linked to the bug, so the ticket
    service can note each of them without asking. A bug can be linked to tickets of
    several tenants; its events are keyed by the tenant it was first reported from,
    so every event of one bug lands on one partition, in order.
    """

    topic: ClassVar[str] = ESCALATION_EVENTS
    producer: ClassVar[str] = "escalation-service"
    subject_field: ClassVar[str | None] = "bug_id"

    tenant_id: str = Field(min_length=1)
    """The tenant of the ticket the bug was first reported from (the partition key)."""
    bug_id: str
    key: str
    """The human key of the bug, e.g. ``BUG-42``."""
    title: str
    status: BugStatus
    severity: BugSeverity
    linked_ticket_ids: list[str] = Field(default_factory=list)
    """Every ticket linked to the bug, of any tenant."""
    actor_id: str | None = None
    """Who made the change (a QA engineer's id), or none for automation."""


# --- events ---------------------------------------------------------------------------


class BugReported(BugEvent):
    """A new bug was filed from an escalated ticket."""

    event_type: ClassVar[str] = "bug.reported"

    ticket_id: str
    """The escalated ticket the bug was filed from."""
    steps: list[str] = Field(default_factory=list)
    expected: str
    actual: str
    environment: Environment
    reported_at: AwareDatetime


class BugLinked(BugEvent):
    """A ticket was linked to the bug (a duplicate report of a known bug, or by hand)."""

    event_type: ClassVar[str] = "bug.linked"

    ticket_id: str
    """The ticket that was just linked."""
    is_duplicate: bool
    """Whether the ticket was escalated as a new bug and matched this existing one."""
    linked_at: AwareDatetime


class BugReproducing(BugEvent):
    """QA started trying to reproduce the bug."""

    event_type: ClassVar[str] = "bug.reproducing"

    started_at: AwareDatetime


class BugReproduced(BugEvent):
    """QA reproduced the bug."""

    event_type: ClassVar[str] = "bug.reproduced"

    notes: str | None = None
    environment: Environment | None = None
    """Where QA reproduced it, if it differs from the report."""
    reproduced_at: AwareDatetime


class BugCannotReproduce(BugEvent):
    """QA could not reproduce the bug."""

    event_type: ClassVar[str] = "bug.cannot_reproduce"

    notes: str | None = None
    recorded_at: AwareDatetime


class BugNeedsInfo(BugEvent):
    """QA needs more information from the customer; the tickets should ask for it."""

    event_type: ClassVar[str] = "bug.needs_info"

    question: str
    requested_at: AwareDatetime


class BugEscalated(BugEvent):
    """QA escalated the reproduced bug to engineering."""

    event_type: ClassVar[str] = "bug.escalated"

    escalated_to: str
    """The team or queue that owns the fix, e.g. ``engineering``."""
    external_issue_key: str | None = None
    """The issue in the engineering tracker, if one was created."""
    escalated_at: AwareDatetime


class BugInProgress(BugEvent):
    """Engineering started working on the fix."""

    event_type: ClassVar[str] = "bug.in_progress"

    external_issue_key: str | None = None
    started_at: AwareDatetime


class BugResolved(BugEvent):
    """The bug was fixed (or otherwise resolved); linked tickets can tell the customer."""

    event_type: ClassVar[str] = "bug.resolved"

    resolution: BugResolution
    fixed_in_version: str | None = None
    resolution_note: str | None = None
    resolved_at: AwareDatetime


class BugVerified(BugEvent):
    """QA verified the fix; linked tickets may be told it is confirmed."""

    event_type: ClassVar[str] = "bug.verified"

    fixed_in_version: str | None = None
    verified_at: AwareDatetime


class BugReopened(BugEvent):
    """A resolved or closed bug came back."""

    event_type: ClassVar[str] = "bug.reopened"

    previous_status: BugStatus
    reason: str | None = None
    reopened_at: AwareDatetime


class BugClosed(BugEvent):
    """The bug is closed for good."""

    event_type: ClassVar[str] = "bug.closed"

    resolution: BugResolution
    closed_at: AwareDatetime


EVENTS: tuple[type[Event], ...] = (
    BugReported,
    BugLinked,
    BugReproducing,
    BugReproduced,
    BugCannotReproduce,
    BugNeedsInfo,
    BugEscalated,
    BugInProgress,
    BugResolved,
    BugVerified,
    BugReopened,
    BugClosed,
)
"""Every event escalation-service publishes, in catalog order."""
