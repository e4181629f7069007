"""Tickets as their pages show them, replies and notes, and updates by merge patch.

Opening a ticket is in ``creation``, the status machine and assignment in ``status``,
the timeline every feature writes to in ``timeline``, SLA alerts in ``sla_alerts``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, Unprocessable
from servicekit.merge_patch import apply_merge_patch
from servicekit.outbox import publish
from servicekit.pagination import PageParams
from supportops_events.tickets import (
    ReplyAuthor,
    ReplyVisibility,
    TicketPriority,
    TicketReplied,
    TicketStatus,
    TicketTriaged,
)
from ticket_service.accounts.service import account_out
from ticket_service.categories import Category
from ticket_service.config_cache import configuration
from ticket_service.hooks import Hook
from ticket_service.models import Ticket, TimelineEntry
from ticket_service.sla.service import next_due, sla_out, stored_state
from ticket_service.sla.ticket_clocks import clock_history, compute_clocks
from ticket_service.tickets import repository
from ticket_service.tickets.creation import category_label
from ticket_service.tickets.repository import TicketFilters
from ticket_service.tickets.schemas import (
    BugLinkOut,
    MessageKind,
    RequesterOut,
    TicketDetail,
    TicketIn,
    TicketOut,
    TicketSettable,
    TriageJudgment,
)
from ticket_service.tickets.sla_alerts import refresh
from ticket_service.tickets.status import assign, change_status
from ticket_service.tickets.timeline import Actor, add_entry, touch
from ticket_service.triage.classifier import REVIEW_QUEUE
from ticket_service.triage.schemas import TriageEvidence
from ticket_service.triage.service import record_example

S = TicketStatus


@dataclass(frozen=True)
class PublicReply:
    """A public reply by an agent or the system was just added (in ``session``'s
    transaction): what the e-mail to the requester needs."""

    session: AsyncSession
    ticket: Ticket
    entry: TimelineEntry


# Mail builds on tickets, so tickets cannot import it: the mail feature adds its handler
# at start (main.register_hooks), as the survey does on ``ticket_solved``.
public_reply_added: Hook[PublicReply] = Hook("public_reply_added")


# --- reading ----------------------------------------------------------------------------


async def load_ticket(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    *,
    principal: Principal | None = None,
    for_update: bool = False,
) -> Ticket:
    ticket = await repository.get_ticket(session, ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound("ticket not found")
    if principal is not None:
        principal.ensure_tenant(ticket.tenant_id, resource="ticket")
    return ticket


def to_out(ticket: Ticket, *, now: datetime) -> TicketOut:
    """The ticket as lists show it; its SLA state is live at ``now`` (stored deadlines)."""
    return TicketOut(**_out_fields(ticket), sla_state=stored_state(ticket, now=now))


def _out_fields(ticket: Ticket) -> dict[str, Any]:
    """What a list item and a detail share, except the SLA state (each computes its own)."""
    return {
        "id": ticket.id,
        "tenant_id": ticket.tenant_id,
        "requester": RequesterOut(
            email=ticket.requester_email,
            name=ticket.requester_name,
            user_id=ticket.requester_user_id,
        ),
        "channel": ticket.channel,
        "subject": ticket.subject,
        "body": ticket.body,
        "status": TicketStatus(ticket.status),
        "priority": TicketPriority(ticket.priority),
        "category": ticket.category,
        "subcategory": ticket.subcategory,
        "queue": ticket.queue,
        "tags": list(ticket.tags or []),
        "assignee_id": ticket.assignee_id,
        "followup_key": ticket.followup_key,
        "version": ticket.version,
        "first_response_at": ticket.first_response_at,
        "solved_at": ticket.solved_at,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "sla_due_at": next_due(ticket),
        "triage": _judgment(ticket),
    }


def _judgment(ticket: Ticket) -> TriageJudgment | None:
    if ticket.triage_model_version is None or ticket.triage_confidence is None:
        return None
    return TriageJudgment(
        confidence=ticket.triage_confidence,
        model_version=ticket.triage_model_version,
        evidence=[TriageEvidence.model_validate(e) for e in ticket.triage_evidence or []],
    )


async def get_detail(
    session: AsyncSession, ticket_id: uuid.UUID, *, principal: Principal, now: datetime
) -> TicketDetail:
    """One ticket as its page shows it, in one statement: the ticket with its plan tier,
    config version, linked bugs, account context (which only staff are shown) and its
    timeline (which is also the history its SLA clocks are read from)."""
    row = await repository.ticket_with_context(session, ticket_id)
    if row is None:
        raise NotFound("ticket not found")
    ticket = row.ticket
    principal.ensure_tenant(ticket.tenant_id, resource="ticket")
    entries = row.timeline
    config = await configuration(session, version=row.config_version)
    targets = config.book.lookup(TicketPriority(ticket.priority), row.plan_tier)
    sla = sla_out(
        compute_clocks(
            ticket,
            clock_history(entries),
            targets=targets,
            now=now,
            tenant_timezone=row.timezone,
        )
    )
    visible = entries
    if principal.is_tenant_scoped:
        # customers see the conversation, not internal notes or system entries
        visible = [e for e in entries if e.kind == "reply"]
    account = None
    if not principal.is_tenant_scoped and row.account is not None:
        account = account_out(row.account, *row.account_context)
    # built once: the endpoint sends this model's JSON as it is (no dump and re-validate)
    return TicketDetail(
        **_out_fields(ticket),
        # the detail reads the clocks themselves; the list's state comes from stored deadlines
        sla_state=sla.state,
        timeline=visible,
        sla=sla,
        account=account,
        linked_bugs=[BugLinkOut.model_validate(b) for b in row.linked_bugs],
    )


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
    touch(ticket, at)
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
        # the e-mail to the requester (ticket_service.mail, added in main.register_hooks)
        await public_reply_added.call(PublicReply(session=session, ticket=ticket, entry=entry))
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
        # RFC 7396: an explicit null clears the assignee
        if merged.assignee_id is not None and not await repository.agent_exists(
            session, merged.assignee_id
        ):
            raise Unprocessable(
                "no agent with this id is registered", code="unknown-agent", field="assignee_id"
            )
        await assign(
            session,
            ticket=ticket,
            assignee_id=merged.assignee_id,
            actor=actor,
            at=at,
            reason=merged.reason or ("manual reassignment" if merged.assignee_id else "unassigned"),
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
        touch(ticket, at)
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


# --- lists and who may file -------------------------------------------------------------


async def tickets_page(
    session: AsyncSession,
    filters: TicketFilters,
    *,
    params: PageParams,
    now: datetime,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[Ticket], str | None]:
    """One page of the tickets matching ``filters``, newest first unless ``asc``."""
    return await repository.search_page(
        session, filters, params=params, now=now, direction=direction
    )


async def ensure_own_requester(session: AsyncSession, principal: Principal, body: TicketIn) -> None:
    """A tenant-confined token (a customer's portal session) files tickets as itself only:
    the requester's e-mail is its subject or e-mail claim, and a requester ``user_id`` is
    the caller (its subject) or the tenant's user with that e-mail."""
    if principal.tenant_id is None:
        return  # staff file tickets on behalf of customers
    caller = {i.casefold() for i in (principal.subject, principal.email) if i}
    email = body.requester.email.casefold()
    wrong = []
    if email not in caller:
        wrong.append("requester.email")
    user_id = body.requester.user_id
    if user_id is not None and user_id.casefold() not in caller:
        user = await repository.get_account_user(session, user_id)
        if user is None or user.tenant_id != principal.tenant_id or user.email.casefold() != email:
            wrong.append("requester.user_id")
    if wrong:
        raise Forbidden(
            "a customer's token files tickets as its own requester only",
            code="requester-not-caller",
            fields=wrong,
        )
