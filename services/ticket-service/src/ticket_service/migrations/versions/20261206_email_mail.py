"""E-mail: the kit's mail outbox, our outbound Message-IDs, attachments (and the
PostgreSQL attachment store's bytes), inbound mail not taken in (loop protection).

Revision ID: 20261206_email_mail
Revises: 20261206_scale
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.mail import create_mail_outbox_v1, drop_mail_outbox_v1

revision: str = "20261206_email_mail"
down_revision: str | None = "20261206_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_mail_outbox_v1(op)
    op.create_table(
        "outbound_mail",
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_outbound_mail"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_outbound_mail_ticket_id_tickets"
        ),
    )
    op.create_index("ix_outbound_mail_ticket_id", "outbound_mail", ["ticket_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_attachments_ticket_id_tickets"
        ),
    )
    op.create_index("ix_attachments_ticket_id", "attachments", ["ticket_id"])
    op.create_table(
        "attachment_blobs",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_attachment_blobs"),
    )
    op.create_table(
        "ignored_inbound_mail",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ignored_inbound_mail"),
    )


def downgrade() -> None:
    op.drop_table("ignored_inbound_mail")
    op.drop_table("attachment_blobs")
    op.drop_table("attachments")
    op.drop_table("outbound_mail")
    drop_mail_outbox_v1(op)
