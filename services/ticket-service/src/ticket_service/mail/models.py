"""Tables of the ticket-service's e-mail: our outbound Message-IDs, attachments, and
inbound mail deliberately not taken in (loops, bounces)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.models import Base


class OutboundMail(Base):
    """A Message-ID we sent for a ticket: an answer naming it threads onto the ticket."""

    __tablename__ = "outbound_mail"

    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Attachment(Base):
    """A file that came with an inbound e-mail; its bytes are in the attachment store."""

    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column()
    tenant_id: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AttachmentBlob(Base):
    """The PostgreSQL attachment store's bytes (``attachments.PostgresStore``)."""

    __tablename__ = "attachment_blobs"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class IgnoredMail(Base):
    """An inbound mail that made no ticket and no reply: an auto-reply, a bulk mail or a
    bounce (loop protection, RFC 3834), recorded with why."""

    __tablename__ = "ignored_inbound_mail"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
