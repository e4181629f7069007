"""The alerts watch series that exist: every supportops metric a rule names is one the
services export, so a renamed metric cannot silently switch an alert off."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from k8s_support import K8S_DIR, REPO_ROOT

RULES = K8S_DIR / "components" / "monitoring" / "prometheus-rule.yaml"
# Series from kube-state-metrics, not from our code.
EXTERNAL = re.compile(r"^kube_")
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
            used[alert["alert"]] = {n for n in names if not EXTERNAL.match(n)}
    return used


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
