"""CSAT responses, one per solve of a ticket.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csat_responses",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_csat_responses_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", "solved_at", name=op.f("pk_csat_responses")),
    )
    op.create_index(
        op.f("ix_csat_responses_tenant_id"), "csat_responses", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_csat_responses_tenant_id"), table_name="csat_responses")
    op.drop_table("csat_responses")
