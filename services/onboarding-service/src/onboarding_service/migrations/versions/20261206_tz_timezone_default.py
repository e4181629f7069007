"""The tenant's time zone now counts (the resolution clock of its tickets runs on its
business day) and its default is support's zone, America/New_York. Tenants created
before stored the old default, ``UTC``, without anyone choosing it: they move to
America/New_York so their deadlines stay what they were (a tenant that truly wants UTC
sets it again with a PATCH).

Revision ID: 20261206_tz_timezone_default
Revises: 20261206_email_mail_outbox
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_tz_timezone_default"
down_revision: str | None = "20261206_email_mail_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE tenants
        SET configuration = jsonb_set(
            coalesce(configuration, '{}'::jsonb), '{timezone}', '"America/New_York"'
        )
        WHERE configuration IS NULL
           OR NOT configuration ? 'timezone'
           OR configuration ->> 'timezone' = 'UTC'
        """
    )


def downgrade() -> None:
    # which tenants had the old default cannot be told apart any more: the zones stay
    pass
