"""Opening a ticket: triaged, assigned and with its SLA deadlines before its one INSERT."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.outbox import publish_all
from supportops_events import Event
from supportops_events.tickets import (
    ReplyAuthor,
    Requester,
    TicketAssigned,
    TicketChannel,
    TicketCreated,
    TicketPriority,
    TicketStatus,
    TicketTriaged,
)
from ticket_service.categories import AccessSubcategory, Category
from ticket_service.config_cache import configuration
from ticket_service.models import Ticket
from ticket_service.sla.service import store_deadlines
from ticket_service.sla.ticket_clocks import compute_clocks
from ticket_service.tickets import repository
from ticket_service.tickets.schemas import TicketIn
from ticket_service.tickets.timeline import SYSTEM, Actor, stage_entry
from ticket_service.triage.classifier import TriageClassifier, classifier_of
from ticket_service.triage.engine import Rule, TicketFacts, triage
from ticket_service.triage.schemas import TriageOutcome


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
    clocks = compute_clocks(ticket, [], targets=targets, now=at, tenant_timezone=intake.timezone)
    store_deadlines(ticket, clocks, at=at)
    session.add(ticket)

    # the opening message is the requester's words, whoever typed them in
    opener = (
        actor
        if actor.kind is ReplyAuthor.system
        else Actor(kind=ReplyAuthor.customer, id=ticket.requester_email)
    )
    stage_entry(
        session,
        ticket=ticket,
        kind="reply",
        actor=opener,
        at=at,
        body=body.body,
        action="created",
        data={"channel": ticket.channel, "subject": ticket.subject, "created_by": actor.id},
    )
    stage_entry(session, **routing.entry(ticket, at))
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
        stage_entry(
            session,
            ticket=ticket,
            kind="system",
            actor=SYSTEM,
            at=at,
            action="assignment_skipped",
            body=f"no available agent in queue {ticket.queue}",
        )
    elif assignee is not None:
        stage_entry(
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
