"""Known tenants (read model of ``tenant.*``) and the charge that paid each invoice.

Revision ID: 20261206_bola_known_tenants
Revises: 20261206_stripe_ordering
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_bola_known_tenants"
down_revision: str | None = "20261206_stripe_ordering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("heard_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Tenants whose subscription onboarding asked for are real; those of REST requests
    # were never checked and stay unknown until onboarding announces them.
    op.execute(
        "INSERT INTO known_tenants (tenant_id, status, heard_at)"
        " SELECT tenant_id, 'created', created_at FROM subscriptions"
        " WHERE origin = 'tenant.created' ON CONFLICT DO NOTHING"
    )
    op.add_column("invoices", sa.Column("stripe_charge_id", sa.String(255), nullable=True))
    op.create_index("ix_invoices_stripe_charge_id", "invoices", ["stripe_charge_id"])


def downgrade() -> None:
    op.drop_index("ix_invoices_stripe_charge_id", table_name="invoices")
    op.drop_column("invoices", "stripe_charge_id")
    op.drop_table("known_tenants")
