"""Order-proof Stripe state: the facts announced per invoice, and per-object ordering of
stored Stripe events (the object an event is about, and when a failed one is retried).

Revision ID: 20261206_stripe_ordering
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "20261206_stripe_ordering"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column("facts", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.add_column("stripe_events", sa.Column("object_id", sa.String(255), nullable=True))
    op.add_column(
        "stripe_events", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE stripe_events SET object_id = payload->'data'->'object'->>'id'")
    op.create_index("ix_stripe_events_object_id", "stripe_events", ["object_id"])


def downgrade() -> None:
    op.drop_index("ix_stripe_events_object_id", table_name="stripe_events")
    op.drop_column("stripe_events", "next_attempt_at")
    op.drop_column("stripe_events", "object_id")
    op.drop_column("invoices", "facts")
