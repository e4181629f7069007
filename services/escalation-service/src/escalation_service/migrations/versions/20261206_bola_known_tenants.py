"""Known tenants: the read model of ``tenant.*`` events a request's ``tenant_id`` is
checked against.

Revision ID: 20261206_bola_known_tenants
Revises: 20261206_judge_duplicate_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_bola_known_tenants"
down_revision: str | None = "20261206_judge_duplicate_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("heard_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Tenants with a subscription were announced by billing after onboarding created
    # them; the others are learnt from the next tenant.* event.
    op.execute(
        "INSERT INTO known_tenants (tenant_id, status, heard_at)"
        " SELECT tenant_id, 'created', updated_at FROM tenant_plans ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_table("known_tenants")
