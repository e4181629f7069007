"""Request and response bodies of ``/v1/refunds`` and ``/v1/credit-notes``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]
CreditNoteReason = Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory"]


class RefundIn(BaseModel):
    stripe_charge_id: str = Field(min_length=3, max_length=255, pattern=r"^(ch|py)_[A-Za-z0-9_]+$")
    invoice_id: uuid.UUID | None = None
    amount: int | None = Field(default=None, ge=1, le=10**10, description="Omit for a full refund")
    reason: RefundReason = "requested_by_customer"


class CreditNoteIn(BaseModel):
    invoice_id: uuid.UUID
    amount: int = Field(ge=1, le=10**10)
    reason: CreditNoteReason = "order_change"
    memo: str | None = Field(default=None, min_length=1, max_length=500)


class CorrectionOut(BaseModel):
    id: str
    kind: Literal["refund", "credit_note", "dispute"]
    tenant_id: str
    stripe_id: str
    invoice_id: str | None
    stripe_charge_id: str | None
    currency: str
    amount: int
    status: str | None
    reason: str | None
    created_at: datetime
