"""Whether Stripe will be able to charge a renewal, judged from the subscription with
its payment methods expanded (pure: no database, no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from supportops_events.billing import RenewalRiskReason

PAYMENT_METHOD_REASONS = {
    RenewalRiskReason.no_payment_method.value,
    RenewalRiskReason.payment_method_expiring.value,
}


def _card_expiry(card: dict[str, Any]) -> datetime | None:
    """A card works through the last day of its expiry month."""
    try:
        month, year = int(card["exp_month"]), int(card["exp_year"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 1 <= month <= 12 or year < 1970:
        return None
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def payment_method_risk(
    remote: dict[str, Any], *, renews_at: datetime
) -> tuple[RenewalRiskReason, str] | None:
    """What keeps Stripe from charging the renewal, judged from the subscription with its
    payment methods expanded: Stripe uses the subscription's own default payment method,
    then its default source, then the customer's invoice default, then the customer's
    default source. ``None``: a usable method that outlives the renewal date."""
    customer = remote.get("customer")
    candidates: list[Any] = [remote.get("default_payment_method"), remote.get("default_source")]
    if isinstance(customer, dict):
        if customer.get("deleted"):
            return RenewalRiskReason.no_payment_method, "the Stripe customer was deleted"
        settings = customer.get("invoice_settings") or {}
        candidates += [settings.get("default_payment_method"), customer.get("default_source")]
    method = next((c for c in candidates if c), None)
    if method is None:
        return (
            RenewalRiskReason.no_payment_method,
            "no default payment method on the subscription or the customer",
        )
    if not isinstance(method, dict):
        return None  # not expanded: present, nothing more to judge
    kind = method.get("object")
    card = method.get("card") if kind == "payment_method" else method if kind == "card" else None
    if isinstance(card, dict):
        expires = _card_expiry(card)
        if expires is not None and expires <= renews_at:
            brand = str(card.get("brand") or "card")
            return (
                RenewalRiskReason.payment_method_expiring,
                f"the {brand} card ending {card.get('last4') or '????'} expires "
                f"{int(card['exp_month']):02d}/{card['exp_year']}, before the renewal on "
                f"{renews_at:%Y-%m-%d}",
            )
        return None
    if kind == "bank_account" and method.get("status") in {"errored", "verification_failed"}:
        return (
            RenewalRiskReason.no_payment_method,
            f"the default bank account is {method.get('status')}",
        )
    return None
