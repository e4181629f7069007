"""Stripe data that cannot be true (a period ending before it starts, as stripe-mock's
canned objects carry): one check, counted and logged the same way for every object."""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import Counter

logger = logging.getLogger("billing_service.stripe_data")

INVALID_STRIPE_DATA = Counter(
    "stripe_invalid_data_total",
    "Stripe objects carrying impossible data that was rejected (e.g. a period ending "
    "before it starts)",
    ["object", "problem"],
)


def impossible_period(
    start: datetime | None,
    end: datetime | None,
    *,
    kind: str,
    stripe_id: object,
    ours: str | None,
) -> bool:
    """Whether a period ends before it starts; when it does it is counted and logged here
    (the caller decides what is rejected)."""
    if start is None or end is None or start <= end:
        return False
    INVALID_STRIPE_DATA.labels(object=kind, problem="period_ends_before_start").inc()
    logger.warning(
        "Stripe %s %s (ours %s) has an impossible period %s .. %s: rejected",
        kind,
        stripe_id,
        ours,
        start.isoformat(),
        end.isoformat(),
    )
    return True
