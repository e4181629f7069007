"""Scale: indexes for the invoice list's order and filters.

The list is oldest first, keyset-paged on ``(created_at, id)``: each filter gets
``(filter, created_at, id)`` so any page is one index range, never a sort of every
match (500k invoices: a tenant's, a subscription's, the open or overdue ones).

Revision ID: 20261206_scale_billing
Revises: 20261206_bola_known_tenants
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_scale_billing"
down_revision: str | None = "20261206_bola_known_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_invoices_created": ["created_at", "id"],
    "ix_invoices_tenant_created": ["tenant_id", "created_at", "id"],
    "ix_invoices_subscription_created": ["subscription_id", "created_at", "id"],
    "ix_invoices_status_created": ["status", "created_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "invoices", columns)
    op.drop_index("ix_invoices_tenant_id", table_name="invoices")


def downgrade() -> None:
    op.create_index("ix_invoices_tenant_id", "invoices", ["tenant_id"])
    for name in INDEXES:
        op.drop_index(name, table_name="invoices")
