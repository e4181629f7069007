"""Settings of the escalation-service (environment prefix ``ESCALATION_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class EscalationSettings(ServiceSettings):
    service_name = "escalation-service"
    env_prefix = "ESCALATION_"
    default_port = 8004
    default_database = "escalation"

    duplicate_threshold: float = 0.72
    """Combined duplicate score (0-1, ``bugs.similarity``) at or above which a new report is
    linked to an open bug automatically; chosen on the training pairs for precision >= 0.95
    (``make bench-quality``). Lower-scoring candidates are only listed for a human."""
    qa_tracker: str = "internal"
    """``internal`` (QA works in this API) or ``jira``."""
    jira_base_url: str | None = None
    jira_email: str | None = None
    jira_api_token: str | None = None
    jira_project_key: str = "QA"
    jira_issue_type: str = "Bug"
    jira_webhook_secret: str = "dev-jira-webhook-secret"
    public_base_url: str = "http://127.0.0.1:8004"
    """Where links back to a bug point (``{public_base_url}/v1/bugs/{id}``)."""
