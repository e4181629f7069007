"""One Grafana dashboard per service, generated so the four stay alike:

    uv run python deploy/observability/generate_dashboards.py

writes ``deploy/observability/dashboards/<service>.json`` (commit them; a test fails
when they are stale, and when a panel queries a metric the code does not export).
Import them into Grafana (Dashboards > Import) or ship them with a dashboard sidecar
ConfigMap; the data source is a variable, ``$datasource``, of type Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
SERVICES = {
    "ticket-service": {"webhooks": False, "emails": True},
    "billing-service": {"webhooks": True, "emails": False},
    "onboarding-service": {"webhooks": False, "emails": True},
    "escalation-service": {"webhooks": True, "emails": False},
}
NS = 'namespace="supportops"'


def panel(
    panel_id: int, title: str, exprs: list[tuple[str, str]], *, unit: str, x: int, y: int
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(service: str, features: dict[str, bool]) -> dict[str, Any]:
    svc = f'{NS}, service="{service}"'
    group = f'{NS}, group="{service}"'
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        (
            "Requests per second by route",
            [(f"sum by (route) (rate(http_requests_total{{{svc}}}[5m]))", "{{route}}")],
            "reqps",
        ),
        (
            "Latency (p50, p95, p99)",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(http_request_duration_seconds_bucket{{{svc}}}[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            "s",
        ),
        (
            "Errors: 5xx and 4xx share",
            [
                (
                    f'sum(rate(http_requests_total{{{svc}, status=~"5.."}}[5m])) '
                    f"/ sum(rate(http_requests_total{{{svc}}}[5m]))",
                    "5xx",
                ),
                (
                    f'sum(rate(http_requests_total{{{svc}, status=~"4.."}}[5m])) '
                    f"/ sum(rate(http_requests_total{{{svc}}}[5m]))",
                    "4xx",
                ),
            ],
            "percentunit",
        ),
        (
            "Outbox backlog",
            [
                (f"max(outbox_pending_events{{{svc}}})", "pending events"),
                (f"max(outbox_lag_seconds{{{svc}}})", "oldest (s)"),
                (f"sum(rate(outbox_publish_failures_total{{{svc}}}[5m]))", "failed batches/s"),
            ],
            "short",
        ),
        (
            "Events published by type",
            [
                (
                    f"sum by (event_type) (rate(outbox_published_total{{{svc}}}[5m]))",
                    "{{event_type}}",
                )
            ],
            "ops",
        ),
        (
            "Consumer lag by topic",
            [(f"sum by (topic) (consumer_lag_messages{{{group}}})", "{{topic}}")],
            "short",
        ),
        (
            "Consumed events by outcome",
            [
                (
                    f"sum by (outcome) (rate(consumer_events_total{{{group}}}[5m]))",
                    "{{outcome}}",
                ),
                (f"sum(rate(consumer_retries_total{{{group}}}[5m]))", "retries"),
            ],
            "ops",
        ),
        (
            "Dead letters",
            [
                (
                    f"sum by (reason) (increase(consumer_dead_letters_total{{{group}}}[1h]))",
                    "{{reason}}",
                )
            ],
            "short",
        ),
        (
            "Scheduled job runs",
            [
                (
                    f"sum by (scheduled_job, outcome) "
                    f"(increase(scheduler_job_runs_total{{{svc}}}[1h]))",
                    "{{scheduled_job}} {{outcome}}",
                ),
            ],
            "short",
        ),
        (
            "Scheduled job duration (p95) and leader",
            [
                (
                    f"histogram_quantile(0.95, sum by (scheduled_job, le) "
                    f"(rate(scheduler_job_duration_seconds_bucket{{{svc}}}[1h])))",
                    "{{scheduled_job}} p95",
                ),
                (
                    f"max by (scheduled_job, pod) (scheduler_job_leader{{{svc}}})",
                    "leader {{scheduled_job}} {{pod}}",
                ),
            ],
            "s",
        ),
    ]
    if features["webhooks"]:
        specs.append(
            (
                "Webhooks received by status",
                [
                    (
                        f"sum by (status) (rate(http_requests_total"
                        f'{{{svc}, route=~".*webhook.*"}}[5m]))',
                        "{{status}}",
                    )
                ],
                "reqps",
            )
        )
    if features["emails"]:
        specs.append(
            (
                "Customer e-mails (events that send one)",
                [
                    (
                        f"sum by (event_type) (increase(outbox_published_total{{{svc}, "
                        f'event_type=~"ticket.replied|user.invited|tenant.onboarded"}}[1h]))',
                        "{{event_type}}",
                    )
                ],
                "short",
            )
        )
    panels = [
        panel(i + 1, title, exprs, unit=unit, x=(i % 2) * 12, y=(i // 2) * 8)
        for i, (title, exprs, unit) in enumerate(specs)
    ]
    return {
        "uid": f"supportops-{service}",
        "title": f"supportops / {service}",
        "tags": ["supportops", service],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> dict[str, str]:
    return {
        f"{service}.json": json.dumps(dashboard(service, features), indent=2) + "\n"
        for service, features in SERVICES.items()
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
