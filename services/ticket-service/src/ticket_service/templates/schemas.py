"""API shapes of response templates and macros."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from servicekit.fields import StrictBool
from supportops_events.tickets import TicketPriority, TicketStatus

TemplateKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.-]+$")]
VariableName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_]\w*$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
VariableValue = Annotated[str, Field(max_length=5000)]


class TemplateIn(BaseModel):
    key: TemplateKey
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    variables: list[VariableName] = Field(default_factory=list, max_length=50)
    approved: StrictBool = Field(
        default=False,
        description="Always false: a version is approved by another user "
        "(POST /v1/templates/{key}/versions/{version}/approval)",
    )

    @field_validator("approved")
    @classmethod
    def _starts_unapproved(cls, value: bool) -> bool:
        return _not_self_approved(value)


def _not_self_approved(value: bool) -> bool:
    if value:
        raise ValueError(
            "a template version starts unapproved; another user approves it "
            "with POST /v1/templates/{key}/versions/{version}/approval"
        )
    return value


class TemplateSettable(BaseModel):
    """What an edit merge-patches (RFC 7396) into the next version; members left out are
    carried over from the current one."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    variables: list[VariableName] = Field(default_factory=list, max_length=50)
    approved: StrictBool = Field(
        default=False, description="Never true: the new version starts unapproved"
    )

    @field_validator("approved")
    @classmethod
    def _starts_unapproved(cls, value: bool) -> bool:
        return _not_self_approved(value)


class TemplateOut(BaseModel):
    id: uuid.UUID
    key: str
    version: int
    title: str
    body: str
    variables: list[str]
    approved: bool
    created_at: datetime
    created_by: str | None
    approved_by: str | None
    approved_at: datetime | None


class RenderIn(BaseModel):
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=50)


class RenderOut(BaseModel):
    key: str
    version: int
    text: str
    """The plain-text part: template and values as written."""
    html: str
    """The HTML part: template text and values escaped."""


class TemplateReplyIn(BaseModel):
    template_key: TemplateKey
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=50)


class MacroIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    template_key: TemplateKey | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    add_tags: list[Tag] = Field(default_factory=list, max_length=20)
    remove_tags: list[Tag] = Field(default_factory=list, max_length=20)


class MacroOut(BaseModel):
    id: uuid.UUID
    name: str
    template_key: str | None
    status: TicketStatus | None
    priority: TicketPriority | None
    add_tags: list[str]
    remove_tags: list[str]
    created_at: datetime


class MacroApplyIn(BaseModel):
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=50)
