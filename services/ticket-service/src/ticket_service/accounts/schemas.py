"""API shapes of the verified account context."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AccountUserOut(BaseModel):
    user_id: str
    email: str
    name: str | None
    status: str
    role: str


class AccountInvoiceOut(BaseModel):
    invoice_id: str
    number: str | None
    status: str
    overdue: bool
    currency: str
    amount_remaining: int
    due_date: datetime | None


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
    open_bugs: list[AccountBugOut]
    last_heard_at: datetime | None
    last_event_type: str | None
