"""Prometheus metrics of Stripe's webhooks and their processing (the kit's registry, so
they are served at ``/metrics`` with everything else)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOKS_RECEIVED = Counter(
    "stripe_webhooks_received_total", "Stripe webhook requests received (before any check)"
)
WEBHOOKS_VERIFIED = Counter(
    "stripe_webhooks_verified_total", "Stripe webhooks whose signature and payload were valid"
)
WEBHOOKS_REJECTED = Counter(
    "stripe_webhooks_rejected_total",
    "Stripe webhooks refused with a 400 (missing_signature, invalid_signature, "
    "payload_too_large, invalid_event)",
    ["reason"],
)
EVENTS_PROCESSED = Counter(
    "stripe_events_processed_total",
    "Stored Stripe events processed, by type and outcome (applied, unchanged, stale, …)",
    ["event_type", "outcome"],
)
EVENTS_FAILED = Counter(
    "stripe_events_failed_total",
    "Attempts to process a stored Stripe event that failed (it is retried)",
    ["event_type"],
)
EVENTS_PENDING_AGE = Gauge(
    "stripe_events_pending_age_seconds",
    "Age of the oldest stored Stripe event not processed yet (0 when none)",
)
EVENTS_PENDING = Gauge("stripe_events_pending", "Stored Stripe events not processed yet")
OBJECTS_REFETCHED = Counter(
    "stripe_objects_refetched_total",
    "Objects retrieved from Stripe because their events' payloads could not settle the "
    "order (one per unsettled tie)",
    ["object"],
)
