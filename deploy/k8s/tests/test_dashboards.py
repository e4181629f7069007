"""The Grafana dashboards (deploy/observability): valid JSON, one per service, generated
(not stale), and every panel queries a metric the code exports, in valid PromQL."""

from __future__ import annotations

import json

import promql_parser
import pytest
from k8s_support import CONTRACT, REPO_ROOT, load_module
from test_alerts import METRIC, exported_metrics

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
DASHBOARDS = OBSERVABILITY / "dashboards"
# Every dashboard shows these; a service's own extras come on top.
ALWAYS = {
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "outbox_pending_events",
    "outbox_lag_seconds",
    "consumer_lag_messages",
    "consumer_dead_letters_total",
    "scheduler_job_runs_total",
}


def dashboards() -> dict[str, dict[str, object]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def queries(board: dict[str, object]) -> list[str]:
    panels = board["panels"]
    assert isinstance(panels, list)
    return [target["expr"] for p in panels for target in p["targets"]]


def test_one_dashboard_per_service_and_not_stale() -> None:
    assert set(dashboards()) == set(CONTRACT)
    generator = load_module("supportops_dashboards", OBSERVABILITY / "generate_dashboards.py")
    for name, text in generator.render().items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run uv run python deploy/observability/generate_dashboards.py"
        )


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_every_panel_queries_an_exported_metric(service: str) -> None:
    board = dashboards()[service]
    exported = exported_metrics()
    used: set[str] = set()
    for expr in queries(board):
        promql_parser.parse(expr)  # raises on invalid PromQL
        names = set(METRIC.findall(expr)) - {"by"}
        assert names, f"{expr!r} selects no metric"
        assert names <= exported, f"{service}: {names - exported} not exported by the code"
        used |= names
        assert f'"{service}"' in expr, f"{expr!r} is not scoped to {service}"
    assert used >= ALWAYS
    ids = [p["id"] for p in board["panels"]]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids))


def test_a_panel_on_a_renamed_metric_is_caught() -> None:
    exported = exported_metrics()
    expr = queries(dashboards()["ticket-service"])[0].replace("http_requests_total", "http_hits")
    assert not set(METRIC.findall(expr)) <= exported
