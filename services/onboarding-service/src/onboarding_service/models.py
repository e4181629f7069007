"""ORM models of the onboarding-service (its own database, ``onboarding``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.db import ServiceBase, make_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()


class Tenant(Base):
    """A customer company; ``version`` is its ETag (bumped on every update)."""

    __tablename__ = "tenants"
    __table_args__ = (Index("ix_tenants_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    company_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    plan_code: Mapped[str] = mapped_column(String(64), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    seat_limit: Mapped[int] = mapped_column(Integer)
    billing_email: Mapped[str] = mapped_column(String(320))
    collection_method: Mapped[str] = mapped_column(String(32))
    days_until_due: Mapped[int | None] = mapped_column(Integer, nullable=True)
    configuration: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    admin_email: Mapped[str] = mapped_column(String(320))
    admin_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    subscription_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subscription_synced_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    suspension_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    scheduled_suspension_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    net_terms_accepted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    onboarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    churned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    churn_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    scheduled_churn_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    """When a tenant suspended because its subscription ended churns (the scan applies it)."""
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TenantDomain(Base):
    """A login/e-mail domain; lower-cased, so uniqueness is case-insensitive."""

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A user's membership of one tenant: role, access status, invitation, sessions."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_users_tenant_id_email"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    invitation_token_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True
    )
    invitation_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    invited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped to revoke every session issued before (MFA reset, deactivation)."""
    mfa_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lock_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failed_sign_in_count: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sign-ins in a row (reset by a successful one, an unlock or a reactivation)."""
    last_failed_sign_in_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class OnboardingStep(Base):
    """One checklist step of a tenant's onboarding."""

    __tablename__ = "onboarding_steps"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """What ticked it: an event type or a REST action."""


class WelcomeMessage(Base):
    """A welcome message rendered from an approved template, as sent."""

    __tablename__ = "welcome_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    sent_by: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessRequest(Base):
    """An access request and its outcome, each performed at most once: the
    ``access.action_requested`` commands, and REST actions that name a ticket."""

    __tablename__ = "access_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list)
    source: Mapped[str] = mapped_column(String(16), default="command")
    """``command`` (access.action_requested) or ``rest`` (an admin action)."""
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccessConfirmation(Base):
    """The one-time code of an MFA reset requested by support: only its hash is kept,
    with an expiry and an attempt limit. The reset happens when the code is confirmed."""

    __tablename__ = "access_confirmations"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    ticket_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64))
    user_email: Mapped[str] = mapped_column(String(320))
    requested_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts_allowed: Mapped[int] = mapped_column(Integer)
    attempts_used: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # pending|confirmed|expired|failed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
