"""Scale: indexes for the bug list's order and filters.

The list is oldest first, keyset-paged on ``(created_at, id)``: each filter gets
``(filter, created_at, id)`` so any page is one index range, never a sort of every
match (100k bugs: by status, by severity, all of them).

Revision ID: 20261206_scale_escalation
Revises: 20261206_bola_known_tenants
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_scale_escalation"
down_revision: str | None = "20261206_bola_known_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_bugs_created": ["created_at", "id"],
    "ix_bugs_status_created": ["status", "created_at", "id"],
    "ix_bugs_severity_created": ["severity", "created_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "bugs", columns)
    op.drop_index("ix_bugs_status", table_name="bugs")


def downgrade() -> None:
    op.create_index("ix_bugs_status", "bugs", ["status"])
    for name in INDEXES:
        op.drop_index(name, table_name="bugs")
