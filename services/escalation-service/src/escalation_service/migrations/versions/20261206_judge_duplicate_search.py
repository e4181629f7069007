"""Duplicate detection over the whole report: a weighted full-text document of each bug
(title A; description, steps and actual B) with a GIN index, and the error fingerprints of
the report (hashes of its normalised error messages) with a GIN index; existing bugs are
fingerprinted here.

Revision ID: 20261206_judge_duplicate_search
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from escalation_service.bugs.similarity import error_fingerprints

revision: str = "20261206_judge_duplicate_search"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(summary, '') || ' ' || "
    "coalesce(steps_text, '') || ' ' || coalesce(actual, '')), 'B')"
)


def upgrade() -> None:
    op.add_column(
        "bugs",
        sa.Column("search", postgresql.TSVECTOR(), sa.Computed(SEARCH, persisted=True)),
    )
    op.add_column(
        "bugs",
        sa.Column(
            "error_fingerprints",
            postgresql.ARRAY(sa.String(16)),
            nullable=False,
            server_default="{}",
        ),
    )
    op.create_index("ix_bugs_search", "bugs", ["search"], postgresql_using="gin")
    op.create_index(
        "ix_bugs_error_fingerprints", "bugs", ["error_fingerprints"], postgresql_using="gin"
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, title, summary, actual, steps_text FROM bugs"))
    for row in rows.mappings().all():
        found = error_fingerprints(row["title"], row["summary"], row["actual"], row["steps_text"])
        if found:
            bind.execute(
                sa.text("UPDATE bugs SET error_fingerprints = :f WHERE id = :id"),
                {"f": found, "id": row["id"]},
            )


def downgrade() -> None:
    op.drop_index("ix_bugs_error_fingerprints", table_name="bugs")
    op.drop_index("ix_bugs_search", table_name="bugs")
    op.drop_column("bugs", "error_fingerprints")
    op.drop_column("bugs", "search")
