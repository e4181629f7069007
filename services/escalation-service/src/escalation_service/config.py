"""Settings of the escalation-service (environment prefix ``ESCALATION_``)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class EscalationSettings(ServiceSettings):
    service_name = "escalation-service"
    env_prefix = "ESCALATION_"
    default_port = 8004
    default_database = "escalation"
    secret_fields = ServiceSettings.secret_fields | {"jira_api_token", "jira_webhook_secret"}

    duplicate_threshold: float = 0.72
    """Combined duplicate score (0-1, ``bugs.similarity``) at or above which a new report is
    linked to an open bug automatically; chosen on the training pairs for precision >= 0.94
    with none of the legacy near-misses linked (``python -m benchmarks.quality --fit``).
    Lower-scoring candidates are only listed for a human."""
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

    def secret_unused(self, name: str) -> bool:
        # The API token only signs calls to Jira; the webhook secret is always in use,
        # since the signed webhook endpoint is always served.
        if name == "jira_api_token":
            return self.qa_tracker != "jira"
        return super().secret_unused(name)
