"""The escalation-service's own request dependencies: its settings, its QA tracker, and
the one role set the kit does not name (``servicekit.roles`` has the others)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from escalation_service.config import EscalationSettings
from escalation_service.tracker.base import QaTracker
from servicekit.auth import Principal, Role
from servicekit.roles import roles

BugReader = Annotated[Principal, Depends(roles(Role.agent, Role.qa, Role.service))]
"""Who reads bugs: agents, QA and other services (tenant tokens confined to their tenant)."""
DuplicateModelReader = Annotated[Principal, Depends(roles(Role.agent, Role.qa, staff_only=True))]
"""Who reads the duplicate model and the verdicts: support staff (agents, QA). The verdicts
name bugs of every tenant, so a tenant-scoped token is refused (403 ``staff-only``)."""
DuplicateJudge = Annotated[Principal, Depends(roles(Role.qa, staff_only=True))]
"""Who gives duplicate verdicts: support QA staff. A verdict trains the one duplicate model
every tenant's filings are scored by, so a tenant-scoped token is refused (403
``staff-only``): a customer cannot teach the model to link or stop linking other tenants'
reports."""


async def _settings(request: Request) -> EscalationSettings:
    settings: EscalationSettings = request.app.state.settings
    return settings


async def _tracker(request: Request) -> QaTracker:
    tracker: QaTracker = request.app.state.qa_tracker
    return tracker


SettingsDep = Annotated[EscalationSettings, Depends(_settings)]
TrackerDep = Annotated[QaTracker, Depends(_tracker)]
