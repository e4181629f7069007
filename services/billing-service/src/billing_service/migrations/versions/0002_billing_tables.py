"""Billing tables: plans, subscriptions, invoices, stored Stripe events, renewals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("unit_amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("interval", sa.String(16), nullable=False),
        sa.Column("stripe_product_id", sa.String(255)),
        sa.Column("stripe_price_id", sa.String(255), index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, unique=True),
        sa.Column("company_name", sa.String(200)),
        sa.Column("billing_email", sa.String(320)),
        sa.Column("plan_id", sa.String(36), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("collection_method", sa.String(32), nullable=False),
        sa.Column("days_until_due", sa.Integer),
        sa.Column("trial_days", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("sync_state", sa.String(16), nullable=False, index=True),
        sa.Column("sync_error", sa.Text),
        sa.Column("sync_attempts", sa.Integer, nullable=False),
        sa.Column("next_sync_at", TS),
        sa.Column("stripe_customer_id", sa.String(255), index=True),
        sa.Column("stripe_subscription_id", sa.String(255), index=True),
        sa.Column("stripe_item_id", sa.String(255)),
        sa.Column("current_period_start", TS),
        sa.Column("current_period_end", TS),
        sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
        sa.Column("canceled_at", TS),
        sa.Column("cancel_reason", sa.String(500)),
        sa.Column("ever_activated", sa.Boolean, nullable=False),
        sa.Column("stripe_state_at", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("subscription_id", sa.String(36), sa.ForeignKey("subscriptions.id")),
        sa.Column("stripe_invoice_id", sa.String(255), nullable=False, unique=True),
        sa.Column("number", sa.String(64)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("collection_method", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_due", sa.BigInteger, nullable=False),
        sa.Column("amount_paid", sa.BigInteger, nullable=False),
        sa.Column("amount_remaining", sa.BigInteger, nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False),
        sa.Column("due_date", TS),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("hosted_invoice_url", sa.Text),
        sa.Column("is_renewal", sa.Boolean, nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False),
        sa.Column("overdue_days_reported", sa.Integer, nullable=False),
        sa.Column("followup_cause", sa.String(32)),
        sa.Column("stripe_state_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("processed_at", TS, index=True),
        sa.Column("outcome", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "renewals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column(
            "subscription_id", sa.String(36), sa.ForeignKey("subscriptions.id"), nullable=False
        ),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("invoice_id", sa.String(36)),
        sa.Column("stripe_invoice_id", sa.String(255)),
        sa.Column("issuing_since", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint(
            "subscription_id", "period_start", name="uq_renewals_subscription_period"
        ),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stripe_id", sa.String(255), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("invoice_id", sa.String(36)),
        sa.Column("stripe_charge_id", sa.String(255), index=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("reason", sa.String(500)),
        sa.Column("stripe_state_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("corrections", "renewals", "stripe_events", "invoices", "subscriptions", "plans"):
        op.drop_table(table)
