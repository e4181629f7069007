"""Choose the QA tracker adapter from settings."""

from __future__ import annotations

from escalation_service.config import EscalationSettings
from escalation_service.tracker.base import InternalTracker, QaTracker
from escalation_service.tracker.jira import JiraTracker


def tracker_from_settings(settings: EscalationSettings) -> QaTracker:
    if settings.qa_tracker == "jira":
        if not (settings.jira_base_url and settings.jira_email and settings.jira_api_token):
            raise ValueError("the jira tracker needs JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN")
        return JiraTracker(
            base_url=settings.jira_base_url,
            email=settings.jira_email,
            api_token=settings.jira_api_token,
            project_key=settings.jira_project_key,
            issue_type=settings.jira_issue_type,
        )
    return InternalTracker()
