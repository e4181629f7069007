"""What the mail endpoints answer (shared by intake's raw-mail route)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class AttachmentOut(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    entry_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
