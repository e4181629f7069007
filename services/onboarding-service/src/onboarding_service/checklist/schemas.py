"""Bodies of ``/v1/tenants/{id}/onboarding`` and ``/v1/onboarding/stuck``."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from onboarding_service.checklist.steps import Step
from onboarding_service.checklist.welcome import WelcomeTemplate
from onboarding_service.tenants.lifecycle import TenantStatus


class StepOut(BaseModel):
    step: Step
    done: bool
    started_at: datetime
    due_at: datetime
    overdue: bool
    completed_at: datetime | None
    completed_by: str | None
    source: str | None
    duration_seconds: float | None
    """From the start of the onboarding to this step's completion."""


class CompletionReport(BaseModel):
    started_at: datetime
    completed_at: datetime
    total_duration_seconds: float
    steps: list[StepOut]


class ChecklistOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_status: TenantStatus
    complete: bool
    steps: list[StepOut]
    report: CompletionReport | None
    """Who did each step, when, and how long it took; present once complete."""


class WelcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: WelcomeTemplate = WelcomeTemplate.welcome_v1


class WelcomeOut(BaseModel):
    id: uuid.UUID
    template: WelcomeTemplate
    recipient: str
    subject: str
    body: str
    sent_by: str
    sent_at: datetime


class StuckOverdueStep(BaseModel):
    step: Step
    due_at: datetime


class StuckOnboarding(BaseModel):
    tenant_id: uuid.UUID
    company_name: str
    started_at: datetime
    overdue_steps: list[StuckOverdueStep]
