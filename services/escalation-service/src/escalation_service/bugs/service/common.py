"""What every bug service module shares: the acting context, the report's quality facts,
and the state every bug event carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.quality import ReportFacts, completeness
from escalation_service.bugs.schemas import BugState
from escalation_service.bugs.workflow import event_status
from escalation_service.models import Bug, BugLink
from supportops_events.escalation import BugSeverity, Environment


@dataclass(frozen=True)
class Context:
    """Who acts and when; the clock's reading is taken once per request."""

    actor_id: str | None
    now: datetime


async def refresh_quality(session: AsyncSession, bug: Bug) -> None:
    score, _ = completeness(await report_facts(session, bug))
    bug.completeness_score = score
    await session.flush()


async def report_facts(session: AsyncSession, bug: Bug) -> ReportFacts:
    reproduced = await repository.has_successful_reproduction(session, bug.id)
    return facts_of(bug, has_successful_reproduction=reproduced)


def facts_of(bug: Bug, *, has_successful_reproduction: bool) -> ReportFacts:
    """What the completeness score and the quality gate judge of a report."""
    return ReportFacts(
        title=bug.title,
        summary=bug.summary,
        steps=bug.steps,
        expected=bug.expected,
        actual=bug.actual,
        environment=bug.environment,
        attachments=bug.attachments,
        has_successful_reproduction=has_successful_reproduction,
    )


def event_state(bug: Bug, links: list[BugLink], ctx: Context) -> dict[str, Any]:
    return {
        "tenant_id": bug.tenant_id,
        "bug_id": str(bug.id),
        "key": bug.key,
        "title": bug.title,
        "status": event_status(BugState(bug.status)),
        "severity": BugSeverity(bug.severity),
        "linked_ticket_ids": [link.ticket_id for link in links],
        "actor_id": ctx.actor_id,
    }


def event_environment(env: dict[str, Any]) -> Environment:
    return Environment(
        app_version=env.get("app_version"),
        browser=env.get("browser"),
        os=env.get("os"),
        extra={str(k): str(v) for k, v in (env.get("tenant_configuration") or {}).items()},
    )
