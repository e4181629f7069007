"""How the app runs the ticket-service's mail: the From address on every session, and
the sender in the worker (where the relay runs), reporting to the timeline."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from servicekit.db import Database
from servicekit.mail_sender import MailSender, running_mail_sender
from ticket_service.config import TicketSettings
from ticket_service.mail.outbound import MAIL_INFO_KEY, TicketMail, record_outcome


def configure_mail(db: Database, settings: TicketSettings) -> None:
    info = dict(db.sessionmaker.kw.get("info") or {})
    info[MAIL_INFO_KEY] = TicketMail(sender=settings.mail_from)
    db.sessionmaker.configure(info=info)


def ticket_mail_sender(
    db: Database, settings: TicketSettings
) -> AbstractAsyncContextManager[MailSender | None]:
    return running_mail_sender(
        db,
        settings.smtp_target(),
        service_name=settings.service_name,
        enabled=bool(settings.run_mail_sender),
        on_status=record_outcome,
        poll_interval=settings.mail_poll_interval_seconds,
        max_backoff=settings.mail_max_backoff_seconds,
    )
