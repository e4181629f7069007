"""How the app runs the ticket-service's mail: the From address on every session, and
the sender in the worker (where the relay runs), reporting to the timeline."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from servicekit.db import Database
from servicekit.mail_sender import MailSender, settings_mail_sender
from ticket_service.config import TicketSettings
from ticket_service.mail.outbound import MAIL_INFO_KEY, TicketMail, record_outcome


def configure_mail(db: Database, settings: TicketSettings) -> None:
    info = dict(db.sessionmaker.kw.get("info") or {})
    info[MAIL_INFO_KEY] = TicketMail(sender=settings.mail_from)
    db.sessionmaker.configure(info=info)


def ticket_mail_sender(
    db: Database, settings: TicketSettings
) -> AbstractAsyncContextManager[MailSender | None]:
    return settings_mail_sender(db, settings, on_status=record_outcome)
