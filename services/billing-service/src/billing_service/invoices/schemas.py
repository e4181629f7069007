"""Response bodies of ``/v1/invoices``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from supportops_events.billing import CollectionMethod, InvoiceStatus


class InvoiceOut(BaseModel):
    id: str
    tenant_id: str
    subscription_id: str | None
    stripe_invoice_id: str
    number: str | None
    status: InvoiceStatus
    collection_method: CollectionMethod
    currency: str
    amount_due: int
    amount_paid: int
    amount_remaining: int
    attempt_count: int
    due_date: datetime | None
    period_start: datetime
    period_end: datetime
    hosted_invoice_url: str | None
    stripe_charge_id: str | None
    """The Stripe charge that paid the invoice (what ``POST /v1/refunds`` names)."""
    is_renewal: bool
    sent: bool
    followup_open: bool
    version: int
    """The ETag of the invoice (every change, webhooks included, bumps it)."""


class InvoiceActionOut(BaseModel):
    invoice: InvoiceOut
    requested: str
    """What was asked of Stripe; the local state follows Stripe's webhook."""
