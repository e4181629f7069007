"""The tenant's time zone in the account read model (from ``tenant.*`` events): the
resolution clock counts the tenant's business day in it. Empty until the tenant's next
event; an account without one keeps the calendar's zone.

Revision ID: 20261206_tz_account_timezone
Revises: 20261206_email_mail
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_tz_account_timezone"
down_revision: str | None = "20261206_email_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "timezone")
