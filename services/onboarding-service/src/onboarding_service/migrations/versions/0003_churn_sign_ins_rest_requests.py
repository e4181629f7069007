"""Churn (reason, scheduled date), failed sign-ins, and where an access request came from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("tenants", sa.Column("churn_reason", sa.String(500), nullable=True))
    op.add_column("tenants", sa.Column("scheduled_churn_at", TZ, nullable=True))
    op.create_index("ix_tenants_scheduled_churn_at", "tenants", ["scheduled_churn_at"])

    op.add_column(
        "users",
        sa.Column("failed_sign_in_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("users", sa.Column("last_failed_sign_in_at", TZ, nullable=True))

    op.add_column(
        "access_requests",
        sa.Column("source", sa.String(16), nullable=False, server_default="command"),
    )
    op.add_column("access_requests", sa.Column("requested_by", sa.String(200), nullable=True))
    op.add_column("access_requests", sa.Column("reason", sa.String(500), nullable=True))


def downgrade() -> None:
    op.drop_column("access_requests", "reason")
    op.drop_column("access_requests", "requested_by")
    op.drop_column("access_requests", "source")
    op.drop_column("users", "last_failed_sign_in_at")
    op.drop_column("users", "failed_sign_in_count")
    op.drop_index("ix_tenants_scheduled_churn_at", table_name="tenants")
    op.drop_column("tenants", "scheduled_churn_at")
    op.drop_column("tenants", "churn_reason")
