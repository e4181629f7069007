"""ORM models of the ticket-service (its own database, ``tickets``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.db import ServiceBase, make_metadata

SEARCH_EXPRESSION = "to_tsvector('english', coalesce(subject, '') || ' ' || coalesce(body, ''))"


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_search", "search", postgresql_using="gin"),
        Index("ix_tickets_tags", "tags", postgresql_using="gin"),
        # every list is newest first, keyset-paged on (created_at, id): one index per
        # documented filter with the order behind it (migration 20261206_scale)
        Index("ix_tickets_created", "created_at", "id"),
        Index("ix_tickets_tenant_created_id", "tenant_id", "created_at", "id"),
        Index("ix_tickets_status_created", "status", "created_at", "id"),
        Index("ix_tickets_queue_created", "queue", "created_at", "id"),
        Index("ix_tickets_assignee_created", "assignee_id", "created_at", "id"),
        Index("ix_tickets_priority_created", "priority", "created_at", "id"),
        Index("ix_tickets_category_created", "category", "created_at", "id"),
        Index(
            "ix_tickets_active_created",
            "created_at",
            "id",
            postgresql_where=text("status IN ('new', 'open', 'pending', 'on_hold')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(64))
    requester_email: Mapped[str] = mapped_column(String(320))
    requester_name: Mapped[str | None] = mapped_column(String(200))
    requester_user_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    subcategory: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    assignee_id: Mapped[str | None] = mapped_column(String(64))
    triage_rule_id: Mapped[uuid.UUID | None] = mapped_column()
    # The classifier's judgment (None when a rule or the system decided): how sure it was,
    # which fitted model, and the phrases that drove it.
    triage_confidence: Mapped[float | None] = mapped_column(Float)
    triage_model_version: Mapped[str | None] = mapped_column(String(64))
    triage_evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    followup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    followup_invoice_id: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # only ever filtered on, never shown: not loaded with the ticket (it is about as big
    # as the body) and not fetched back after an insert
    search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True), deferred=True
    )
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    solved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Derived SLA deadlines, rewritten whenever a clock can change (see sla.service): the
    # phase of each clock (running, paused, breached, met, missed), when it is due and
    # when its warning starts. With ``now`` they give the live SLA state in SQL.
    sla_first_response_phase: Mapped[str | None] = mapped_column(String(16))
    sla_first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_first_response_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_next_response_phase: Mapped[str | None] = mapped_column(String(16))
    sla_next_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_next_response_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_resolution_phase: Mapped[str | None] = mapped_column(String(16))
    sla_resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_resolution_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TimelineEntry(Base):
    """One line of a ticket's audit trail: a reply, a note, or a system entry."""

    __tablename__ = "timeline_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # insertion order: entries written in one transaction share their timestamp
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # reply | note | system
    author_type: Mapped[str] = mapped_column(String(16))  # agent | customer | system
    author_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str | None] = mapped_column(String(64))  # what happened (system entries)
    body: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str | None] = mapped_column(Text)  # why
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    template_key: Mapped[str | None] = mapped_column(String(100))
    template_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TriageRule(Base):
    __tablename__ = "triage_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    actions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TriageExample(Base):
    """A ticket an agent re-triaged: a labelled example the classifier is refitted on."""

    __tablename__ = "triage_examples"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(64))
    predicted_label: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    labelled_by: Mapped[str | None] = mapped_column(String(200))
    labelled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TriageModelVersion(Base):
    """One refit of the classifier: the examples it saw (corpus + agent examples up to
    ``examples_through``); every process fits the same examples to the same model."""

    __tablename__ = "triage_models"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    examples_through: Mapped[int] = mapped_column(BigInteger)
    corpus_examples: Mapped[int] = mapped_column(Integer)
    agent_examples: Mapped[int] = mapped_column(Integer)
    fit_seconds: Mapped[float] = mapped_column(Float)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    queues: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # the agent's new, open, pending and on-hold tickets, kept by a trigger on tickets
    active_tickets: Mapped[int] = mapped_column(Integer, server_default="0")


class ConfigVersion(Base):
    """One row: the id of the last transaction that changed triage rules, SLA policies,
    calendars or agents (set by triggers); what each process's config cache checks."""

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class Account(Base):
    """Verified account context of a tenant, built only from onboarding and billing events."""

    __tablename__ = "accounts"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    tenant_status: Mapped[str | None] = mapped_column(String(32))
    tenant_status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tenant_status_reason: Mapped[str | None] = mapped_column(String(200))
    domains: Mapped[list[str]] = mapped_column(ARRAY(String(255)), default=list)
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    subscription_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_code: Mapped[str | None] = mapped_column(String(64))
    plan_tier: Mapped[str | None] = mapped_column(String(32))
    seats: Mapped[int | None] = mapped_column(Integer)
    renewal_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    """The tenant's IANA time zone (``tenant.*`` events): the resolution clock's day."""
    last_heard_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_type: Mapped[str | None] = mapped_column(String(64))


class AccountUser(Base):
    __tablename__ = "account_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    state_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountInvoice(Base):
    __tablename__ = "account_invoices"

    invoice_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    amount_remaining: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountDispute(Base):
    """A payment dispute of the tenant (from ``dispute.*``): agents must know of it."""

    __tablename__ = "account_disputes"

    dispute_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    evidence_due_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountCorrection(Base):
    """A refund or credit note issued to the tenant (``refund.issued``,
    ``credit_note.issued``); ``id`` is ``<kind>:<billing id>``."""

    __tablename__ = "account_corrections"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # refund | credit_note
    invoice_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Bug(Base):
    __tablename__ = "bugs"

    bug_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketBug(Base):
    __tablename__ = "ticket_bugs"

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    bug_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessRequest(Base):
    __tablename__ = "access_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64))
    user_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))  # requested | completed | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Escalation(Base):
    __tablename__ = "escalations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    steps: Mapped[list[str]] = mapped_column(ARRAY(Text))
    expected: Mapped[str] = mapped_column(Text)
    actual: Mapped[str] = mapped_column(Text)
    environment: Mapped[dict[str, Any]] = mapped_column(JSONB)
    severity: Mapped[str] = mapped_column(String(16))
    escalated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Template(Base):
    """A response template version; editing adds an unapproved version, old ones stay.
    Replies use the newest version a second person approved."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # four eyes: who wrote this version, and the other person who approved it
    created_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlaNotification(Base):
    """An SLA warning or breach already published: each is emitted once per ticket and
    clock (per cycle for next response: ``cycle`` is the id of the customer reply that
    started it; empty for first response and resolution)."""

    __tablename__ = "sla_notifications"

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # warning | breached
    cycle: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    emitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Macro(Base):
    """A one-step agent action: a template reply plus status, priority and tag changes."""

    __tablename__ = "macros"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    template_key: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(16))
    add_tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    remove_tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CsatResponse(Base):
    """A satisfaction rating: one per solve of a ticket."""

    __tablename__ = "csat_responses"

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    solved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboundMessage(Base):
    """An inbound e-mail already taken in, by its ``Message-ID``: for dedup and threading."""

    __tablename__ = "inbound_messages"

    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BusinessCalendarRow(Base):
    __tablename__ = "business_calendars"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    workdays: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), default=list)
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    """ISO country (``US``) whose public holidays the scheduler adds for the current and
    next year; None: only the holidays set by hand or imported from iCal."""
    holidays_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)


class SlaPolicy(Base):
    """Targets in business minutes for one priority and plan tier (``default``: any tier)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("plan_tier", "priority"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plan_tier: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    next_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("business_calendars.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
