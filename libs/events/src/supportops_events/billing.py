"""Events of billing-service: subscriptions, invoices, renewals, corrections and follow-ups."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from supportops_events.base import Currency, Event, MinorUnits
from supportops_events.topics import BILLING_EVENTS

# --- value sets -----------------------------------------------------------------------


class CollectionMethod(StrEnum):
    """How Stripe collects payment (Stripe's ``collection_method``)."""

    charge_automatically = "charge_automatically"
    """The card or payment method on file is charged."""
    send_invoice = "send_invoice"
    """An invoice is e-mailed and paid within ``days_until_due`` (net terms)."""


class PlanTier(StrEnum):
    """The tier of a plan; plan codes are many, tiers are few."""

    starter = "starter"
    team = "team"
    business = "business"
    enterprise = "enterprise"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription status."""

    incomplete = "incomplete"
    incomplete_expired = "incomplete_expired"
    trialing = "trialing"
    active = "active"
    past_due = "past_due"
    unpaid = "unpaid"
    paused = "paused"
    canceled = "canceled"


class InvoiceStatus(StrEnum):
    """Stripe's invoice status."""

    draft = "draft"
    open = "open"
    paid = "paid"
    uncollectible = "uncollectible"
    void = "void"


class RenewalInvoicedReason(StrEnum):
    """Why a renewal invoice exists."""

    stripe_automatic = "stripe_automatic"
    """Stripe's automatic renewal invoice was found, finalized and sent."""
    automation_did_not_fire = "automation_did_not_fire"
    """Stripe's renewal invoice was missing or unsent at period end, so billing issued one."""
    manual_invoicing = "manual_invoicing"
    """The customer is invoiced by hand, so billing issued the renewal invoice."""


class RenewalRiskReason(StrEnum):
    """Why a renewal may not happen (or be paid) on its own."""

    no_payment_method = "no_payment_method"
    payment_method_expiring = "payment_method_expiring"
    payment_failed = "payment_failed"
    invoice_overdue = "invoice_overdue"
    renewal_invoice_missing = "renewal_invoice_missing"
    cancel_at_period_end = "cancel_at_period_end"


class DisputeStatus(StrEnum):
    """Stripe's dispute status."""

    warning_needs_response = "warning_needs_response"
    warning_under_review = "warning_under_review"
    warning_closed = "warning_closed"
    needs_response = "needs_response"
    under_review = "under_review"
    won = "won"
    lost = "lost"


class FollowupCause(StrEnum):
    """Why a person must contact the customer."""

    payment_failed = "payment_failed"
    invoice_overdue = "invoice_overdue"
    renewal_at_risk = "renewal_at_risk"
    dispute_opened = "dispute_opened"
    plan_unknown = "plan_unknown"
    """A new tenant names a plan billing does not know: its subscription waits for a person."""
    plan_archived = "plan_archived"
    """A new tenant names an archived plan: its subscription waits for a person."""
    subscription_rejected = "subscription_rejected"
    """Stripe refused to create the tenant's customer or subscription."""
    stripe_data_invalid = "stripe_data_invalid"
    """Stripe sent data that cannot be true (a period ending before it starts): it was
    ignored, and a person should check the object on Stripe."""


class FollowupResolution(StrEnum):
    """What made a billing follow-up unnecessary."""

    invoice_paid = "invoice_paid"
    invoice_voided = "invoice_voided"
    renewal_completed = "renewal_completed"
    dispute_closed = "dispute_closed"
    subscription_canceled = "subscription_canceled"
    subscription_created = "subscription_created"
    """The tenant's subscription was finally created (e.g. with a plan a person chose)."""
    payment_method_updated = "payment_method_updated"
    """The customer now has a usable payment method for the renewal."""
    cancellation_withdrawn = "cancellation_withdrawn"
    """The subscription no longer ends at period end."""


# --- bases ----------------------------------------------------------------------------


class BillingEvent(Event):
    """Base of every billing-service event (not published itself)."""

    topic: ClassVar[str] = BILLING_EVENTS
    producer: ClassVar[str] = "billing-service"


class SubscriptionEvent(BillingEvent):
    """The full state of a subscription, carried by every ``subscription.*`` event.

    Version 2 added the scheduled downgrade (``pending_plan_code``, ``pending_seats``,
    ``pending_change_at``)."""

    subject_field: ClassVar[str | None] = "subscription_id"
    version: ClassVar[int] = 2

    subscription_id: str
    """billing-service's id of the subscription."""
    stripe_subscription_id: str
    stripe_customer_id: str
    plan_code: str
    """The plan's code, e.g. ``team-monthly``."""
    plan_tier: PlanTier
    seats: int = Field(ge=0)
    status: SubscriptionStatus
    collection_method: CollectionMethod
    days_until_due: int | None = Field(default=None, ge=0)
    """Net terms in days when ``collection_method`` is ``send_invoice``."""
    currency: Currency
    recurring_amount: MinorUnits
    """What one billing period costs (all seats), before tax and discounts."""
    current_period_start: AwareDatetime
    current_period_end: AwareDatetime
    cancel_at_period_end: bool
    pending_plan_code: str | None = None
    """A downgrade scheduled for ``pending_change_at``: the plan it moves to."""
    pending_seats: int | None = Field(default=None, ge=0)
    """A downgrade scheduled for ``pending_change_at``: the seats it moves to."""
    pending_change_at: AwareDatetime | None = None
    """When the scheduled downgrade takes effect (the current period's end); none when
    no change is pending."""


class InvoiceEvent(BillingEvent):
    """The full state of an invoice, carried by every ``invoice.*`` event."""

    subject_field: ClassVar[str | None] = "invoice_id"

    invoice_id: str
    """billing-service's id of the invoice."""
    stripe_invoice_id: str
    number: str | None = None
    """The invoice number the customer sees, once finalized."""
    subscription_id: str | None = None
    """The subscription billed, if any (one-off invoices have none)."""
    status: InvoiceStatus
    collection_method: CollectionMethod
    currency: Currency
    amount_due: MinorUnits
    amount_paid: MinorUnits
    amount_remaining: MinorUnits
    due_date: AwareDatetime | None = None
    """When payment is due (``send_invoice`` invoices)."""
    period_start: AwareDatetime
    period_end: AwareDatetime
    hosted_invoice_url: str | None = None
    """Where the customer can see and pay the invoice."""
    attempt_count: int = Field(ge=0)
    """How many payment attempts were made so far."""
    is_renewal: bool
    """Whether the invoice bills a renewal period of an existing subscription."""


class RenewalEvent(BillingEvent):
    """What every ``renewal.*`` event carries: the subscription and the renewal period."""

    subject_field: ClassVar[str | None] = "subscription_id"

    subscription_id: str
    plan_code: str
    seats: int = Field(ge=0)
    collection_method: CollectionMethod
    period_start: AwareDatetime
    """Start of the period being renewed into (the old period's end)."""
    period_end: AwareDatetime
    """End of the period being renewed into."""
    currency: Currency
    amount: MinorUnits
    """What the renewal period costs."""


# --- subscriptions --------------------------------------------------------------------


class SubscriptionCreated(SubscriptionEvent):
    """A subscription was created in Stripe for the tenant."""

    event_type: ClassVar[str] = "subscription.created"

    trial_end: AwareDatetime | None = None


class SubscriptionActivated(SubscriptionEvent):
    """The subscription became active (first payment made or net terms accepted)."""

    event_type: ClassVar[str] = "subscription.activated"


class SubscriptionUpdated(SubscriptionEvent):
    """Plan, seats, status, period or cancellation of the subscription changed."""

    event_type: ClassVar[str] = "subscription.updated"

    changed_fields: list[str] = Field(default_factory=list)
    """Names of the fields of this event whose values changed."""
    previous_plan_code: str | None = None
    previous_seats: int | None = None
    previous_status: SubscriptionStatus | None = None


class SubscriptionCanceled(SubscriptionEvent):
    """The subscription was canceled, now or at the end of the current period."""

    event_type: ClassVar[str] = "subscription.canceled"

    canceled_at: AwareDatetime
    """When the cancellation was requested."""
    ends_at: AwareDatetime
    """When service stops: the period end when ``cancel_at_period_end``, else now."""
    reason: str | None = None


# --- invoices -------------------------------------------------------------------------


class InvoiceFinalized(InvoiceEvent):
    """The invoice was finalized: its amount and number are fixed."""

    event_type: ClassVar[str] = "invoice.finalized"

    finalized_at: AwareDatetime


class InvoiceSent(InvoiceEvent):
    """The invoice was e-mailed to the customer."""

    event_type: ClassVar[str] = "invoice.sent"

    sent_at: AwareDatetime
    billing_email: str | None = None


class InvoicePaid(InvoiceEvent):
    """The invoice was paid in full."""

    event_type: ClassVar[str] = "invoice.paid"

    paid_at: AwareDatetime


class InvoicePaymentFailed(InvoiceEvent):
    """A payment attempt for the invoice failed."""

    event_type: ClassVar[str] = "invoice.payment_failed"

    failure_code: str | None = None
    """Stripe's decline or failure code, e.g. ``card_declined``."""
    failure_message: str | None = None
    next_payment_attempt: AwareDatetime | None = None
    """When Stripe retries; none when it gave up."""


class InvoiceOverdue(InvoiceEvent):
    """The invoice is unpaid past its due date (emitted as the days add up)."""

    event_type: ClassVar[str] = "invoice.overdue"

    days_overdue: int = Field(ge=0)


class InvoiceVoided(InvoiceEvent):
    """The invoice was voided and is no longer owed."""

    event_type: ClassVar[str] = "invoice.voided"

    voided_at: AwareDatetime


# --- renewals -------------------------------------------------------------------------


class RenewalUpcoming(RenewalEvent):
    """The subscription renews within the renewal window."""

    event_type: ClassVar[str] = "renewal.upcoming"

    renews_at: AwareDatetime
    days_until_renewal: int = Field(ge=0)


class RenewalInvoiced(RenewalEvent):
    """The renewal invoice exists and was sent (by Stripe or by billing-service)."""

    event_type: ClassVar[str] = "renewal.invoiced"

    invoice_id: str
    stripe_invoice_id: str
    reason: RenewalInvoicedReason
    due_date: AwareDatetime | None = None
    hosted_invoice_url: str | None = None


class RenewalAtRisk(RenewalEvent):
    """The renewal may not happen or be paid without a person stepping in."""

    event_type: ClassVar[str] = "renewal.at_risk"

    reason: RenewalRiskReason
    invoice_id: str | None = None
    detail: str | None = None


class RenewalCompleted(RenewalEvent):
    """The renewal invoice was paid: the subscription runs for the new period."""

    event_type: ClassVar[str] = "renewal.completed"

    invoice_id: str
    amount_paid: MinorUnits
    paid_at: AwareDatetime


# --- corrections and disputes ---------------------------------------------------------


class RefundIssued(BillingEvent):
    """Money was refunded to the customer."""

    event_type: ClassVar[str] = "refund.issued"
    subject_field: ClassVar[str | None] = "refund_id"

    refund_id: str
    stripe_refund_id: str
    invoice_id: str | None = None
    stripe_charge_id: str | None = None
    currency: Currency
    amount: MinorUnits
    reason: str | None = None
    """Stripe's refund reason, e.g. ``requested_by_customer``."""
    status: str
    """Stripe's refund status, e.g. ``succeeded``."""


class CreditNoteIssued(BillingEvent):
    """A credit note reduced what an invoice asks for."""

    event_type: ClassVar[str] = "credit_note.issued"
    subject_field: ClassVar[str | None] = "credit_note_id"

    credit_note_id: str
    stripe_credit_note_id: str
    number: str | None = None
    invoice_id: str
    currency: Currency
    amount: MinorUnits
    reason: str | None = None
    """Stripe's credit note reason, e.g. ``order_change``."""


class DisputeEvent(BillingEvent):
    """What every ``dispute.*`` event carries."""

    subject_field: ClassVar[str | None] = "dispute_id"

    dispute_id: str
    stripe_dispute_id: str
    stripe_charge_id: str
    invoice_id: str | None = None
    currency: Currency
    amount: MinorUnits
    reason: str
    """Stripe's dispute reason, e.g. ``fraudulent``."""
    status: DisputeStatus


class DisputeOpened(DisputeEvent):
    """The customer's bank disputed a payment."""

    event_type: ClassVar[str] = "dispute.opened"

    evidence_due_by: AwareDatetime | None = None


class DisputeClosed(DisputeEvent):
    """A dispute was decided (``status`` says won or lost)."""

    event_type: ClassVar[str] = "dispute.closed"

    closed_at: AwareDatetime


# --- follow-ups -----------------------------------------------------------------------


class BillingFollowupRequired(BillingEvent):
    """A person must contact the customer; the ticket service opens a proactive ticket."""

    event_type: ClassVar[str] = "billing.followup_required"
    subject_field: ClassVar[str | None] = "followup_key"

    followup_key: str
    """Stable id of the underlying problem, e.g. ``invoice:in_123``.

    Repeated follow-ups about the same problem (each failed retry, each overdue day)
    share it, so the ticket service updates one ticket instead of opening many.
    """
    cause: FollowupCause
    invoice_id: str | None = None
    subscription_id: str | None = None
    dispute_id: str | None = None
    currency: Currency
    amount_due: MinorUnits
    attempt_count: int = Field(default=0, ge=0)
    next_retry_at: AwareDatetime | None = None
    due_date: AwareDatetime | None = None
    days_overdue: int | None = Field(default=None, ge=0)
    hosted_invoice_url: str | None = None
    billing_email: str | None = None
    detail: str | None = None
    """A human sentence for the ticket, e.g. the decline message."""


class BillingFollowupResolved(BillingEvent):
    """The problem behind a follow-up went away; its ticket can be solved automatically."""

    event_type: ClassVar[str] = "billing.followup_resolved"
    subject_field: ClassVar[str | None] = "followup_key"

    followup_key: str
    cause: FollowupCause
    resolution: FollowupResolution
    invoice_id: str | None = None
    subscription_id: str | None = None
    dispute_id: str | None = None
    resolved_at: AwareDatetime


EVENTS: tuple[type[Event], ...] = (
    SubscriptionCreated,
    SubscriptionActivated,
    SubscriptionUpdated,
    SubscriptionCanceled,
    InvoiceFinalized,
    InvoiceSent,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceOverdue,
    InvoiceVoided,
    RenewalUpcoming,
    RenewalInvoiced,
    RenewalAtRisk,
    RenewalCompleted,
    RefundIssued,
    CreditNoteIssued,
    DisputeOpened,
    DisputeClosed,
    BillingFollowupRequired,
    BillingFollowupResolved,
)
"""Every event billing-service publishes, in catalog order."""
