"""Archived plans, subscriptions that need a person, scheduled downgrades, one
cancellation announcement, invoice versions (ETag) and renewal follow-ups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("plans", sa.Column("archived_at", TS))
    op.add_column(
        "plans",
        sa.Column("stripe_price_active", sa.Boolean, nullable=False, server_default=sa.true()),
    )

    op.alter_column("subscriptions", "plan_id", existing_type=sa.String(36), nullable=True)
    op.add_column("subscriptions", sa.Column("requested_plan_code", sa.String(64)))
    op.add_column("subscriptions", sa.Column("attention_reason", sa.String(32)))
    op.add_column("subscriptions", sa.Column("attention_detail", sa.Text))
    op.add_column(
        "subscriptions",
        sa.Column("origin", sa.String(16), nullable=False, server_default="rest"),
    )
    op.add_column("subscriptions", sa.Column("followup_cause", sa.String(32)))
    op.add_column(
        "subscriptions",
        sa.Column("intent_seq", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column("subscriptions", sa.Column("cancel_announced_at", TS))
    op.add_column(
        "subscriptions",
        sa.Column("pending_plan_id", sa.String(36), sa.ForeignKey("plans.id")),
    )
    op.add_column("subscriptions", sa.Column("pending_seats", sa.Integer))
    op.add_column("subscriptions", sa.Column("pending_change_at", TS))
    op.add_column("subscriptions", sa.Column("stripe_schedule_id", sa.String(255)))

    op.add_column("invoices", sa.Column("version", sa.Integer, nullable=False, server_default="1"))

    op.add_column("renewals", sa.Column("followup_reason", sa.String(64)))


def downgrade() -> None:
    op.drop_column("renewals", "followup_reason")
    op.drop_column("invoices", "version")
    for column in (
        "stripe_schedule_id",
        "pending_change_at",
        "pending_seats",
        "pending_plan_id",
        "cancel_announced_at",
        "intent_seq",
        "followup_cause",
        "origin",
        "attention_detail",
        "attention_reason",
        "requested_plan_code",
    ):
        op.drop_column("subscriptions", column)
    op.alter_column("subscriptions", "plan_id", existing_type=sa.String(36), nullable=False)
    op.drop_column("plans", "stripe_price_active")
    op.drop_column("plans", "archived_at")
