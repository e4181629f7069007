"""ORM models of the billing-service (its own database, ``billing``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
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


def _id() -> str:
    return str(uuid.uuid4())


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(32))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(16))
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Archived plans stay readable (and keep their subscribers) but cannot be chosen."""
    stripe_price_active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once Stripe's price is deactivated; an archived plan whose price is still
    active is an intent the Stripe worker finishes."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Subscription(Base):
    """One subscription per tenant. ``sync_state`` = ``pending`` is a recorded intent whose
    Stripe customer/subscription may not exist yet; the worker re-drives it.
    ``needs_attention`` is a request a person must fix (unknown or archived plan, Stripe
    refused it); a later ``POST /v1/subscriptions`` for the tenant replaces it."""

    __tablename__ = "subscriptions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_id)
    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    billing_email: Mapped[str | None] = mapped_column(String(320))
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    """None only while ``needs_attention`` because the requested plan is unknown."""
    requested_plan_code: Mapped[str | None] = mapped_column(String(64))
    attention_reason: Mapped[str | None] = mapped_column(String(32))
    attention_detail: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16), default="rest")
    """``rest`` or ``tenant.created``: who asked for the subscription."""
    origin_context: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    """Correlation and trace of the request or event that asked for it
    (``capture_context``): the worker creating it on Stripe continues that trace."""
    followup_cause: Mapped[str | None] = mapped_column(String(32))
    """The open billing follow-up about this subscription, if any."""
    seats: Mapped[int] = mapped_column(Integer)
    collection_method: Mapped[str] = mapped_column(String(32))
    days_until_due: Mapped[int | None] = mapped_column(Integer)
    trial_days: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="incomplete")
    sync_state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    sync_error: Mapped[str | None] = mapped_column(Text)
    sync_attempts: Mapped[int] = mapped_column(Integer, default=0)
    intent_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped when a request that needed attention is replaced: the Stripe idempotency
    keys of the new request differ from those of the refused one."""
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the worker may re-drive a failed intent (exponential backoff)."""
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_item_id: Mapped[str | None] = mapped_column(String(255))
    current_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    cancel_announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When ``subscription.canceled`` went out for the current cancellation: later state
    changes (Stripe deleting the subscription at period end) are ``subscription.updated``."""
    pending_plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    pending_seats: Mapped[int | None] = mapped_column(Integer)
    pending_change_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """A downgrade scheduled on Stripe (a subscription schedule) for the period end."""
    stripe_schedule_id: Mapped[str | None] = mapped_column(String(255))
    ever_activated: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_state_at: Mapped[int] = mapped_column(BigInteger, default=0)
    """``created`` of the newest Stripe event applied: older events never overwrite."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __mapper_args__ = {"version_id_col": version}


class Invoice(Base):
    __tablename__ = "invoices"
    # the list is keyset-paged on (created_at, id): one index per filter with that order
    __table_args__ = (
        Index("ix_invoices_created", "created_at", "id"),
        Index("ix_invoices_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_invoices_subscription_created", "subscription_id", "created_at", "id"),
        Index("ix_invoices_status_created", "status", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True)
    number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    collection_method: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    due_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    """The charge that paid it: a refund names a charge, this says whose it is."""
    is_renewal: Mapped[bool] = mapped_column(Boolean, default=False)
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_days_reported: Mapped[int] = mapped_column(Integer, default=0)
    """The days overdue last announced: ``invoice.overdue`` once per extra day."""
    followup_cause: Mapped[str | None] = mapped_column(String(32))
    """The open billing follow-up about this invoice, if any."""
    facts: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    """The facts announced (``finalized``, ``sent``, ``paid``, ``voided``,
    ``payment_failed:<attempt>``) and when: each is published once, whatever the order
    Stripe's events arrive in, and no older event takes one back."""
    stripe_state_at: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """The ETag: bumped by every change (webhooks included)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __mapper_args__ = {"version_id_col": version}


class StripeEvent(Base):
    """Every verified webhook (or reconciled event), keyed by Stripe's event id."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    origin_context: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    """Correlation and trace of the request that delivered it (``capture_context``), so
    the events its processing publishes belong to that request's trace."""
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    """The Stripe object the event is about (``data.object.id``): the worker never
    processes an object's event while an earlier one of the same object is unprocessed."""
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When a failed event is tried again (backoff); it is retried without limit."""


class Renewal(Base):
    """One tracker per subscription and renewal period; the unique constraint is what
    keeps concurrent scans from issuing two renewal invoices."""

    __tablename__ = "renewals"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start", name="uq_renewals_subscription_period"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="upcoming")
    reason: Mapped[str | None] = mapped_column(String(64))
    invoice_id: Mapped[str | None] = mapped_column(String(36))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255))
    issuing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when a scan claimed the tracker to issue the renewal invoice (the intent,
    committed before Stripe is called)."""
    followup_reason: Mapped[str | None] = mapped_column(String(64))
    """The risk reason of the open renewal follow-up (``renewal:<id>:<reason>``), if any."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Correction(Base):
    """Refunds, credit notes and disputes seen on Stripe (or issued by us)."""

    __tablename__ = "corrections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_id)
    kind: Mapped[str] = mapped_column(String(16))
    stripe_id: Mapped[str] = mapped_column(String(255), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(36))
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    stripe_state_at: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class KnownTenant(Base):
    """The tenants onboarding announced (``tenant.*`` events): a ``tenant_id`` a request
    names must be one of them (``billing_service.ownership``)."""

    __tablename__ = "known_tenants"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    heard_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
