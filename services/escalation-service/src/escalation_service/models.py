"""ORM models of the escalation-service (its own database, ``escalation``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.db import ServiceBase, make_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()


SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(summary, '') || ' ' || "
    "coalesce(steps_text, '') || ' ' || coalesce(actual, '')), 'B')"
)


class Bug(Base):
    """A bug report and where it is in the QA workflow."""

    __tablename__ = "bugs"
    # the list is keyset-paged on (created_at, id): one index per filter with that order
    __table_args__ = (
        Index("ix_bugs_created", "created_at", "id"),
        Index("ix_bugs_status_created", "status", "created_at", "id"),
        Index("ix_bugs_severity_created", "severity", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    steps_text: Mapped[str] = mapped_column(Text, default="")
    expected: Mapped[str] = mapped_column(Text, default="")
    actual: Mapped[str] = mapped_column(Text, default="")
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    affected_tenants: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fixed_in_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bugs.id"), nullable=True)
    external_issue_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completeness_score: Mapped[int] = mapped_column(Integer, default=0)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    reported_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reproduced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Duplicate detection (bugs.similarity): the weighted full-text document of the whole
    # report, kept by PostgreSQL, and the hashes of its normalised error messages.
    search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True), deferred=True
    )
    error_fingerprints: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), default=list, server_default="{}"
    )
    # the report's meaning (bugs.embedding: unit vector of title, description, steps and
    # actual), for the semantic signal; deferred: only the duplicate search reads it, in SQL
    embedding: Mapped[list[float] | None] = mapped_column(ARRAY(REAL), nullable=True, deferred=True)
    # the encoder that wrote ``embedding`` (``encoder.MODEL.name``): a vector of another
    # encoder is never compared with the current one's (``escalation-service reembed``)
    embedding_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the symptom classes and file formats the report names (similarity.report_slots): the
    # counter-evidence of duplicate detection (a blank PDF is not a CSV export's 500)
    symptom_slots: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=list, server_default="{}"
    )

    @property
    def key(self) -> str:
        return f"BUG-{self.number}"


class BugLink(Base):
    """A ticket linked to a bug; a ticket is linked to at most one bug."""

    __tablename__ = "bug_links"
    __table_args__ = (
        UniqueConstraint("ticket_id"),
        Index("ix_bug_links_tenant_id", "tenant_id", "bug_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    bug_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bugs.id"), index=True)
    ticket_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64))
    is_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the duplicate model (``duplicate_models.version``, or "shipped") that auto-linked the
    # ticket; NULL for a link made by hand, a merge or a new bug's own tickets
    linked_by_model: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BugHistory(Base):
    """One row per status change (and merge), moved along when bugs are merged."""

    __tablename__ = "bug_history"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    bug_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bugs.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    origin_bug_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Reproduction(Base):
    """One attempt by QA to reproduce a bug."""

    __tablename__ = "reproductions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    bug_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bugs.id"), index=True)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    steps_followed: Mapped[list[str]] = mapped_column(JSON, default=list)
    outcome: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    recorded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketView(Base):
    """What this service knows of a ticket, from ``ticket.*`` events."""

    __tablename__ = "ticket_views"

    ticket_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="")
    priority: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sla_state: Mapped[str] = mapped_column(String(16), default="ok")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TenantPlan(Base):
    """The plan tier of a tenant, from ``subscription.*`` events."""

    __tablename__ = "tenant_plans"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_tier: Mapped[str] = mapped_column(String(32))
    subscription_status: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KnownTenant(Base):
    """The tenants onboarding announced (``tenant.*`` events): a ``tenant_id`` a request
    names must be one of them (``escalation_service.ownership``)."""

    __tablename__ = "known_tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    heard_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DuplicateVerdict(Base):
    """An agent's judgement of two bugs: duplicates or different defects (decision 0053).

    One row per pair, in filing order (``bug_a_id`` the older report, ``bug_b_id`` the newer:
    ``created_at, number`` never change, so a pair has one row; the latest verdict wins), with
    the pair's signals computed when the verdict was given (``similarity.SIGNALS`` order),
    so a refit needs no re-encoding. ``revision`` takes the next value of a sequence on
    every change: the verdicts a model has not seen are those above its ``verdicts_through``.
    """

    __tablename__ = "duplicate_verdicts"
    __table_args__ = (UniqueConstraint("bug_a_id", "bug_b_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    bug_a_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bugs.id"))
    bug_b_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bugs.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    signals: Mapped[list[float]] = mapped_column(JSONB)
    score: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    # the encoder of the bugs' embeddings behind ``signals``' semantic (a refit recomputes
    # it from the current embeddings when it names another)
    encoder: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    judged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    judged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(BigInteger, index=True)


class DuplicateModelVersion(Base):
    """One refit of the duplicate weights (decision 0053): the version is a hash of the data
    it saw, so the same data records no second row. Only ``accepted`` rows are served (the
    newest by ``seq``); a rejected one says why."""

    __tablename__ = "duplicate_models"
    __table_args__ = (Index("ix_duplicate_models_accepted_seq", "accepted", "seq"),)

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    weights: Mapped[dict[str, float]] = mapped_column(JSONB)
    intercept: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    precision: Mapped[float] = mapped_column(Float)
    recall: Mapped[float] = mapped_column(Float)
    corpus_pairs: Mapped[int] = mapped_column(Integer)
    verdicts: Mapped[int] = mapped_column(Integer)
    verdicts_through: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[bool] = mapped_column(Boolean)
    rejection: Mapped[str | None] = mapped_column(Text, nullable=True)
    fit_seconds: Mapped[float] = mapped_column(Float)
    # the encoder whose semantic signal it was fitted on: served only with that encoder
    encoder: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
