"""Valid, deterministic sample events of every type, for tests and documentation.

``sample("invoice.paid")`` builds a complete event: every field filled (optional ones
too) with plausible values, consistent per type (a paid invoice has nothing left to
pay). Keyword overrides replace fields: ``sample("invoice.paid", tenant_id="ten_x")``.
"""

from __future__ import annotations

import types
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from supportops_events.base import Event
from supportops_events.catalog import EventRegistry, registry

SAMPLE_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
"""The instant samples happen at; later instants (period ends, due dates) follow it."""

SAMPLE_TENANT_ID = "ten_acme"

_LATER = ("_end", "ends_at", "expires_at", "due_date", "due_at", "due_by", "renews_at", "next_")

_STRINGS: dict[str, str] = {
    "tenant_id": SAMPLE_TENANT_ID,
    "currency": "usd",
    "company_name": "Acme Corp",
    "timezone": "America/New_York",
    "tenant_name": "Acme Corp",
    "plan_code": "team-monthly",
    "previous_plan_code": "starter-monthly",
    "name": "Ada Lovelace",
    "admin_name": "Ada Lovelace",
    "key": "BUG-42",
    "title": "Saving a report fails with error 500",
    "subject": "Can't log in, MFA device lost",
    "description": "The customer cannot save any report since this morning.",
    "expected": "The report is saved",
    "actual": "An error page with status 500",
    "category": "access/mfa",
    "previous_category": "general",
    "queue": "support",
    "escalated_to": "engineering",
    "external_issue_key": "ENG-1234",
    "app_version": "4.12.0",
    "browser": "Firefox 123",
    "os": "macOS 14.3",
    "fixed_in_version": "4.12.1",
    "template_key": "access_mfa_reset_done",
    "failure_code": "card_declined",
    "failure_message": "Your card was declined.",
    "status": "succeeded",  # Stripe refund status (a free string)
    "reason": "requested_by_customer",
    "number": "ACME-0042",
    "question": "Which browser extension is installed?",
    "followup_key": "invoice:inv_1001",
    "destination": "a***@acme.example",
    "code": "493817",
}

_INTEGERS: dict[str, int] = {
    "seats": 25,
    "previous_seats": 20,
    "days_until_due": 30,
    "days_overdue": 14,
    "days_until_renewal": 30,
    "attempt_count": 2,
    "attempts_allowed": 3,
    "attempts_left": 2,
    "remaining_seconds": 900,
}

_LISTS: dict[str, list[Any]] = {
    "domains": ["acme.example"],
    "steps": ["Open Reports", "Click Save on any report", "See the error page"],
    "linked_ticket_ids": ["tkt_1001", "tkt_1002"],
    "linked_bug_ids": ["bug_1001"],
    "tags": ["vip"],
    "changed_fields": ["seats"],
    "completed_steps": ["subscription_created", "payment_confirmed", "admin_activated"],
}

_DICTS: dict[str, dict[str, str]] = {"extra": {"locale": "de-DE"}}

# Per type: what makes the sample consistent (statuses matching the event, etc.).
_OVERRIDES: dict[str, dict[str, Any]] = {
    "ticket.created": {"status": "new", "category": "access/mfa", "channel": "email"},
    "ticket.triaged": {"status": "open", "automatic": True},
    "ticket.assigned": {"status": "open"},
    "ticket.unassigned": {"status": "open"},
    "ticket.replied": {"status": "pending", "author": "agent", "visibility": "public"},
    "ticket.status_changed": {"status": "pending", "previous_status": "open"},
    "ticket.solved": {"status": "solved"},
    "ticket.reopened": {"status": "open", "previous_status": "solved"},
    "ticket.sla_warning": {"status": "open", "priority": "high"},
    "ticket.sla_breached": {"status": "open", "priority": "high"},
    "ticket.escalated": {"status": "on_hold", "category": "potential_bug", "severity": "high"},
    "access.action_requested": {"action": "mfa_reset"},
    "tenant.created": {"status": "pending", "collection_method": "send_invoice"},
    "tenant.activated": {"status": "active"},
    "tenant.onboarded": {"status": "active"},
    "tenant.suspended": {"status": "suspended", "reason": "payment_overdue"},
    "tenant.reactivated": {"status": "active", "reason": "payment_received"},
    "tenant.churned": {"status": "churned", "reason": "subscription ended"},
    "tenant.updated": {"status": "active", "changed": ["timezone"]},
    "user.invited": {"status": "invited", "role": "admin"},
    "user.activated": {"status": "active"},
    "user.deactivated": {"status": "deactivated", "reason": "left the company"},
    "user.reactivated": {"status": "active"},
    "user.locked": {"status": "locked", "reason": "failed_logins"},
    "user.marked_inactive": {"status": "inactive"},
    "user.unlocked": {"status": "active"},
    "user.mfa_reset": {"status": "active"},
    "access.action_completed": {"action": "mfa_reset", "user_status": "active"},
    "access.action_rejected": {"action": "unlock", "reasons": ["invalid_user_state"]},
    "subscription.created": {"status": "incomplete"},
    "subscription.activated": {"status": "active"},
    "subscription.updated": {"status": "active", "previous_status": "active"},
    "subscription.canceled": {"status": "canceled", "cancel_at_period_end": True},
    "invoice.finalized": {"status": "open", "amount_paid": 0},
    "invoice.sent": {"status": "open", "amount_paid": 0},
    "invoice.paid": {"status": "paid", "amount_remaining": 0},
    "invoice.payment_failed": {"status": "open", "amount_paid": 0},
    "invoice.overdue": {"status": "open", "amount_paid": 0},
    "invoice.voided": {"status": "void", "amount_paid": 0},
    "renewal.invoiced": {"reason": "automation_did_not_fire"},
    "renewal.at_risk": {"reason": "payment_method_expiring"},
    "refund.issued": {"reason": "requested_by_customer", "status": "succeeded"},
    "credit_note.issued": {"reason": "order_change"},
    "dispute.opened": {"status": "needs_response", "reason": "fraudulent"},
    "dispute.closed": {"status": "won", "reason": "fraudulent"},
    "billing.followup_required": {"cause": "payment_failed"},
    "billing.followup_resolved": {"cause": "payment_failed", "resolution": "invoice_paid"},
    "bug.reported": {"status": "reported", "linked_ticket_ids": ["tkt_1001"]},
    "bug.linked": {"status": "reported", "is_duplicate": True},
    "bug.reproducing": {"status": "reproducing"},
    "bug.reproduced": {"status": "reproduced"},
    "bug.cannot_reproduce": {"status": "cannot_reproduce"},
    "bug.needs_info": {"status": "needs_info"},
    "bug.escalated": {"status": "escalated"},
    "bug.in_progress": {"status": "in_progress"},
    "bug.resolved": {"status": "resolved", "resolution": "fixed"},
    "bug.verified": {"status": "verified"},
    "bug.reopened": {"status": "reproduced", "previous_status": "resolved"},
    "bug.closed": {"status": "closed", "resolution": "fixed"},
}


def sample(event_type: str, *, registry: EventRegistry = registry, **overrides: Any) -> Event:
    """A valid sample of ``event_type``; ``overrides`` replace fields (validated)."""
    model = registry.model_for(event_type)
    values = sample_values(model)
    values.update(_OVERRIDES.get(event_type, {}))
    values.update(overrides)
    return model.model_validate(values)


def sample_values(model: type[BaseModel]) -> dict[str, Any]:
    """Plausible values for every field of ``model`` (not validated)."""
    return {name: _value(name, field.annotation) for name, field in model.model_fields.items()}


def _value(name: str, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _value(name, inner[0])
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        if name in _LISTS:
            return list(_LISTS[name])
        return [_value(name.removesuffix("s"), get_args(annotation)[0])]
    if origin is dict:
        return dict(_DICTS.get(name, {"key": "value"}))
    if annotation is AwareDatetime:
        return _instant(name)
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, BaseModel):
            return sample_values(annotation)
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int):
            return _integer(name)
        if issubclass(annotation, datetime):
            return _instant(name)
        if issubclass(annotation, date):
            return _instant(name).date()
        if issubclass(annotation, str):
            return _string(name)
    raise TypeError(f"no sample value for field {name!r} of type {annotation!r}")


def _string(name: str) -> str:
    if name in _STRINGS:
        return _STRINGS[name]
    if name.endswith("email"):
        return "ada@acme.example"
    if name.endswith("url"):
        return "https://invoice.stripe.example/i/acct_1/inv_1001"
    if name.endswith("_by"):
        return "agt_1001"  # an agent or staff member
    if name.endswith("_id"):
        return f"{_ID_PREFIXES.get(name, name.removesuffix('_id'))}_1001"
    return f"sample {name.replace('_', ' ')}"


_ID_PREFIXES = {
    "ticket_id": "tkt",
    "invoice_id": "inv",
    "stripe_invoice_id": "in",
    "subscription_id": "sub_acme",
    "stripe_subscription_id": "sub",
    "stripe_customer_id": "cus",
    "stripe_charge_id": "ch",
    "stripe_refund_id": "re",
    "stripe_credit_note_id": "cn",
    "stripe_dispute_id": "dp",
    "user_id": "usr",
    "bug_id": "bug",
    "request_id": "req",
    "submission_id": "sub_code",
    "assignee_id": "agt",
    "previous_assignee_id": "agt_0",
    "author_id": "agt",
    "actor_id": "agt",
}


def _integer(name: str) -> int:
    if name in _INTEGERS:
        return _INTEGERS[name]
    if "amount" in name:
        return 49_900
    return 1


def _instant(name: str) -> datetime:
    if any(marker in name for marker in _LATER):
        return SAMPLE_TIME + timedelta(days=30)
    return SAMPLE_TIME
