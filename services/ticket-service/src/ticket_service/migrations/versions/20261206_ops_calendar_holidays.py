"""Holidays as data: a calendar may follow a country's public holidays (the ``holidays``
library, refreshed by the scheduler for the current and next year); the default
calendar follows the US federal holidays.

Revision ID: 20261206_ops_holidays
Revises: 20261206_judge_triage_model
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_ops_holidays"
down_revision: str | None = "20261206_judge_triage_model"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "business_calendars", sa.Column("holiday_country", sa.String(length=8), nullable=True)
    )
    op.add_column(
        "business_calendars",
        sa.Column("holidays_refreshed_at", sa.DateTime(timezone=True), nullable=True),
    )
    # the dates themselves arrive with the first scheduler run (seconds after start-up)
    op.execute("UPDATE business_calendars SET holiday_country = 'US' WHERE id = 'default'")


def downgrade() -> None:
    op.drop_column("business_calendars", "holidays_refreshed_at")
    op.drop_column("business_calendars", "holiday_country")
