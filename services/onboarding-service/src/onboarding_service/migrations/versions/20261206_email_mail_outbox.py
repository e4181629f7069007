"""E-mail: the kit's mail outbox (invitations, reminders, welcome, onboarding complete,
MFA-reset confirmation codes).

Revision ID: 20261206_email_mail_outbox
Revises: 20261206_access_confirmations
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

from servicekit.mail import create_mail_outbox_v1, drop_mail_outbox_v1

revision: str = "20261206_email_mail_outbox"
down_revision: str | None = "20261206_access_confirmations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_mail_outbox_v1(op)


def downgrade() -> None:
    drop_mail_outbox_v1(op)
