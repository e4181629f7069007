"""The alerts watch series that exist: every supportops metric a rule names is one the
services export, so a renamed metric cannot silently switch an alert off."""

from __future__ import annotations

import re
from pathlib import Path

import promql_parser
import pytest
import yaml
from k8s_support import K8S_DIR, REPO_ROOT

RULES = K8S_DIR / "components" / "monitoring" / "prometheus-rule.yaml"
# Series from kube-state-metrics, the kubelet, Strimzi's operator, Prometheus itself
# (``up``) and prometheus_client's process collector (on every /metrics, since the
# services serve the default registry), not from our code.
EXTERNAL = re.compile(r"^(kube_|kubelet_|strimzi_|up$|process_start_time_seconds$)")
METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{")  # our rules always select a namespace
PROMQL_WORDS = {"sum", "max", "min", "increase", "rate", "time", "by", "on", "unless", "and"}


DEFINITION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"']([a-zA-Z_:][a-zA-Z0-9_:]*)[\"']"
)


def exported_metrics() -> set[str]:
    """Series the Python code defines with prometheus_client, read from the source (no
    import: a service's import-time state is not this test's business)."""
    names = set()
    sources = [
        *(REPO_ROOT / "libs").glob("*/src/**/*.py"),
        *(REPO_ROOT / "services").glob("*/src/**/*.py"),
    ]
    for source in sources:
        for kind, name in DEFINITION.findall(source.read_text(encoding="utf-8")):
            if kind == "Counter":
                names.add(name.removesuffix("_total") + "_total")
            elif kind in ("Histogram", "Summary"):
                names.update(name + suffix for suffix in ("_bucket", "_count", "_sum"))
            else:
                names.add(name)
    return names


def alert_metrics(path: Path = RULES) -> dict[str, set[str]]:
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    used: dict[str, set[str]] = {}
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            names = {m for m in METRIC.findall(str(alert["expr"])) if m not in PROMQL_WORDS}
            # one alert name may have several rules (one per service): all count
            used.setdefault(alert["alert"], set()).update(n for n in names if not EXTERNAL.match(n))
    return used


def rules(path: Path = RULES) -> list[dict[str, object]]:
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [alert for group in rule["spec"]["groups"] for alert in group["rules"]]


# What the issue asked to be paged on, by what a person on call would look for.
REQUIRED_ALERTS = {
    "SupportopsHigh5xxRate": "http_requests_total",
    "SupportopsHighLatency": "http_request_duration_seconds_bucket",
    "SupportopsTargetDown": "up",
    "SupportopsTargetAbsent": "absent(up",
    "SupportopsKafkaCaExpiring": "strimzi_certificate_expiration_timestamp_ms",
    "SupportopsKafkaDiskFilling": "kubelet_volume_stats_available_bytes",
    "SupportopsScheduledJobFailing": "scheduler_job_runs_total",
    "SupportopsScheduledJobLate": "scheduler_job_last_success_timestamp_seconds",
}


def test_every_rule_is_valid_promql() -> None:
    for alert in rules():
        try:
            promql_parser.parse(str(alert["expr"]))
        except ValueError as exc:
            pytest.fail(f"{alert['alert']}: {exc}")


def test_a_broken_expression_is_caught() -> None:
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse("sum by (service (rate(http_requests_total[5m]))")


def test_the_alerts_the_runbook_relies_on_exist() -> None:
    exprs: dict[str, list[str]] = {}
    for alert in rules():
        exprs.setdefault(str(alert["alert"]), []).append(str(alert["expr"]))
    for name, needle in REQUIRED_ALERTS.items():
        assert name in exprs, f"missing alert {name}"
        assert all(needle in e for e in exprs[name]), (name, needle)
    absent = " ".join(exprs["SupportopsTargetAbsent"])
    for service in (
        "ticket-service",
        "billing-service",
        "onboarding-service",
        "escalation-service",
    ):
        assert f'app_kubernetes_io_name="{service}"' in absent


def test_every_alert_names_a_runbook_section_that_exists() -> None:
    runbook = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    for alert in rules():
        annotations = alert["annotations"]
        assert isinstance(annotations, dict)
        section = str(annotations["runbook"]).split("#", 1)[1]
        assert section in anchors, f"{alert['alert']}: no section #{section} in operations.md"


def test_every_alert_watches_a_supportops_or_kube_series() -> None:
    used = alert_metrics()
    assert used, "no alerts parsed"
    assert "SupportopsOutboxLag" in used and used["SupportopsOutboxLag"] == {"outbox_lag_seconds"}


def test_alerts_name_only_exported_metrics() -> None:
    exported = exported_metrics()
    missing = {
        alert: names - exported for alert, names in alert_metrics().items() if names - exported
    }
    assert missing == {}


def test_a_renamed_metric_is_caught(tmp_path: Path) -> None:
    renamed = tmp_path / "rule.yaml"
    renamed.write_text(
        RULES.read_text(encoding="utf-8").replace("outbox_lag_seconds", "outbox_age")
    )
    assert "outbox_age" in alert_metrics(renamed)["SupportopsOutboxLag"]
    assert "outbox_age" not in exported_metrics()


def test_relay_publish_failures_and_watchdog_restarts_page_someone() -> None:
    used = alert_metrics()
    assert used["SupportopsOutboxPublishFailing"] == {"outbox_publish_failures_total"}
    assert used["SupportopsConsumerWatchdogRestarts"] == {"consumer_watchdog_restarts_total"}
    assert {"outbox_publish_failures_total", "consumer_watchdog_restarts_total"} <= (
        exported_metrics()
    )


def test_the_process_start_time_the_rules_use_is_served() -> None:
    """SupportopsDeadLetters and SupportopsSlaBreaches tell a new pod by its
    process_start_time_seconds: the kit serves the default registry, which has it."""
    from prometheus_client import generate_latest

    app = (REPO_ROOT / "libs" / "servicekit" / "src" / "servicekit" / "app.py").read_text()
    assert "generate_latest()" in app  # the default registry, with the process collector
    assert b"\nprocess_start_time_seconds " in generate_latest()
    users = {str(a["alert"]) for a in rules() if "process_start_time_seconds{" in str(a["expr"])}
    assert users == {"SupportopsDeadLetters", "SupportopsSlaBreaches"}
