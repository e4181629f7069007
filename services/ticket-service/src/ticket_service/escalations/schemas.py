"""API shapes of QA escalations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from supportops_events.escalation import BugSeverity

# Answers that say nothing: refused so QA never gets an empty report.
PLACEHOLDERS = {"n/a", "na", "none", "-", "--", "tbd", "todo", "?", "...", "unknown", "same", "x"}
MIN_TEXT = 3


def _substantial(value: str) -> str:
    text = value.strip()
    if len(text) < MIN_TEXT or text.lower() in PLACEHOLDERS:
        raise ValueError(f"must say something substantial (at least {MIN_TEXT} characters)")
    return text


Substantial = Annotated[str, Field(max_length=5000), AfterValidator(_substantial)]
Step = Annotated[str, Field(max_length=1000), AfterValidator(_substantial)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class EnvironmentIn(BaseModel):
    app_version: ShortText | None = None
    browser: ShortText | None = None
    os: ShortText | None = None
    extra: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _says_where(self) -> EnvironmentIn:
        if not (self.app_version or self.browser or self.os or self.extra):
            raise ValueError("name at least one of app_version, browser, os or extra")
        return self


class EscalationIn(BaseModel):
    title: Annotated[str, Field(max_length=300), AfterValidator(_substantial)] | None = None
    """Defaults to the ticket's subject."""
    steps: list[Step] = Field(min_length=1, max_length=50)
    expected: Substantial
    actual: Substantial
    environment: EnvironmentIn
    severity: BugSeverity


class EscalationOut(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    title: str
    steps: list[str]
    expected: str
    actual: str
    environment: EnvironmentIn
    severity: BugSeverity
    escalated_by: str
    created_at: datetime
