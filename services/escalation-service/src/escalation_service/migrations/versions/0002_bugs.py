"""Bugs, their links, history and reproductions; ticket and tenant read models.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Duplicate detection ranks open bugs by trigram similarity.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "bugs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("number", sa.BigInteger(), sa.Identity(), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("steps_text", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("actual", sa.Text(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("affected_tenants", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("fixed_in_version", sa.String(64), nullable=True),
        sa.Column("duplicate_of_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=True),
        sa.Column("external_issue_key", sa.String(64), nullable=True),
        sa.Column("completeness_score", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("reproduced_at", TZ, nullable=True),
        sa.Column("escalated_at", TZ, nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
    )
    op.execute("CREATE INDEX ix_bugs_title_trgm ON bugs USING gin (title gin_trgm_ops)")
    op.create_table(
        "bug_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False, unique=True),
        sa.Column("bug_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=False, index=True),
        sa.Column("ticket_id", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("is_duplicate", sa.Boolean(), nullable=False),
        sa.Column("linked_at", TZ, nullable=False),
    )
    op.create_table(
        "bug_history",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False, unique=True),
        sa.Column("bug_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=False, index=True),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(200), nullable=True),
        sa.Column("origin_bug_key", sa.String(32), nullable=True),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "reproductions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("bug_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=False, index=True),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("steps_followed", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=True),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_table(
        "ticket_views",
        sa.Column("ticket_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(32), nullable=True),
        sa.Column("sla_state", sa.String(16), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "tenant_plans",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("plan_tier", sa.String(32), nullable=False),
        sa.Column("subscription_status", sa.String(32), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "tenant_plans",
        "ticket_views",
        "reproductions",
        "bug_history",
        "bug_links",
        "bugs",
    ):
        op.drop_table(table)
