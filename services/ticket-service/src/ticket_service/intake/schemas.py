"""The inbound-email webhook payload (what a mail provider's parse hook posts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from ticket_service.tickets.schemas import EMAIL_PATTERN

MessageId = Annotated[str, Field(min_length=3, max_length=998)]


class Address(BaseModel):
    email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    name: str | None = Field(default=None, max_length=200)


class InboundEmailIn(BaseModel):
    """One received e-mail.

    ``message_id``, ``in_reply_to`` and ``references`` are the RFC 5322 headers (with or
    without angle brackets). ``tenant_id`` may be given by the mail route; otherwise the
    tenant is the one whose verified domains include the sender's domain.
    """

    message_id: MessageId
    in_reply_to: MessageId | None = None
    references: list[MessageId] = Field(default_factory=list, max_length=100)
    sender: Address = Field(alias="from")
    subject: str = Field(default="(no subject)", max_length=300)
    text: str = Field(min_length=1, max_length=50_000)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=64)

    model_config = {"populate_by_name": True}


class InboundEmailOut(BaseModel):
    ticket_id: uuid.UUID
    entry_id: uuid.UUID
    threaded: bool
    """Whether the message was added to an existing ticket."""
    duplicate: bool
    """Whether this Message-ID had been taken in before (nothing new happened)."""
    follow_up_of: uuid.UUID | None = None
    """The closed ticket the message answered: a closed ticket takes no more replies, so
    the message opened this follow-up ticket instead."""
