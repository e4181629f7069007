"""How the onboarding app runs its mail: the From address and activation link on every
session, and the sender in the worker process (where the relay runs)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from onboarding_service.config import OnboardingSettings
from onboarding_service.mail.outbound import MAIL_INFO_KEY, OnboardingMail
from servicekit.db import Database
from servicekit.mail_sender import MailSender, settings_mail_sender


def configure_mail(db: Database, settings: OnboardingSettings) -> None:
    info = dict(db.sessionmaker.kw.get("info") or {})
    info[MAIL_INFO_KEY] = OnboardingMail(
        sender=settings.mail_from, activation_url=settings.activation_url
    )
    db.sessionmaker.configure(info=info)


def onboarding_mail_sender(
    db: Database, settings: OnboardingSettings
) -> AbstractAsyncContextManager[MailSender | None]:
    return settings_mail_sender(db, settings)
