"""The onboarding mails: invitations with the activation link (and their resends, the
activation reminders), the welcome message, onboarding complete, and the one-time code
of an MFA reset support asked for.

Each is queued in the transaction of the change that causes it (``servicekit.mail``) and
sent after commit by the worker's sender. Texts are rendered by Jinja2, the HTML part
autoescaped (a company or person name cannot inject markup). ``ref`` names the record
the mail belongs to (``user:<id>``, ``tenant:<id>``, ``access_request:<id>``), so its
delivery status is shown with it (``GET /v1/users/{id}/mail``, ``/v1/tenants/{id}/mail``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Tenant, User
from servicekit.mail import build_message, queue_mail

MAIL_INFO_KEY = "onboarding_service.mail"

_text = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_html = Environment(undefined=StrictUndefined, autoescape=select_autoescape(default=True))


@dataclass(frozen=True)
class OnboardingMail:
    sender: str
    activation_url: str
    """With ``{token}``: the page where an invited user activates their account."""

    def link(self, token: str) -> str:
        return self.activation_url.replace("{token}", token)


def mail_of(session: AsyncSession) -> OnboardingMail:
    found = session.info.get(MAIL_INFO_KEY)
    if isinstance(found, OnboardingMail):
        return found
    from onboarding_service.config import OnboardingSettings  # outside the app

    settings = OnboardingSettings()
    return OnboardingMail(sender=settings.mail_from, activation_url=settings.activation_url)


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str


LETTERS: dict[str, tuple[str, str, str]] = {
    "user.invitation": (
        "You are invited to {{ company }} on supportops",
        "Hello {{ name or email }},\n\n"
        "{{ inviter }} invited you to {{ company }} on supportops as {{ role }}.\n"
        "Activate your account here (the link works until {{ expires }}):\n\n"
        "{{ link }}\n\nThe supportops team\n",
        "<p>Hello {{ name or email }},</p>"
        "<p>{{ inviter }} invited you to <b>{{ company }}</b> on supportops as {{ role }}.</p>"
        '<p><a href="{{ link }}">Activate your account</a> (the link works until '
        "{{ expires }}).</p><p>The supportops team</p>",
    ),
    "user.activation_reminder": (
        "Reminder: activate your {{ company }} account on supportops",
        "Hello {{ name or email }},\n\n"
        "your invitation to {{ company }} on supportops is waiting. Activate your account "
        "here (the link works until {{ expires }}; earlier links no longer work):\n\n"
        "{{ link }}\n\nThe supportops team\n",
        "<p>Hello {{ name or email }},</p>"
        "<p>your invitation to <b>{{ company }}</b> on supportops is waiting.</p>"
        '<p><a href="{{ link }}">Activate your account</a> (the link works until '
        "{{ expires }}; earlier links no longer work).</p><p>The supportops team</p>",
    ),
    "tenant.onboarded": (
        "{{ company }} is ready on supportops",
        "Hello {{ name or email }},\n\n"
        "every onboarding step of {{ company }} is done: your team can work in supportops "
        "now.\n\nThe supportops team\n",
        "<p>Hello {{ name or email }},</p><p>every onboarding step of <b>{{ company }}</b> "
        "is done: your team can work in supportops now.</p><p>The supportops team</p>",
    ),
    "access.confirmation_code": (
        "Your supportops confirmation code",
        "Hello,\n\n"
        "support asked to {{ action }} for your account ({{ email }}).\n"
        "If you asked for this, give them this code (valid until {{ expires }}):\n\n"
        "    {{ code }}\n\n"
        "If you did not, ignore this mail: nothing changes without the code.\n\n"
        "The supportops team\n",
        "<p>Hello,</p><p>support asked to {{ action }} for your account ({{ email }}).</p>"
        "<p>If you asked for this, give them this code (valid until {{ expires }}):</p>"
        '<p style="font-size:1.5em;letter-spacing:0.2em"><b>{{ code }}</b></p>'
        "<p>If you did not, ignore this mail: nothing changes without the code.</p>"
        "<p>The supportops team</p>",
    ),
}


def letter(kind: str, values: dict[str, Any]) -> Letter:
    subject, text, html = LETTERS[kind]
    return Letter(
        subject=" ".join(_text.from_string(subject).render(values).split()),
        text=_text.from_string(text).render(values),
        html=_html.from_string(html).render(values),
    )


async def send(
    session: AsyncSession,
    *,
    kind: str,
    to: str,
    content: Letter,
    ref: str,
    tenant_id: str,
) -> str:
    message = build_message(
        sender=mail_of(session).sender,
        to=to,
        subject=content.subject,
        text=content.text,
        html=content.html,
        auto_submitted=True,  # no person wrote it: auto-responders must not answer
    )
    queued = await queue_mail(session, message, kind=kind, ref=ref, tenant_id=tenant_id)
    return queued.message_id


async def mail_invitation(
    session: AsyncSession,
    *,
    tenant: Tenant,
    user: User,
    token: str,
    invited_by: str,
    resend: bool,
) -> str:
    """The activation link to an invited user; a resend is the activation reminder."""
    kind = "user.activation_reminder" if resend else "user.invitation"
    expires = user.invitation_expires_at
    values = {
        "name": user.name,
        "email": user.email,
        "company": tenant.company_name,
        "inviter": invited_by,
        "role": user.role,
        "link": mail_of(session).link(token),
        "expires": expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "it is used",
    }
    return await send(
        session,
        kind=kind,
        to=user.email,
        content=letter(kind, values),
        ref=f"user:{user.id}",
        tenant_id=str(tenant.id),
    )


async def mail_onboarded(session: AsyncSession, *, tenant: Tenant) -> str:
    values = {
        "name": tenant.admin_name,
        "email": tenant.admin_email,
        "company": tenant.company_name,
    }
    return await send(
        session,
        kind="tenant.onboarded",
        to=tenant.admin_email,
        content=letter("tenant.onboarded", values),
        ref=f"tenant:{tenant.id}",
        tenant_id=str(tenant.id),
    )


async def mail_welcome(
    session: AsyncSession, *, tenant: Tenant, to: str, subject: str, text: str
) -> str:
    """The welcome message an operator sent from an approved template (its own text)."""
    return await send(
        session,
        kind="tenant.welcome",
        to=to,
        content=Letter(
            subject=subject, text=text, html=_html.from_string("<pre>{{ t }}</pre>").render(t=text)
        ),
        ref=f"tenant:{tenant.id}",
        tenant_id=str(tenant.id),
    )


async def mail_confirmation_code(
    session: AsyncSession,
    *,
    tenant_id: str,
    request_id: str,
    user_email: str,
    action: str,
    code: str,
    expires: str,
) -> str:
    """The one-time code of an MFA reset, to the user's registered address only."""
    values = {
        "action": action.replace("_", " "),
        "email": user_email,
        "code": code,
        "expires": expires,
    }
    return await send(
        session,
        kind="access.confirmation_code",
        to=user_email,
        content=letter("access.confirmation_code", values),
        ref=f"access_request:{request_id}",
        tenant_id=tenant_id,
    )
