"""Rule unit tests with the real promtool: series in, alerts out, for every alert.

The PrometheusRule's ``spec.groups`` is extracted to a plain rules file in a temporary
directory, next to a copy of ``components/monitoring/tests/alerts.test.yaml`` whose
``rule_files`` is pointed at it; then ``promtool check rules`` and ``promtool test rules``
run on them. promtool comes from Debian (``apt-get install prometheus``, installed by
``.ci/run``): without it these tests fail, they never skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_support import K8S_DIR, REPO_ROOT

MONITORING = K8S_DIR / "components" / "monitoring"
RULES = MONITORING / "prometheus-rule.yaml"
UNIT_TESTS = MONITORING / "tests" / "alerts.test.yaml"


def find_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: the alert rule unit tests need it. `.ci/run` installs "
            "it (`apt-get install prometheus`, Debian's package ships /usr/bin/promtool)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_promtool()


def alert_rules(rule_path: Path = RULES) -> list[dict[str, Any]]:
    doc = yaml.safe_load(rule_path.read_text(encoding="utf-8"))
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"] if "alert" in rule]


def prepare(
    directory: Path,
    rule_path: Path = RULES,
    test_path: Path = UNIT_TESTS,
    only_alert: str | None = None,
) -> Path:
    """Write the PrometheusRule's groups as ``rules.yaml`` and the unit tests, pointed at
    it, as ``alerts.test.yaml`` in ``directory``; return the test file. ``only_alert``
    keeps the test groups about that alert (promtool takes ~0.3 s a group)."""
    rule = yaml.safe_load(rule_path.read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule", rule_path
    plain = directory / "rules.yaml"
    plain.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    tests = yaml.safe_load(test_path.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(plain)]
    if only_alert is not None:
        tests["tests"] = [
            group
            for group in tests["tests"]
            if any(case["alertname"] == only_alert for case in group["alert_rule_test"])
        ]
    out = directory / "alerts.test.yaml"
    out.write_text(yaml.safe_dump(tests, sort_keys=False))
    return out


def run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def uncovered(rule_path: Path = RULES, test_path: Path = UNIT_TESTS) -> list[str]:
    """Alerts (a name plus the labels the rule adds, since one name may have a rule per
    service) that lack a firing case asserting those labels and both annotations, or
    lack a case where the alert must stay quiet."""
    tests = yaml.safe_load(test_path.read_text(encoding="utf-8"))["tests"]
    cases = [case for group in tests for case in group.get("alert_rule_test", [])]
    problems = []
    for rule in alert_rules(rule_path):
        name, labels = rule["alert"], rule.get("labels", {})
        annotations = rule.get("annotations", {})
        fired = [
            expected
            for case in cases
            if case["alertname"] == name
            for expected in case.get("exp_alerts") or []
            if labels.items() <= expected.get("exp_labels", {}).items()
        ]
        if not fired:
            problems.append(f"{name} {labels}: no case where it fires")
        elif not any(
            set(annotations) <= set(e.get("exp_annotations", {}))
            and e["exp_annotations"]["runbook"] == annotations["runbook"]
            for e in fired
        ):
            problems.append(f"{name} {labels}: no firing case asserts summary and runbook")
        if not any(case["alertname"] == name and not case.get("exp_alerts") for case in cases):
            problems.append(f"{name}: no case where it must not fire")
    return problems


def test_the_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    prepare(tmp_path)
    result = run(promtool, "check", "rules", tmp_path / "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_every_alert_behaves_as_its_unit_tests_say(promtool: str, tmp_path: Path) -> None:
    result = run(promtool, "test", "rules", prepare(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    assert len(alert_rules()) >= 25
    assert uncovered() == []


def test_a_new_alert_without_a_unit_test_is_caught(tmp_path: Path) -> None:
    rule = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rule["spec"]["groups"][0]["rules"].append(
        {
            "alert": "SupportopsSomethingNew",
            "expr": 'outbox_pending_events{namespace="supportops"} > 100',
            "labels": {"severity": "warning"},
            "annotations": {"summary": "new", "runbook": "docs/operations.md#outbox-lag"},
        }
    )
    grown = tmp_path / "prometheus-rule.yaml"
    grown.write_text(yaml.safe_dump(rule, sort_keys=False))
    assert uncovered(grown) == [
        "SupportopsSomethingNew {'severity': 'warning'}: no case where it fires",
        "SupportopsSomethingNew: no case where it must not fire",
    ]


def test_a_per_service_rule_without_its_own_firing_case_is_caught(tmp_path: Path) -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            case["exp_alerts"] = [
                e
                for e in case.get("exp_alerts") or []
                if e["exp_labels"].get("service") != "onboarding-service"
                or case["alertname"] != "SupportopsTargetAbsent"
            ]
    thinned = tmp_path / "alerts.test.yaml"
    thinned.write_text(yaml.safe_dump(tests, sort_keys=False))
    assert uncovered(test_path=thinned) == [
        "SupportopsTargetAbsent {'severity': 'critical', 'service': 'onboarding-service'}: "
        "no case where it fires"
    ]


@pytest.mark.parametrize(
    ("original", "broken", "alert"),
    [
        # a threshold raised tenfold: the lag that should page no longer does
        (
            '(consumer_lag_messages{namespace="supportops"}) > 1000',
            '(consumer_lag_messages{namespace="supportops"}) > 10000',
            "SupportopsConsumerLagHigh",
        ),
        # the summary names a label the aggregation drops: it renders empty
        (
            "{{ $labels.deployment }} has no available pod",
            "{{ $labels.service }} has no available pod",
            "SupportopsWorkerUnavailable",
        ),
        # the healthy branch of the `unless` removed: a busy group looks stalled
        (
            "unless on (namespace, group)\n"
            "            sum by (namespace, group) (increase(consumer_events_total"
            '{namespace="supportops"}[15m])) > 0',
            "",
            "SupportopsConsumerStalled",
        ),
    ],
    ids=["threshold", "summary-label", "unless-branch"],
)
def test_a_broken_rule_fails_its_unit_tests(
    promtool: str, tmp_path: Path, original: str, broken: str, alert: str
) -> None:
    source = RULES.read_text(encoding="utf-8")
    assert original in source
    mutated = tmp_path / "prometheus-rule.yaml"
    mutated.write_text(source.replace(original, broken, 1))
    work = tmp_path / "work"
    work.mkdir()
    result = run(promtool, "test", "rules", prepare(work, rule_path=mutated, only_alert=alert))
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


def test_without_promtool_the_tests_fail_and_say_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/run.*apt-get install prometheus"):
        find_promtool()


def test_the_late_job_window_covers_three_of_the_longest_interval() -> None:
    """SupportopsScheduledJobLate looks back a fixed window for the last success: a job
    whose interval grew past it would never be reported late."""
    expr = next(str(r["expr"]) for r in alert_rules() if r["alert"] == "SupportopsScheduledJobLate")
    window = re.search(
        r"max_over_time\(scheduler_job_last_success_timestamp_seconds\{[^}]*\}\[(\d+)d\]\)", expr
    )
    assert window is not None, expr
    intervals = {
        name: float(value)
        for config in REPO_ROOT.glob("services/*/src/*/config.py")
        for name, value in re.findall(
            r"(\w+_interval_seconds): float = Field\(default=([\d.]+)", config.read_text()
        )
    }
    assert "holiday_refresh_interval_seconds" in intervals, intervals
    assert 3 * max(intervals.values()) + 600 <= int(window.group(1)) * 86400
