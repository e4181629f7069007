"""Seed the default triage rules and the approved automatic-reply templates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4b7a-9d0e-5a0c2b7e9f10")


def _rule(
    position: int,
    name: str,
    *,
    category: str,
    subcategory: str | None = None,
    queue: str = "support",
    priority: str | None = None,
    keywords: list[str] | None = None,
    patterns: list[str] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(SEED_NAMESPACE, name),
        "name": name,
        "position": position,
        "enabled": True,
        "version": 1,
        "conditions": {
            "channels": [],
            "keywords": keywords or [],
            "patterns": patterns or [],
            "requester_domains": [],
            "plan_tiers": [],
        },
        "actions": {
            "category": category,
            "subcategory": subcategory,
            "priority": priority,
            "queue": queue,
            "tags": tags or [category],
        },
    }


# Order matters: the first matching rule wins, so the narrow access rules come before
# the broad login rule, and bugs before generic "how do I" questions.
DEFAULT_RULES = [
    _rule(
        10,
        "access: MFA",
        category="access",
        subcategory="mfa",
        queue="access",
        priority="high",
        keywords=["mfa", "2fa", "two-factor", "two factor", "authenticator", "one-time code"],
        tags=["access", "mfa"],
    ),
    _rule(
        20,
        "access: activation",
        category="access",
        subcategory="activation",
        queue="access",
        keywords=["activation", "activation link", "invitation", "invite link", "welcome email"],
        tags=["access", "activation"],
    ),
    _rule(
        30,
        "access: inactive account",
        category="access",
        subcategory="inactive",
        queue="access",
        priority="high",
        keywords=["deactivated", "inactive", "account disabled", "disabled account"],
        tags=["access", "inactive"],
    ),
    _rule(
        40,
        "access: login",
        category="access",
        subcategory="login",
        queue="access",
        priority="high",
        keywords=["locked out", "password", "sign in", "sign-in", "login", "log in", "logon"],
        tags=["access", "login"],
    ),
    _rule(
        50,
        "billing",
        category="billing",
        queue="billing",
        keywords=["invoice", "payment", "charged", "charge", "refund", "receipt", "credit card"],
    ),
    _rule(
        60,
        "subscription",
        category="subscription",
        queue="billing",
        keywords=["subscription", "seats", "upgrade", "downgrade", "cancel", "renewal", "plan"],
    ),
    _rule(
        70,
        "compliance guidance",
        category="compliance_guidance",
        queue="compliance",
        keywords=["gdpr", "soc 2", "soc2", "hipaa", "compliance", "dpa", "iso 27001"],
    ),
    _rule(
        80,
        "sales",
        category="sales",
        queue="sales",
        keywords=["pricing", "quote", "demo", "purchase", "discount", "trial extension"],
    ),
    _rule(
        90,
        "onboarding",
        category="onboarding",
        queue="onboarding",
        keywords=["onboarding", "getting started", "set up", "setup", "import data"],
    ),
    _rule(
        100,
        "potential bug",
        category="potential_bug",
        queue="support",
        priority="high",
        # any one of these suffices, so they are all patterns (conditions are AND-ed)
        patterns=[
            r"\bbug\b",
            r"\bcrash",
            r"\bbroken\b",
            r"not working",
            r"does(?:n'?t| not) work",
            r"\berror\b",
            r"\b50[0-4]\b",
            r"exception",
        ],
        tags=["potential_bug"],
    ),
    _rule(
        110,
        "feature request",
        category="feature_request",
        queue="product",
        priority="low",
        keywords=["feature request", "would be great", "would be nice", "please add", "wish"],
    ),
    _rule(
        120,
        "platform question",
        category="platform_question",
        queue="support",
        keywords=["how do i", "how to", "how can i", "where can i", "is it possible"],
    ),
    _rule(1000, "other (catch-all)", category="other", queue="support", tags=[]),
]

APPROVED_TEMPLATES = [
    {
        "key": "access_action_completed",
        "title": "Access action completed",
        "variables": ["requester_name", "action_label", "user_email"],
        "body": (
            "Hello {{ requester_name }},\n\n"
            "we have completed the {{ action_label }} for {{ user_email }}. "
            "You can sign in again now; if anything still does not work, just reply to "
            "this message.\n\nKind regards,\nCustomer Support"
        ),
    },
    {
        "key": "bug_fixed",
        "title": "The reported problem is fixed",
        "variables": ["requester_name", "bug_key", "bug_title", "fixed_in_version"],
        "body": (
            "Hello {{ requester_name }},\n\n"
            "good news: the problem you reported ({{ bug_key }}: {{ bug_title }}) has "
            "been fixed{% if fixed_in_version %} in version {{ fixed_in_version }}{% endif %}. "
            "If you still see it, reply to this message and we will look again.\n\n"
            "Kind regards,\nCustomer Support"
        ),
    },
]


def upgrade() -> None:
    rules = sa.table(
        "triage_rules",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("position", sa.Integer()),
        sa.column("enabled", sa.Boolean()),
        sa.column("version", sa.Integer()),
        sa.column("conditions", postgresql.JSONB()),
        sa.column("actions", postgresql.JSONB()),
    )
    op.bulk_insert(rules, DEFAULT_RULES)
    templates = sa.table(
        "templates",
        sa.column("id", sa.Uuid()),
        sa.column("key", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("title", sa.String()),
        sa.column("body", sa.Text()),
        sa.column("variables", postgresql.ARRAY(sa.String())),
        sa.column("approved", sa.Boolean()),
    )
    op.bulk_insert(
        templates,
        [
            {
                **t,
                "id": uuid.uuid5(SEED_NAMESPACE, "template:" + t["key"]),
                "version": 1,
                "approved": True,
            }
            for t in APPROVED_TEMPLATES
        ],
    )


def downgrade() -> None:
    names = [r["name"] for r in DEFAULT_RULES]
    op.execute(sa.text("DELETE FROM triage_rules WHERE name = ANY(:names)").bindparams(names=names))
    keys = [t["key"] for t in APPROVED_TEMPLATES]
    op.execute(
        sa.text("DELETE FROM templates WHERE key = ANY(:keys) AND version = 1").bindparams(
            keys=keys
        )
    )
