"""SLA notifications already emitted (one warning and one breach per ticket and metric).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_notifications",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_notifications_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", "metric", "kind", name=op.f("pk_sla_notifications")),
    )


def downgrade() -> None:
    op.drop_table("sla_notifications")
