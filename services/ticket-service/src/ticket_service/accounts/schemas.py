"""API shapes of the verified account context."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AccountUserOut(BaseModel):
    user_id: str
    email: str
    name: str | None
    status: str
    """invited, active, inactive (no sign-in for too long), locked or deactivated."""
    role: str
    reported_at: datetime
    """The time of the onboarding event that reported this state."""


class AccountInvoiceOut(BaseModel):
    invoice_id: str
    number: str | None
    status: str
    overdue: bool
    currency: str
    amount_remaining: int
    due_date: datetime | None


class AccountDisputeOut(BaseModel):
    dispute_id: str
    invoice_id: str | None
    currency: str
    amount: int
    reason: str
    status: str
    evidence_due_by: datetime | None


class AccountCorrectionOut(BaseModel):
    kind: str
    """refund or credit_note"""
    invoice_id: str | None
    currency: str
    amount: int
    reason: str | None
    issued_at: datetime


class AccountBugOut(BaseModel):
    bug_id: str
    key: str
    title: str
    status: str
    severity: str


class AccountOut(BaseModel):
    tenant_id: str
    company_name: str | None
    tenant_status: str | None
    """pending, active, suspended or churned (terminal)."""
    tenant_status_reason: str | None
    """Why, when the event said: e.g. payment_overdue or subscription_canceled."""
    tenant_status_since: datetime | None
    timezone: str | None = None
    """The tenant's IANA time zone: the resolution clock counts its business day there."""
    domains: list[str]
    subscription_status: str | None
    plan_code: str | None
    plan_tier: str | None
    seats: int | None
    renewal_date: datetime | None
    cancel_at_period_end: bool
    users: list[AccountUserOut]
    open_invoices: list[AccountInvoiceOut]
    overdue_invoices: list[AccountInvoiceOut]
    open_disputes: list[AccountDisputeOut]
    """Disputes not closed yet (won, lost and closed warnings drop out)."""
    recent_corrections: list[AccountCorrectionOut]
    """The last ten refunds and credit notes, newest first."""
    open_bugs: list[AccountBugOut]
    last_heard_at: datetime | None
    last_event_type: str | None
