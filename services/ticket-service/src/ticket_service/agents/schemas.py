"""API shapes of the agents registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from servicekit.fields import StrictBool

QueueName = Annotated[str, Field(min_length=1, max_length=64)]


class AgentIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@:-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    available: StrictBool = True
    queues: list[QueueName] = Field(default_factory=list, max_length=50)


class AgentSettable(BaseModel):
    """What a PATCH of an agent merge-patches."""

    name: str = Field(min_length=1, max_length=200)
    available: StrictBool = True
    queues: list[QueueName] = Field(default_factory=list, max_length=50)


class AgentOut(BaseModel):
    id: str
    name: str
    email: str | None
    available: bool
    queues: list[str]
    open_tickets: int
    created_at: datetime
