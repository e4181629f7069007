"""Tickets: intake, the status machine, the timeline, assignment and replies.

Every state change writes a timeline entry (who, when, what, why) and publishes its
event in the same transaction. ``ticket.status_changed`` is published for every status
change; ``ticket.solved`` and ``ticket.reopened`` additionally mark those two.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unprocessable
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish, publish_all
from supportops_events import Event
from supportops_events.tickets import (
    ReplyAuthor,
    ReplyVisibility,
    Requester,
    TicketAssigned,
    TicketChannel,
    TicketCreated,
    TicketPriority,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatus,
    TicketStatusChanged,
    TicketTriaged,
)
from ticket_service.accounts.service import account_view
from ticket_service.categories import AccessSubcategory, Category
from ticket_service.config_cache import configuration
from ticket_service.models import Agent, Ticket, TicketBug, TimelineEntry
from ticket_service.sla.service import (
    clock_history,
    compute_clocks,
    next_due,
    refresh,
    sla_out,
    store_deadlines,
    stored_state,
)
from ticket_service.tickets import repository
from ticket_service.tickets.schemas import (
    BugLinkOut,
    MessageKind,
    RequesterOut,
    TicketDetail,
    TicketIn,
    TicketOut,
    TicketSettable,
    TimelineEntryOut,
    TriageEvidence,
    TriageJudgment,
)
from ticket_service.triage.classifier import REVIEW_QUEUE, TriageClassifier, classifier_of
from ticket_service.triage.engine import Rule, TicketFacts, triage
from ticket_service.triage.schemas import TriageOutcome
from ticket_service.triage.service import record_example

S = TicketStatus


@dataclass(frozen=True)
class Actor:
    """Who did something: an agent, the customer, or the system (id None)."""

    kind: ReplyAuthor
    id: str | None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        kind = ReplyAuthor.customer if principal.is_tenant_scoped else ReplyAuthor.agent
        return cls(kind=kind, id=principal.subject)


SYSTEM = Actor(kind=ReplyAuthor.system, id=None)


# --- reading ----------------------------------------------------------------------------


async def load_ticket(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    *,
    principal: Principal | None = None,
    for_update: bool = False,
) -> Ticket:
    ticket = await session.get(Ticket, ticket_id, with_for_update=for_update)
    if ticket is None:
        raise NotFound("ticket not found")
    if principal is not None:
        principal.ensure_tenant(ticket.tenant_id, resource="ticket")
    return ticket


def to_out(ticket: Ticket, *, now: datetime) -> TicketOut:
    """The ticket as lists show it; its SLA state is live at ``now`` (stored deadlines)."""
    return TicketOut(
        id=ticket.id,
        tenant_id=ticket.tenant_id,
        requester=RequesterOut(
            email=ticket.requester_email,
            name=ticket.requester_name,
            user_id=ticket.requester_user_id,
        ),
        channel=ticket.channel,
        subject=ticket.subject,
        body=ticket.body,
        status=TicketStatus(ticket.status),
        priority=TicketPriority(ticket.priority),
        category=ticket.category,
        subcategory=ticket.subcategory,
        queue=ticket.queue,
        tags=list(ticket.tags or []),
        assignee_id=ticket.assignee_id,
        followup_key=ticket.followup_key,
        version=ticket.version,
        first_response_at=ticket.first_response_at,
        solved_at=ticket.solved_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        sla_state=stored_state(ticket, now=now),
        sla_due_at=next_due(ticket),
        triage=_judgment(ticket),
    )


def _judgment(ticket: Ticket) -> TriageJudgment | None:
    if ticket.triage_model_version is None or ticket.triage_confidence is None:
        return None
    return TriageJudgment(
        confidence=ticket.triage_confidence,
        model_version=ticket.triage_model_version,
        evidence=[TriageEvidence.model_validate(e) for e in ticket.triage_evidence or []],
    )


@functools.cache
def _timeline_statement() -> Select[tuple[TimelineEntry]]:
    return (
        select(TimelineEntry)
        .where(TimelineEntry.ticket_id == bindparam("ticket_id", type_=Uuid()))
        .order_by(TimelineEntry.created_at, TimelineEntry.seq)
    )


async def get_detail(
    session: AsyncSession, ticket_id: uuid.UUID, *, principal: Principal, now: datetime
) -> TicketDetail:
    """One ticket as its page shows it, in three statements: the ticket with its plan
    tier, config version and linked bugs; its timeline (which is also the history its
    SLA clocks are read from); and, for staff, the account context."""
    row = await repository.ticket_with_context(session, ticket_id)
    if row is None:
        raise NotFound("ticket not found")
    ticket = row.ticket
    principal.ensure_tenant(ticket.tenant_id, resource="ticket")
    entries = (await session.scalars(_timeline_statement(), {"ticket_id": ticket.id})).all()
    config = await configuration(session, version=row.config_version)
    targets = config.book.lookup(TicketPriority(ticket.priority), row.plan_tier)
    sla = sla_out(compute_clocks(ticket, clock_history(entries), targets=targets, now=now))
    visible = entries
    if principal.is_tenant_scoped:
        # customers see the conversation, not internal notes or system entries
        visible = [e for e in entries if e.kind == "reply"]
    account = None if principal.is_tenant_scoped else await account_view(session, ticket.tenant_id)
    out = to_out(ticket, now=now)
    # the detail reads the clocks themselves; the list's state comes from stored deadlines
    out.sla_state = sla.state
    return TicketDetail(
        **out.model_dump(),
        timeline=[TimelineEntryOut.model_validate(e, from_attributes=True) for e in visible],
        sla=sla,
        account=account,
        linked_bugs=[BugLinkOut.model_validate(b) for b in row.linked_bugs],
    )


# --- timeline ---------------------------------------------------------------------------


async def add_entry(
    session: AsyncSession,
    *,
    ticket: Ticket,
    kind: str,
    actor: Actor,
    at: datetime,
    body: str = "",
    action: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    template_key: str | None = None,
    template_version: int | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        kind=kind,
        author_type=actor.kind.value,
        author_id=actor.id,
        action=action,
        body=body,
        reason=reason,
        data=data or {},
        template_key=template_key,
        template_version=template_version,
        created_at=at,
    )
    session.add(entry)
    await session.flush()
    return entry


def _entry(
    session: AsyncSession,
    *,
    ticket: Ticket,
    kind: str,
    actor: Actor,
    at: datetime,
    body: str = "",
    action: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """A timeline entry added for the next flush (several go in one INSERT)."""
    entry = TimelineEntry(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        kind=kind,
        author_type=actor.kind.value,
        author_id=actor.id,
        action=action,
        body=body,
        reason=reason,
        data=data or {},
        created_at=at,
    )
    session.add(entry)
    return entry


async def system_note(
    session: AsyncSession,
    *,
    ticket: Ticket,
    action: str,
    body: str,
    at: datetime,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    return await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=SYSTEM,
        at=at,
        body=body,
        action=action,
        reason=reason,
        data=data,
    )


def _touch(ticket: Ticket, at: datetime) -> None:
    ticket.version += 1
    ticket.updated_at = at


# --- the status machine -----------------------------------------------------------------


def _kind(previous: TicketStatus, current: TicketStatus) -> str | None:
    match (previous, current):
        case (S.new, S.open | S.pending | S.on_hold):
            return "work"
        case (S.open, S.pending | S.on_hold) | (S.pending, S.open | S.on_hold):
            return "work"
        case (S.on_hold, S.open | S.pending):
            return "work"
        case (S.new | S.open | S.pending | S.on_hold, S.solved):
            return "solve"
        case (S.solved, S.open):
            return "reopen"
        case (S.solved, S.closed):
            return "close"
        case _:
            return None


def allowed_from(previous: TicketStatus) -> list[TicketStatus]:
    return [s for s in TicketStatus if _kind(previous, s) is not None]


def transition_kind(previous: TicketStatus, current: TicketStatus) -> str:
    """What a status change means; a change not allowed is refused (409)."""
    kind = _kind(previous, current)
    if kind is None:
        raise InvalidTransition(
            f"a ticket cannot go from {previous.value} to {current.value}",
            previous=previous.value,
            requested=current.value,
            allowed=sorted(s.value for s in allowed_from(previous)),
        )
    return kind


async def change_status(
    session: AsyncSession,
    *,
    ticket: Ticket,
    to: TicketStatus,
    actor: Actor,
    at: datetime,
    reason: str | None = None,
    resolution: str | None = None,
) -> None:
    previous = TicketStatus(ticket.status)
    if previous is to:
        return
    kind = transition_kind(previous, to)
    ticket.status = to.value
    if kind == "solve":
        ticket.solved_at = at
    elif kind == "reopen":
        ticket.solved_at = None
    _touch(ticket, at)
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="status_changed",
        body=f"status {previous.value} → {to.value}",
        reason=reason,
        data={"previous": previous.value, "current": to.value},
    )
    await publish(
        session,
        TicketStatusChanged(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=to,
            previous_status=previous,
            changed_by=actor.id,
            reason=reason,
            changed_at=at,
        ),
    )
    if kind == "solve":
        linked = (
            await session.scalars(select(TicketBug.bug_id).where(TicketBug.ticket_id == ticket.id))
        ).all()
        await publish(
            session,
            TicketSolved(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=to,
                solved_by=actor.id if actor.kind is ReplyAuthor.agent else None,
                automatic=actor.kind is ReplyAuthor.system,
                resolution=resolution or reason,
                linked_bug_ids=list(linked),
                solved_at=at,
            ),
        )
    elif kind == "reopen":
        await publish(
            session,
            TicketReopened(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=to,
                previous_status=previous,
                reopened_by=actor.id,
                reason=reason,
                reopened_at=at,
            ),
        )
    await refresh(session, ticket, at=at)
    if kind == "solve":
        from ticket_service.csat.service import send_survey  # it replies through tickets

        await send_survey(session, ticket=ticket, at=at)


# --- assignment ---------------------------------------------------------------------------


async def assign(
    session: AsyncSession,
    *,
    ticket: Ticket,
    assignee_id: str,
    actor: Actor,
    at: datetime,
    reason: str,
) -> None:
    previous = ticket.assignee_id
    if previous == assignee_id:
        return
    ticket.assignee_id = assignee_id
    _touch(ticket, at)
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=actor,
        at=at,
        action="assigned",
        body=f"assigned to {assignee_id}",
        reason=reason,
        data={"previous_assignee_id": previous, "assignee_id": assignee_id},
    )
    await publish(
        session,
        TicketAssigned(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=TicketStatus(ticket.status),
            assignee_id=assignee_id,
            queue=ticket.queue,
            previous_assignee_id=previous,
            assigned_by=actor.id,
        ),
    )


# --- intake -------------------------------------------------------------------------------


def category_label(category: str | None, subcategory: str | None) -> str:
    return f"{category}/{subcategory}" if category and subcategory else (category or "other")


Routing = tuple[Category, AccessSubcategory | None, TicketPriority, str, list[str]]


async def create_ticket(
    session: AsyncSession,
    *,
    body: TicketIn,
    actor: Actor,
    at: datetime,
    channel: TicketChannel | None = None,
    followup_key: str | None = None,
    forced_triage: Routing | None = None,
) -> Ticket:
    """Open a ticket: triaged, assigned and with its SLA deadlines before its one INSERT.

    Five statements whatever the configuration: the tenant's plan tier with the config
    version, the least-loaded agent (if the queue has candidates), the ticket, its
    timeline entries (one multi-row insert) and its events (one multi-row insert). Rules,
    policies, calendars and the agents' roster come from the process's cache.
    """
    intake = await repository.intake_context(session, tenant_id=body.tenant_id)
    config = await configuration(session, version=intake.config_version)
    ticket = Ticket(
        id=uuid.uuid4(),
        tenant_id=body.tenant_id,
        requester_email=body.requester.email.lower(),
        requester_name=body.requester.name,
        requester_user_id=body.requester.user_id,
        channel=(channel or TicketChannel(body.channel.value)).value,
        subject=body.subject,
        body=body.body,
        status=TicketStatus.new.value,
        priority=TicketPriority.normal.value,
        tags=[],
        followup_key=followup_key,
        version=1,
        created_at=at,
        updated_at=at,
    )
    routing = _route(
        ticket,
        intake.plan_tier,
        config.rules,
        classifier=classifier_of(session),
        forced=forced_triage,
    )
    assignee = None
    if ticket.queue is not None:
        assignee = await repository.least_loaded(
            session, candidates=config.candidates(ticket.queue)
        )
    ticket.assignee_id = assignee
    targets = config.book.lookup(TicketPriority(ticket.priority), intake.plan_tier)
    store_deadlines(ticket, compute_clocks(ticket, [], targets=targets, now=at), at=at)
    session.add(ticket)

    # the opening message is the requester's words, whoever typed them in
    opener = (
        actor
        if actor.kind is ReplyAuthor.system
        else Actor(kind=ReplyAuthor.customer, id=ticket.requester_email)
    )
    _entry(
        session,
        ticket=ticket,
        kind="reply",
        actor=opener,
        at=at,
        body=body.body,
        action="created",
        data={"channel": ticket.channel, "subject": ticket.subject, "created_by": actor.id},
    )
    _entry(session, **routing.entry(ticket, at))
    events: list[Event] = [
        TicketCreated(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=TicketStatus.new,
            subject=ticket.subject,
            requester=Requester(
                user_id=ticket.requester_user_id,
                email=ticket.requester_email,
                name=ticket.requester_name,
            ),
            channel=TicketChannel(ticket.channel),
            priority=TicketPriority.normal,
            category=forced_triage[0].value if forced_triage else None,
            queue=forced_triage[3] if forced_triage else None,
            tags=list(forced_triage[4]) if forced_triage else [],
            followup_key=followup_key,
            created_at=at,
        ),
        routing.event(ticket),
    ]
    if ticket.queue is not None and assignee is None:
        _entry(
            session,
            ticket=ticket,
            kind="system",
            actor=SYSTEM,
            at=at,
            action="assignment_skipped",
            body=f"no available agent in queue {ticket.queue}",
        )
    elif assignee is not None:
        _entry(
            session,
            ticket=ticket,
            kind="system",
            actor=SYSTEM,
            at=at,
            action="assigned",
            body=f"assigned to {assignee}",
            reason=f"least-loaded available agent of queue {ticket.queue}",
            data={"previous_assignee_id": None, "assignee_id": assignee},
        )
        events.append(
            TicketAssigned(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=TicketStatus.new,
                assignee_id=assignee,
                queue=ticket.queue,
                previous_assignee_id=None,
                assigned_by=None,
            )
        )
    # one flush: the ticket's INSERT, then its entries' (one multi-row INSERT); a
    # unique violation (a follow-up key taken concurrently) surfaces here, as before
    await session.flush()
    await publish_all(session, events)
    return ticket


@dataclass(frozen=True)
class _Routing:
    category: Category
    subcategory: AccessSubcategory | None
    priority: TicketPriority
    queue: str
    tags: list[str]
    rule_id: uuid.UUID | None
    rule_name: str | None
    reasons: list[str]
    judged: TriageOutcome | None
    """The classifier's (or a rule's) outcome; None for a fixed routing."""

    def entry(self, ticket: Ticket, at: datetime) -> dict[str, Any]:
        label = category_label(ticket.category, ticket.subcategory)
        return {
            "ticket": ticket,
            "kind": "system",
            "actor": SYSTEM,
            "at": at,
            "action": "triaged",
            "body": f"triaged as {label}, priority {self.priority.value}, queue {self.queue}"
            + (f" by rule {self.rule_name!r}" if self.rule_name else ""),
            "reason": "; ".join(self.reasons),
            "data": {
                "rule_id": str(self.rule_id) if self.rule_id else None,
                "rule_name": self.rule_name,
                "category": ticket.category,
                "subcategory": ticket.subcategory,
                "priority": ticket.priority,
                "queue": self.queue,
                "tags": ticket.tags,
                "confidence": ticket.triage_confidence,
                "model_version": ticket.triage_model_version,
                "evidence": ticket.triage_evidence,
                "needs_review": bool(self.judged and self.judged.needs_review),
            },
        }

    def event(self, ticket: Ticket) -> TicketTriaged:
        return TicketTriaged(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=TicketStatus(ticket.status),
            category=category_label(ticket.category, ticket.subcategory),
            queue=self.queue,
            priority=self.priority,
            tags=list(ticket.tags),
            automatic=True,
        )


def _route(
    ticket: Ticket,
    plan_tier: str | None,
    rules: Sequence[Rule],
    *,
    classifier: TriageClassifier,
    forced: Routing | None,
) -> _Routing:
    """Triage a new ticket in memory (cached rules first as overrides, then the
    process's classifier; no SQL) and set its routing and judgment fields."""
    if forced is not None:
        category, subcategory, priority, queue, tags = forced
        routing = _Routing(
            category,
            subcategory,
            priority,
            queue,
            list(tags),
            None,
            None,
            ["opened by the system with a fixed routing"],
            None,
        )
    else:
        outcome = triage(
            list(rules),
            TicketFacts(
                subject=ticket.subject,
                body=ticket.body,
                channel=ticket.channel,
                requester_email=ticket.requester_email,
                plan_tier=plan_tier,
            ),
            classifier,
        )
        routing = _Routing(
            outcome.category,
            outcome.subcategory,
            outcome.priority,
            outcome.queue,
            list(outcome.tags),
            outcome.rule_id,
            outcome.rule_name,
            list(outcome.reasons),
            outcome,
        )
    judged = routing.judged
    ticket.category = routing.category.value
    ticket.subcategory = routing.subcategory.value if routing.subcategory else None
    ticket.priority = routing.priority.value
    ticket.queue = routing.queue
    ticket.tags = sorted(set(ticket.tags or []) | set(routing.tags))
    ticket.triage_rule_id = routing.rule_id
    ticket.triage_confidence = judged.confidence if judged else None
    ticket.triage_model_version = judged.model_version if judged else None
    ticket.triage_evidence = (
        [e.model_dump() for e in judged.evidence] if judged and judged.model_version else None
    )
    return routing


# --- messages -----------------------------------------------------------------------------


async def add_message(
    session: AsyncSession,
    *,
    ticket: Ticket,
    kind: MessageKind,
    body: str,
    actor: Actor,
    at: datetime,
    template_key: str | None = None,
    template_version: int | None = None,
    action: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    status = TicketStatus(ticket.status)
    if kind is MessageKind.note and actor.kind is ReplyAuthor.customer:
        raise Forbidden("customers cannot add internal notes", code="staff-only")
    if status is S.closed and kind is MessageKind.reply:
        raise Conflict("the ticket is closed; open a new one", code="ticket-closed")
    entry = await add_entry(
        session,
        ticket=ticket,
        kind=kind.value,
        actor=actor,
        at=at,
        body=body,
        action=action or ("replied" if kind is MessageKind.reply else "noted"),
        data=data,
        template_key=template_key,
        template_version=template_version,
    )
    public = kind is MessageKind.reply
    # only a public reply by an agent stops the first-response clock
    first_response = public and actor.kind is ReplyAuthor.agent and not ticket.first_response_at
    if first_response:
        ticket.first_response_at = at
    _touch(ticket, at)
    await publish(
        session,
        TicketReplied(
            tenant_id=ticket.tenant_id,
            ticket_id=str(ticket.id),
            status=status,
            reply_id=str(entry.id),
            author=actor.kind,
            author_id=actor.id,
            visibility=ReplyVisibility.public if public else ReplyVisibility.internal,
            template_key=template_key,
            is_first_response=first_response,
            replied_at=at,
        ),
    )
    if public and actor.kind is not ReplyAuthor.customer:
        from ticket_service.mail.outbound import mail_reply  # mail builds on tickets

        await mail_reply(session, ticket=ticket, entry=entry)
    if public and actor.kind is ReplyAuthor.customer and status in (S.solved, S.pending):
        await change_status(
            session, ticket=ticket, to=S.open, actor=actor, at=at, reason="the customer replied"
        )
    elif public and actor.kind is ReplyAuthor.agent and status is S.new:
        await change_status(
            session, ticket=ticket, to=S.open, actor=actor, at=at, reason="an agent replied"
        )
    elif public and actor.kind is not ReplyAuthor.system:
        # a public reply starts or stops a response clock
        await refresh(session, ticket, at=at)
    return entry


# --- automation ---------------------------------------------------------------------------


async def auto_close(session: AsyncSession, *, now: datetime, solved_before: datetime) -> int:
    """Close tickets solved before ``solved_before``; returns how many were closed."""
    tickets = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.status == S.solved.value, Ticket.solved_at < solved_before)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for ticket in tickets:
        await change_status(
            session,
            ticket=ticket,
            to=S.closed,
            actor=SYSTEM,
            at=now,
            reason="solved long enough ago without a customer reply",
        )
    return len(tickets)


# --- updates ------------------------------------------------------------------------------


def settable_of(ticket: Ticket) -> dict[str, Any]:
    """The ticket as the document a PATCH merge-patches."""
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "queue": ticket.queue,
        "category": ticket.category,
        "subcategory": ticket.subcategory,
        "tags": list(ticket.tags or []),
        "assignee_id": ticket.assignee_id,
        "reason": None,
    }


def merged_ticket(ticket: Ticket, patch: Mapping[str, Any]) -> TicketSettable:
    """The ticket with an RFC 7396 merge patch applied, validated (422 naming the field)."""
    patch = dict(patch)
    if "category" in patch and "subcategory" not in patch:
        # a subcategory belongs to its category: naming a category starts it afresh
        patch["subcategory"] = None
    return apply_merge_patch(TicketSettable, document=settable_of(ticket), patch=patch)


async def update_ticket(
    session: AsyncSession,
    *,
    ticket: Ticket,
    merged: TicketSettable,
    actor: Actor,
    at: datetime,
) -> None:
    """Store a merged ticket (``merged_ticket``); each change is one timeline entry."""
    if merged.status.value != ticket.status:
        await change_status(
            session, ticket=ticket, to=merged.status, actor=actor, at=at, reason=merged.reason
        )
    if merged.assignee_id != ticket.assignee_id:
        if merged.assignee_id is None:
            raise Unprocessable(
                "a ticket cannot be unassigned; assign it to another agent",
                code="validation-error",
                field="assignee_id",
            )
        if await session.get(Agent, merged.assignee_id) is None:
            raise Unprocessable(
                "no agent with this id is registered", code="unknown-agent", field="assignee_id"
            )
        await assign(
            session,
            ticket=ticket,
            assignee_id=merged.assignee_id,
            actor=actor,
            at=at,
            reason=merged.reason or "manual reassignment",
        )
    routing_changed = False
    judged_as = (ticket.category, ticket.subcategory)
    was_in_review = ticket.queue == REVIEW_QUEUE
    category, subcategory = merged.category, merged.subcategory
    if subcategory is not None and category is not Category.access:
        raise Unprocessable(
            "a subcategory is only defined for the access category",
            code="validation-error",
            field="subcategory",
        )
    current = (category.value if category else None, subcategory.value if subcategory else None)
    routing_changed |= current != (ticket.category, ticket.subcategory)
    ticket.category, ticket.subcategory = current
    retarget = merged.priority.value != ticket.priority
    if retarget:
        ticket.priority = merged.priority.value
        routing_changed = True
    if merged.queue != ticket.queue:
        ticket.queue = merged.queue
        routing_changed = True
    if sorted(set(merged.tags)) != sorted(ticket.tags or []):
        ticket.tags = sorted(set(merged.tags))
        routing_changed = True
    if routing_changed:
        _touch(ticket, at)
        corrected = (ticket.category, ticket.subcategory) != judged_as
        confirmed = was_in_review and ticket.queue != REVIEW_QUEUE
        if ticket.category is not None and (corrected or confirmed):
            # an agent's correction (or confirmation of an unsure suggestion, by routing it
            # out of the review queue) teaches the classifier: a labelled example for the
            # next refit (see triage.service)
            await record_example(session, ticket=ticket, previous=judged_as, by=actor.id, at=at)
        await add_entry(
            session,
            ticket=ticket,
            kind="system",
            actor=actor,
            at=at,
            action="retriaged",
            body=f"set to {category_label(ticket.category, ticket.subcategory)}, "
            f"priority {ticket.priority}, queue {ticket.queue}",
            reason=merged.reason,
            data={
                "category": ticket.category,
                "subcategory": ticket.subcategory,
                "priority": ticket.priority,
                "queue": ticket.queue,
                "tags": ticket.tags,
            },
        )
        await publish(
            session,
            TicketTriaged(
                tenant_id=ticket.tenant_id,
                ticket_id=str(ticket.id),
                status=TicketStatus(ticket.status),
                category=category_label(ticket.category, ticket.subcategory),
                queue=ticket.queue or "support",
                priority=TicketPriority(ticket.priority),
                tags=list(ticket.tags),
                automatic=False,
                triaged_by=actor.id,
            ),
        )
    if retarget:
        await refresh(session, ticket, at=at)  # the priority sets the SLA targets
    await session.flush()
