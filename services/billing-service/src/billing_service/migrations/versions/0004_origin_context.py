"""Correlation and trace context stored with deferred work (subscription intents, Stripe
events), so the worker that finishes it continues the origin's trace.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("origin_context", JSONB(), nullable=True))
    op.add_column("stripe_events", sa.Column("origin_context", JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("stripe_events", "origin_context")
    op.drop_column("subscriptions", "origin_context")
