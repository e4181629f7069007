"""Inbound e-mail messages by Message-ID (dedup and threading).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_inbound_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_inbound_messages")),
    )
    op.create_index(
        op.f("ix_inbound_messages_ticket_id"), "inbound_messages", ["ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_messages_ticket_id"), table_name="inbound_messages")
    op.drop_table("inbound_messages")
