"""Approved welcome templates, rendered in a sandbox so a template can never reach Python."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment


class WelcomeTemplate(StrEnum):
    welcome_v1 = "welcome_v1"
    welcome_invoice_v1 = "welcome_invoice_v1"


@dataclass(frozen=True)
class ApprovedTemplate:
    subject: str
    body: str


APPROVED: dict[WelcomeTemplate, ApprovedTemplate] = {
    WelcomeTemplate.welcome_v1: ApprovedTemplate(
        subject="Welcome to supportops, {{ company_name }}",
        body=(
            "Hello {{ admin_name or admin_email }},\n\n"
            "{{ company_name }} is set up on the {{ plan_code }} plan with {{ seats }} seats.\n"
            "Sign in with your {{ domains | join(', ') }} address to invite your team.\n\n"
            "The supportops team"
        ),
    ),
    WelcomeTemplate.welcome_invoice_v1: ApprovedTemplate(
        subject="Welcome to supportops, {{ company_name }}",
        body=(
            "Hello {{ admin_name or admin_email }},\n\n"
            "{{ company_name }} is set up on the {{ plan_code }} plan with {{ seats }} seats.\n"
            "Invoices go to {{ billing_email }} and are due within {{ days_until_due }} days.\n\n"
            "The supportops team"
        ),
    ),
}

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(template: WelcomeTemplate, context: dict[str, Any]) -> tuple[str, str]:
    approved = APPROVED[template]
    subject = _environment.from_string(approved.subject).render(context)
    body = _environment.from_string(approved.body).render(context)
    return subject, body
