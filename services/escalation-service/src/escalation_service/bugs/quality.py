"""Report completeness (0-100 with the missing items) and the escalation quality gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Weight of each item in the completeness score; they sum to 100.
WEIGHTS: dict[str, int] = {
    "title": 5,
    "summary": 5,
    "steps": 20,
    "expected": 10,
    "actual": 10,
    "expected_differs_from_actual": 5,
    "environment.app_version": 15,
    "environment.browser": 5,
    "environment.os": 5,
    "attachments": 5,
    "successful_reproduction": 15,
}

# What escalation to engineering cannot go without.
GATE_ITEMS = (
    "steps",
    "expected",
    "actual",
    "expected_differs_from_actual",
    "environment.app_version",
    "successful_reproduction",
)


@dataclass(frozen=True)
class ReportFacts:
    title: str
    summary: str
    steps: list[str]
    expected: str
    actual: str
    environment: dict[str, Any]
    attachments: list[dict[str, Any]]
    has_successful_reproduction: bool


def missing_items(facts: ReportFacts) -> list[str]:
    env = facts.environment
    present = {
        "title": bool(facts.title.strip()),
        "summary": bool(facts.summary.strip()),
        "steps": len([s for s in facts.steps if s.strip()]) >= 2,
        "expected": bool(facts.expected.strip()),
        "actual": bool(facts.actual.strip()),
        "expected_differs_from_actual": bool(facts.expected.strip())
        and _normalised(facts.expected) != _normalised(facts.actual),
        "environment.app_version": bool((env.get("app_version") or "").strip()),
        "environment.browser": bool((env.get("browser") or "").strip()),
        "environment.os": bool((env.get("os") or "").strip()),
        "attachments": bool(facts.attachments),
        "successful_reproduction": facts.has_successful_reproduction,
    }
    return [item for item in WEIGHTS if not present[item]]


def completeness(facts: ReportFacts) -> tuple[int, list[str]]:
    missing = missing_items(facts)
    return 100 - sum(WEIGHTS[item] for item in missing), missing


def gate_failures(facts: ReportFacts) -> list[str]:
    missing = set(missing_items(facts))
    return [item for item in GATE_ITEMS if item in missing]


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())
