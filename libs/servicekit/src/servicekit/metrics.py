"""Prometheus metrics of the kit (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
OUTBOX_PENDING = Gauge(
    "outbox_pending_events", "Events in the outbox not yet published", ["service"]
)
OUTBOX_LAG = Gauge("outbox_lag_seconds", "Age of the oldest unpublished outbox event", ["service"])
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total", "Events published by the relay", ["service", "topic", "event_type"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Relay batches that failed to publish", ["service"]
)
CONSUMER_PROCESSED = Counter(
    "consumer_events_total",
    "Consumed events by outcome (processed, duplicate, skipped, dead_lettered)",
    ["group", "event_type", "outcome"],
)
CONSUMER_LAG = Gauge(
    "consumer_lag_messages", "Messages behind the partition's end", ["group", "topic", "partition"]
)
CONSUMER_RETRIES = Counter(
    "consumer_retries_total", "Handler attempts that failed and were retried", ["group"]
)
DEAD_LETTERS = Counter(
    "consumer_dead_letters_total", "Messages sent to a dead-letter topic", ["group", "reason"]
)
CONSUMER_INFRA_RETRIES = Counter(
    "consumer_infrastructure_retries_total",
    "Batch or event attempts that met an unavailable database or broker and were retried "
    "(never dead-lettered)",
    ["group", "error"],
)
CONSUMER_WATCHDOG_RESTARTS = Counter(
    "consumer_watchdog_restarts_total",
    "Kafka consumers restarted because a partition had lag and made no progress",
    ["group"],
)
EVENT_LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late the event loop woke a probe that sleeps EVENT_LOOP_LAG_PROBE_SECONDS: a loop "
    "blocked by a CPU-bound or synchronous call delays every request it holds by as much; "
    "where: on_cpu (the process ran code meanwhile) or off_cpu (it waited for a core or a "
    "blocking call)",
    ["service", "where"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
