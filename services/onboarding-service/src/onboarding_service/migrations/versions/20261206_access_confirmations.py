"""One-time codes of MFA resets requested by support (hash, expiry, attempts).

Revision ID: 20261206_access_confirmations
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_access_confirmations"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_confirmations",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("attempts_allowed", sa.Integer(), nullable=False),
        sa.Column("attempts_used", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("decided_at", TZ, nullable=True),
    )
    op.create_index("ix_access_confirmations_tenant_id", "access_confirmations", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_access_confirmations_tenant_id", table_name="access_confirmations")
    op.drop_table("access_confirmations")
