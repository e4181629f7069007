"""Indexes behind tenant visibility: links by tenant, bugs by affected tenant.

A tenant-scoped caller sees the bugs linked to its tickets or listing it among the
affected tenants (``bugs.repository.affects_tenant``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_bug_links_tenant_id", "bug_links", ["tenant_id", "bug_id"])
    # The expression matches CAST(affected_tenants AS JSONB) @> '["<tenant>"]'.
    op.execute(
        "CREATE INDEX ix_bugs_affected_tenants ON bugs"
        " USING gin ((CAST(affected_tenants AS jsonb)))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_bugs_affected_tenants")
    op.drop_index("ix_bug_links_tenant_id", table_name="bug_links")
