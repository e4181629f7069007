"""Jira Cloud REST v3 adapter: escalated bugs become Jira issues (description in ADF)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from escalation_service.tracker.base import QaTracker, TrackerIssue
from servicekit.errors import ProblemError

SEVERITY_PRIORITY = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}


class TrackerUnavailable(ProblemError):
    status, code, title = 502, "qa-tracker-unavailable", "QA tracker unavailable"


class JiraTracker(QaTracker):
    name = "jira"

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        project_key: str,
        issue_type: str = "Bug",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        credentials = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self.project_key = project_key
        self.issue_type = issue_type
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={
                "Authorization": f"Basic {credentials}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )

    async def create_issue(self, issue: TrackerIssue) -> str | None:
        payload = {
            "fields": {
                "project": {"key": self.project_key},
                "issuetype": {"name": self.issue_type},
                "summary": f"[{issue.key}] {issue.title}"[:255],
                "description": adf_description(issue),
                "labels": ["supportops", issue.key],
            }
        }
        try:
            response = await self._client.post("/rest/api/3/issue", json=payload)
        except httpx.HTTPError as exc:
            raise TrackerUnavailable(
                f"Jira could not be reached: {exc.__class__.__name__}"
            ) from exc
        if response.status_code != 201:
            raise TrackerUnavailable(
                f"Jira refused the issue (HTTP {response.status_code})",
                jira_status=response.status_code,
            )
        key = response.json().get("key")
        return str(key) if key else None

    async def aclose(self) -> None:
        await self._client.aclose()


def _text(value: str, *, bold: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if bold:
        node["marks"] = [{"type": "strong"}]
    return node


def _paragraph(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def _heading(value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(value)]}


def adf_description(issue: TrackerIssue) -> dict[str, Any]:
    """The bug as an Atlassian Document Format document (text nodes are never empty)."""
    env = issue.environment
    content: list[dict[str, Any]] = []
    if issue.summary.strip():
        content.append(_paragraph(_text(issue.summary)))
    content.append(_heading("Steps to reproduce"))
    content.append(
        {
            "type": "orderedList",
            "attrs": {"order": 1},
            "content": [
                {"type": "listItem", "content": [_paragraph(_text(step))]}
                for step in issue.steps
                if step.strip()
            ]
            or [{"type": "listItem", "content": [_paragraph(_text("(none given)"))]}],
        }
    )
    content.append(_heading("Expected"))
    content.append(_paragraph(_text(issue.expected or "(none given)")))
    content.append(_heading("Actual"))
    content.append(_paragraph(_text(issue.actual or "(none given)")))
    content.append(_heading("Environment"))
    env_items = [
        ("Application version", env.get("app_version")),
        ("Browser", env.get("browser")),
        ("OS", env.get("os")),
    ]
    tenant_config = env.get("tenant_configuration") or {}
    if isinstance(tenant_config, dict):
        env_items.extend((str(k), v) for k, v in tenant_config.items())
    content.append(
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [_paragraph(_text(f"{label}: ", bold=True), _text(str(value)))],
                }
                for label, value in env_items
                if value
            ]
            or [{"type": "listItem", "content": [_paragraph(_text("(none given)"))]}],
        }
    )
    content.append(
        _paragraph(
            _text("Support report: "),
            {
                "type": "text",
                "text": issue.key,
                "marks": [{"type": "link", "attrs": {"href": issue.link}}],
            },
        )
    )
    return {"version": 1, "type": "doc", "content": content}
